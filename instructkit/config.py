"""Typed parameters from YAML files and ``--set key=value`` overrides.

Every stage declares its knobs once, as a keyword-only dataclass with documented defaults. YAML is
read with ``yaml.SafeLoader`` only, with alias expansion bounded (:func:`safe_load`). An unknown key is
an error that lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from instructkit.errors import ConfigError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping safely; errors name the file and line."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc.reason}", file=str(path)) from None
    try:
        data = safe_load(text, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"invalid YAML: {getattr(exc, 'problem', exc)}", file=str(path), line=mark.line + 1 if mark else None
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of key: value, got {type(data).__name__}", file=str(path))
    return data


MAX_EXPANDED_NODES = 100_000  # a 300-line config has ~1k nodes; a 9x9 alias bomb has ~400 million


def safe_load(text: str, source: str) -> Any:
    """``yaml.safe_load`` that refuses an alias bomb before building it.

    Aliases are cheap to parse (one shared object) but expand when anything walks the data (a copy,
    ``str()``, JSON for a manifest): nine levels of nine aliases are 9**9 nodes, and the process runs
    out of memory. The composed node graph is sized as if expanded (memoised, so the count itself is
    linear) and refused past :data:`MAX_EXPANDED_NODES`; a recursive alias is refused too.

    Raises:
        ConfigError: naming ``source`` (a file, or ``--set KEY``).
        yaml.YAMLError: invalid YAML (the caller names the line).
    """
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, set(), source) > MAX_EXPANDED_NODES:
            raise ConfigError(
                f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes (an alias bomb?)",
                file=source,
                hint="write the values out, or use fewer nested aliases (*name)",
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(node: Any, sizes: dict[int, int], active: set[int], source: str) -> int:
    import yaml

    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise ConfigError("recursive YAML alias (a value that contains itself)", file=source, hint="remove the cycle")
    active.add(key)
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, active, source)
        if total > MAX_EXPANDED_NODES:  # stop counting early: 9**9 would still be a big int to reach
            break
    active.discard(key)
    sizes[key] = total
    return total


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["a.b=1", "lr=3e-4"]`` -> ``{"a.b": 1, "lr": 0.0003}``; values are parsed as YAML scalars."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is not key=value", hint="for example: --set learning_rate=1e-5")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = safe_load(value, f"--set {key.strip()}") if value.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def _coerce(value: Any, tp: Any, key: str, source: str | None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key, source)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if errors else ConfigError(f"bad value for {key!r}: {value!r}", file=source)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{key!r} must be true or false, got {value!r}", file=source)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{key!r} must be an integer, got {value!r}", file=source)
        try:
            f = float(value)
        except ValueError:
            raise ConfigError(f"{key!r} must be an integer, got {value!r}", file=source) from None
        if f != int(f):
            raise ConfigError(f"{key!r} must be an integer, got {value!r}", file=source)
        return int(f)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key!r} must be a number, got {value!r}", file=source)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key!r} must be a number, got {value!r}", file=source) from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key!r} must be a string, got {value!r}", file=source)
        return str(value)
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key!r} must be a list, got {value!r}", file=source)
        inner = args[0] if args else Any
        return [_coerce(v, inner, key, source) for v in value]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key!r} must be a mapping, got {value!r}", file=source)
        return dict(value)
    if typing.get_origin(tp) is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key!r} must be one of {', '.join(map(str, args))}, got {value!r}", file=source)
        return value
    return value


def build(
    cls: type[T], values: dict[str, Any] | None = None, *, source: str | None = None, what: str | None = None
) -> T:
    """Build the dataclass ``cls`` from a mapping, checking keys and coercing types.

    Args:
        cls: A dataclass whose fields are the valid keys.
        values: Key/value pairs (from YAML, --set, or flags). ``None`` values keep the default.
        source: The file the values came from, named in error messages.
        what: What is being configured, for messages ("filter rule 'length'").

    Raises:
        ConfigError: for an unknown key (listing the valid ones) or a value of the wrong type.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in (values or {}).items():
        if key not in fields:
            raise ConfigError(
                f"unknown key {key!r}" + (f" for {what}" if what else ""),
                file=source,
                hint=f"valid keys: {', '.join(sorted(fields))}",
            )
        if value is None and type(None) not in typing.get_args(hints[key]):
            continue
        kwargs[key] = _coerce(value, hints[key], key, source)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), file=source) from None
    return obj


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """``(name, type, default, help)`` for every field, for ``--list`` style output.

    Help text comes from ``field(metadata={"help": ...})``.
    """
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = "(required)"
        tp = getattr(hints[f.name], "__name__", None) or str(hints[f.name]).replace("typing.", "")
        rows.append((f.name, tp, default, f.metadata.get("help", "")))
    return rows


def to_dict(obj: Any) -> dict:
    """A dataclass as a plain JSON-ready dict (for manifests)."""
    return dataclasses.asdict(obj)
