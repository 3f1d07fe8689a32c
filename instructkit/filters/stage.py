"""The ``filter`` stage: its Params, ``run`` and ``--list`` (registered in ``instructkit/stages.py``).

The YAML config of ``--config`` holds the Params keys; its ``rules:`` list is the ``rules`` field, so
``recipes/filters.yaml`` is a valid config as it stands. ``--set RULE.KEY=VALUE`` (a dotted key) sets
one parameter of the first rule of that name, adding the rule when the list lacks it; ``--lang`` (the
``lang`` key) sets the language rule's ``langs``, putting the rule first when the list lacks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from instructkit.params import Executor, SetOutput, Workers
from instructkit.registry import Result


def _effective_rules(
    rules: list | None, *, sets: dict[str, Any] | None, langs: list[str] | None, source: str | None
) -> list[dict]:
    """The rule list with overrides applied and every rule's params resolved (defaults filled in)."""
    from instructkit import filters

    spec = filters.parse({"rules": rules} if rules is not None else {}, source=source)
    spec = filters.override(spec, sets=sets, langs=langs)
    return filters.effective(filters.resolve(spec, source=source))["rules"]


def _as_list(value: Any) -> Any:
    if isinstance(value, str):
        return [x.strip() for x in value.split(",") if x.strip()]
    return value


@dataclass(kw_only=True)
class FilterParams(SetOutput, Workers, Executor):
    """Every knob of ``instructkit filter`` (YAML keys, ``--set`` keys and flags)."""

    rules: list[Any] | None = field(
        default=None,
        metadata={
            "help": "Rules applied in order, [{NAME: {PARAM: VALUE}}] (YAML rules:); default: language, defects, "
            "length, repetition, pii. See instructkit filter --list",
            "cli": False,
        },
    )
    lang: list[str] | None = field(
        default=None,
        metadata={
            "help": "Languages to keep, ISO 639-1 codes (e.g. en,zh); sets the language rule's langs and adds "
            "the rule if the config lacks it"
        },
    )
    config_file: str | None = field(
        default=None,
        metadata={"help": "The --config file, recorded in the manifest (set automatically)", "cli": False},
    )

    @staticmethod
    def prepare_values(values: dict[str, Any], source: str | None) -> dict[str, Any]:
        """Fold ``RULE.KEY`` keys (from ``--set``) and ``lang`` into the resolved ``rules`` list."""
        values = dict(values)
        sets = {k: values.pop(k) for k in [k for k in values if "." in k]}
        if values.get("lang") is not None:
            values["lang"] = _as_list(values["lang"])
        values["rules"] = _effective_rules(values.get("rules"), sets=sets, langs=values.get("lang"), source=source)
        if source is not None and values.get("config_file") is None:
            values["config_file"] = source
        return values

    def __post_init__(self) -> None:
        # Idempotent on a list prepare_values resolved; fills in the default rules when built directly.
        self.rules = _effective_rules(self.rules, sets=None, langs=self.lang, source=self.config_file)
        super().__post_init__()


def run(inputs: list[str], out: Path, p: FilterParams) -> Result:
    """Apply the rules to the set ``inputs[0]``; kept records and ``rejected/`` go under ``out``."""
    from instructkit import filters
    from instructkit.filters.model_based import uses_models
    from instructkit.shards import ShardSet, ShardWriter
    from instructkit.stage import apply

    config = {"rules": p.rules}
    factory = partial(filters.build_chain, config)
    actors = p.executor == "ray" and uses_models(p.rules)  # the models load in the actors, not here
    if not actors:
        factory()  # build once here: a missing model or tokenizer fails now, with one line, not in a worker
    data = ShardSet(inputs[0])
    names = [next(iter(r)) for r in p.rules]
    with ShardWriter(
        out,
        stage="filter",
        params={**config, "config": p.config_file},
        inputs=[data],
        **p.writer_options(),
    ) as writer:
        if p.executor == "local":
            apply(data, factory, writer, workers=p.workers, total=len(data), description="filter")
        else:
            from instructkit.executors import apply_chunks

            apply_chunks(
                data,
                factory,
                writer,
                executor=p.executor,
                workers=p.workers,
                address=p.ray_address,
                description="filter",
                actors=actors,
                gpus=p.ray_gpus_per_actor,
            )
        writer.stats["rules"] = names
    return Result(writer.path, writer.manifest, {"rules": ", ".join(names)})


def _short(value: object, limit: int = 110) -> str:
    text = repr(value)
    if len(text) <= limit:
        return text
    n = len(value) if isinstance(value, (list, dict)) else 0
    return text[:limit] + f"... ({n} items)" if n else text[:limit] + "..."


def print_rules() -> None:
    """``filter --list``: plain text on stdout (greppable, no wrapping): rule, summary, each parameter."""
    from instructkit.filters import listing

    for name, summary, params in listing():
        print(f"{name}: {summary}")
        for pname, ptype, default, help_ in params:
            print(f"  {pname} ({ptype}) = {_short(default)}")
            if help_:
                print(f"      {help_}")
        print()
    print("Use a rule in YAML as  rules: [{NAME: {PARAM: VALUE}}]  or override with  --set NAME.PARAM=VALUE")
