"""``filter``: rules that keep or drop records, each drop explained. One module per rule family.

A rule is a ``Filter`` (``check(record) -> None | Drop``, never mutates) or a ``Mapper`` (rewrites, never
drops), registered with ``stage.register("filter", NAME)`` and configured by a keyword-only ``Params``
dataclass. A rule class may define ``chain(params) -> list[Operator]`` when one YAML entry expands to
several operators (the language filter is followed by the mapper that tags ``meta.lang``; ``pii`` with
``action: mask`` is a mapper instead of a filter).

The configuration is a YAML mapping with one key, ``rules``, a list applied in order (the first rule
that drops a record is the one counted, so the order is the funnel)::

    rules:
      - language: {langs: [en, zh]}
      - length: {unit: words, max: {assistant: 2000}}
      - defects: {}

Adding a rule family: write ``instructkit/filters/NAME.py`` with a registered class; it is discovered.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pkgutil
from typing import Any

from instructkit.config import build, describe
from instructkit.errors import ConfigError
from instructkit.stage import REGISTRY, Operator

FAMILY = "filter"
_NOT_RULES = {"stage"}  # the stage driver (Params, run), not a rule family
TOP_KEYS = ("rules",)

# The built-in default, used when no --config is given; recipes/filters.yaml spells out the same list
# (a test keeps them equal). Model-based rules are opt-in: they need a model directory.
DEFAULT_RULES: list[dict[str, dict]] = [
    {"language": {"langs": []}},
    {"defects": {}},
    {"length": {"unit": "words", "min": {"assistant": 1}, "max": {"user": 4000, "assistant": 4000}}},
    {"repetition": {}},
    {"pii": {"action": "drop"}},
]


def rules() -> dict[str, type[Operator]]:
    """Every registered filter rule, by name (imports each module of this package once)."""
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name not in _NOT_RULES:
            importlib.import_module(f"{__name__}.{mod.name}")
    return dict(REGISTRY.get(FAMILY, {}))


def _rule_class(name: str, source: str | None) -> type[Operator]:
    known = rules()
    if name not in known:
        raise ConfigError(
            f"unknown filter rule {name!r}",
            file=source,
            hint=f"valid rules: {', '.join(sorted(known))}; see instructkit filter --list",
        )
    return known[name]


def parse(config: dict | None, *, source: str | None = None) -> list[tuple[str, dict]]:
    """A config mapping -> ``[(rule name, raw params), ...]``, checking its shape.

    Each item of ``rules`` is ``{name: {params}}``, ``{name: null}`` or just ``name``.
    """
    config = config or {}
    for key in config:
        if key not in TOP_KEYS:
            raise ConfigError(
                f"unknown key {key!r} in the filter config", file=source, hint=f"valid keys: {', '.join(TOP_KEYS)}"
            )
    items = config.get("rules")
    if items is None:
        items = DEFAULT_RULES
    if not isinstance(items, list):
        raise ConfigError(
            "'rules' must be a list of {rule: {params}}",
            file=source,
            hint="for example: rules: [{length: {max: {assistant: 2000}}}]",
        )
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, params = next(iter(item.items()))
            params = params or {}
        else:
            raise ConfigError(
                f"rules[{i}] must be a rule name or a one-key mapping {{rule: {{params}}}}, got {item!r}", file=source
            )
        if not isinstance(params, dict):
            raise ConfigError(f"rules[{i}] ({name}): parameters must be a mapping, got {params!r}", file=source)
        _rule_class(str(name), source)
        out.append((str(name), copy.deepcopy(params)))
    return out


def override(
    spec: list[tuple[str, dict]], *, sets: dict[str, Any] | None = None, langs: list[str] | None = None
) -> list[tuple[str, dict]]:
    """Apply ``--set RULE.KEY=VALUE`` (to the first rule of that name; a missing rule is appended) and
    ``--lang`` (the language rule's ``langs``; the rule is put first when the config lacks it)."""
    spec = [(n, dict(p)) for n, p in spec]
    for dotted, value in (sets or {}).items():
        if "." not in dotted:
            raise ConfigError(
                f"--set {dotted}={value}: expected RULE.KEY=VALUE",
                hint="for example: --set length.unit=chars or --set language.min_confidence=0.8",
            )
        name, key = dotted.split(".", 1)
        _rule_class(name, None)
        target = next((p for n, p in spec if n == name), None)
        if target is None:
            target = {}
            spec.append((name, target))
        target[key] = value
    if langs is not None:
        target = next((p for n, p in spec if n == "language"), None)
        if target is None:
            target = {}
            spec.insert(0, ("language", target))
        target["langs"] = langs
    return spec


def resolve(spec: list[tuple[str, dict]], *, source: str | None = None) -> list[tuple[str, Any]]:
    """Build each rule's ``Params`` (unknown keys and bad types raise ConfigError listing valid keys)."""
    out = []
    for name, raw in spec:
        cls = _rule_class(name, source)
        params = build(cls.Params, raw, source=source, what=f"filter rule {name!r}") if cls.Params else None
        check = getattr(cls, "validate", None)
        if check is not None:
            check(params)
        out.append((name, params))
    return out


def effective(resolved: list[tuple[str, Any]]) -> dict:
    """The resolved config as plain data (for the manifest and for worker processes)."""
    return {"rules": [{name: dataclasses.asdict(p) if p is not None else {}} for name, p in resolved]}


def build_chain(config: dict) -> list[Operator]:
    """The operator chain for an effective config (module-level and picklable via functools.partial)."""
    ops: list[Operator] = []
    for name, params in resolve(parse(config)):
        cls = _rule_class(name, None)
        make = getattr(cls, "chain", None)
        ops.extend(make(params) if make else [cls(params)])
    return ops


def listing() -> list[tuple[str, str, list[tuple[str, str, Any, str]]]]:
    """``(rule, summary, [(param, type, default, help)])`` for every rule (``filter --list``)."""
    out = []
    for name, cls in sorted(rules().items()):
        doc = (cls.__doc__ or "").strip().splitlines()
        out.append((name, doc[0] if doc else "", describe(cls.Params) if cls.Params else []))
    return out
