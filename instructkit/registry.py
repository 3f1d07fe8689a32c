"""The stage registry: one declaration per stage, and the one way to run a stage.

Every stage (ingest, dedupe, filter, ...) is declared once, in ``instructkit/stages.py``, as a
``StageSpec``: its name, its Params dataclass and its ``run(inputs, out, params) -> Result``
function. The command line (``cli/stagecmd.py``), ``--config`` YAML, ``--set``, recipes and the
Python API (``instructkit.dedupe(...)``) are all built from, or go through, that declaration:

- the dataclass field name is the key everywhere (``--set max_steps=4``, recipe ``max_steps: 4``,
  YAML ``max_steps: 4``); a hyphenated spelling (``max-steps``) is the same key;
- precedence is the same for every stage: defaults < ``--config`` < ``--set`` < explicit flags
  (recipe params and Python keyword arguments count as flags).

Specs name their Params class and run function as ``"module:attr"`` strings, imported on first
use, so ``instructkit --help`` and the data stages never import torch for a training stage.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError


@dataclass
class Result:
    """What a stage returns: the written set version or directory, its manifest, summary rows.

    Attributes:
        path: The version directory (``.../v0003``) or model / report / tasks directory written.
        manifest: The manifest written with it (``{}`` where the stage writes none).
        summary: Extra rows for the end-of-stage table (``{"clusters": "12"}``); the CLI prints them.
    """

    path: Path
    manifest: dict = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """An eager flag that prints something and exits instead of running (``filter --list``)."""

    flag: str
    help: str
    target: str  # "module:function", called with no arguments


@dataclass(frozen=True)
class StageSpec:
    """The one declaration of a stage.

    Attributes:
        name: Subcommand and recipe ``run:`` name.
        params: ``"module:Class"`` of the Params dataclass (keyword-only, documented fields).
        run: ``"module:function"``, called as ``run(inputs: list[str], out: Path, params) -> Result``.
        help: Command help: what it does, then ``Example:`` lines.
        inputs: ``"many"`` (at least one), ``"one"``, ``"any"`` (zero or more: annotate-import, whose
            export may come from a server instead) or ``"none"``.
        inputs_flag: When set (``"--data"``), inputs are a repeatable option instead of arguments.
        inputs_help: Help of the inputs argument.
        output: ``"set"`` (a versioned shard-set parent) or ``"dir"`` (model, report, tasks directory).
        output_positional: ``OUT`` is an argument instead of ``-o``.
        params_for: ``"module:function"`` mapping the merged values to the Params class to build,
            for stages whose knobs depend on one of them (rlhf: the algorithm). The CLI's flags come
            from ``params``, which every such class extends.
        isolate: Recipes run it in a child process (training: memory is returned to the OS after).
        actions: Eager flags (``--list``) that print and exit.
    """

    name: str
    params: str
    run: str
    help: str
    inputs: str = "many"
    inputs_flag: str | None = None
    inputs_help: str = "Input shard sets (a vNNNN dir or its parent)."
    output: str = "set"
    output_positional: bool = False
    params_for: str | None = None
    isolate: bool = False
    actions: tuple[Action, ...] = ()

    def params_class(self, values: dict[str, Any] | None = None) -> type:
        """The Params dataclass; with ``values``, the one ``params_for`` picks for them."""
        if self.params_for is not None and values is not None:
            return resolve_target(self.params_for)(values)
        return resolve_target(self.params)

    def run_function(self) -> Callable[..., Result]:
        return resolve_target(self.run)


STAGES: dict[str, StageSpec] = {}


def register_stage(spec: StageSpec) -> StageSpec:
    """Add a stage to the registry (one call per stage, in ``instructkit/stages.py``)."""
    if spec.name in STAGES:
        raise ValueError(f"stage {spec.name!r} is registered twice")
    STAGES[spec.name] = spec
    return spec


def stages() -> dict[str, StageSpec]:
    """Every registered stage by name."""
    import instructkit.stages  # noqa: F401  (registers them)

    return STAGES


def get(name: str) -> StageSpec:
    """The stage registered as ``name``; a ConfigError lists the valid names."""
    known = stages()
    if name not in known:
        raise ConfigError(f"unknown stage {name!r}", hint=f"stages: {', '.join(known)}")
    return known[name]


def resolve_target(target: str) -> Any:
    """``"package.module:attr"`` -> the attribute (imported now)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


# --- values and precedence -------------------------------------------------------------------


def normalize_keys(values: dict[str, Any] | None) -> dict[str, Any]:
    """``max-steps`` and ``max_steps`` are the same key (the dataclass field name)."""
    return {str(k).replace("-", "_"): v for k, v in (values or {}).items()}


def required_fields(cls: type) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
    ]


def build_params(
    spec: StageSpec,
    *,
    config: str | Path | None = None,
    sets: dict[str, Any] | None = None,
    flags: dict[str, Any] | None = None,
) -> Any:
    """The stage's Params from defaults < ``config`` YAML < ``sets`` < ``flags``.

    ``flags`` holds explicit values (CLI flags given, recipe params, Python keyword arguments);
    ``None`` in ``flags`` means "not given". Raises ConfigError naming the key and listing the valid
    ones, or naming a missing required key and the flag that sets it.
    """
    from instructkit.config import build, load_yaml

    source = str(config) if config else None
    merged: dict[str, Any] = normalize_keys(load_yaml(config)) if config else {}
    merged.update(normalize_keys(sets))
    merged.update({k: v for k, v in normalize_keys(flags).items() if v is not None})
    cls = spec.params_class(merged)
    prepare = getattr(cls, "prepare_values", None)
    if prepare is not None:
        merged = prepare(merged, source)
    missing = [name for name in required_fields(cls) if merged.get(name) is None]
    if missing:
        name = missing[0]
        raise ConfigError(
            f"{spec.name} needs {name!r}",
            file=source,
            hint=f"pass --{name.replace('_', '-')} VALUE (or {name}: VALUE in --config / a recipe's params)",
        )
    return build(cls, merged, source=source, what=spec.name)


def run_stage(
    name: str,
    inputs: list[str | Path] | str | Path | None,
    out: str | Path | None,
    *,
    config: str | Path | None = None,
    sets: dict[str, Any] | None = None,
    flags: dict[str, Any] | None = None,
) -> Result:
    """Build the stage's params (see ``build_params``) and run it: the one way every caller runs a stage."""
    spec = get(name)
    if inputs is None:
        inputs = []
    elif isinstance(inputs, (str, Path)):
        inputs = [inputs]
    inputs = [str(i) for i in inputs]
    if spec.inputs == "one" and len(inputs) != 1:
        raise ConfigError(f"{name} takes exactly one input, got {len(inputs)}", hint=_usage(spec))
    if spec.inputs == "many" and not inputs:
        raise ConfigError(f"{name} needs at least one input", hint=_usage(spec))
    if out is None:
        raise ConfigError(f"{name} needs an output", hint=_usage(spec))
    params = build_params(spec, config=config, sets=sets, flags=flags)
    result = spec.run_function()(inputs, Path(out), params)
    if not isinstance(result, Result):  # pragma: no cover - a stage author's mistake
        raise TypeError(f"stage {name!r} returned {type(result).__name__}, not Result")
    return result


def _usage(spec: StageSpec) -> str:
    ins = "" if spec.inputs == "none" else (f" {spec.inputs_flag} IN" if spec.inputs_flag else " IN")
    if spec.inputs == "many":
        ins += "..."
    out = " OUT" if spec.output_positional else " -o OUT"
    return f"usage: instructkit {spec.name}{ins}{out} [options]"


def field_type(tp: Any) -> Any:
    """``int | None`` -> ``int``; other types unchanged."""
    if typing.get_origin(tp) in (typing.Union, __import__("types").UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp
