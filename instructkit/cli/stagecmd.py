"""Typer commands generated from the stage registry: one option per Params field.

A field ``max_steps: int | None = field(metadata={"help": ..., "flags": ("--steps",)})`` becomes
``--max-steps`` (plus its aliases) with that help and its default shown. Booleans get
``--x/--no-x``; list fields are repeatable and also take comma lists. Fields marked
``metadata={"cli": False}`` (mappings, rule lists) are set through ``--config`` or ``--set`` only.
Every generated command also takes ``--config``, ``--set`` and ``--list-params``.

Flags default to "not given", so precedence is exactly ``--config`` < ``--set`` < flags.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from instructkit.registry import Result, StageSpec, field_type, resolve_target

_SIMPLE = (int, float, str, bool, Path)
_METAVARS = {int: "INT", float: "FLOAT", str: "TEXT", Path: "PATH", bool: ""}
_INPUT_ALIASES = {"--data": ("-d",)}  # short spellings of inputs flags (eval --data SET, -d SET)
NEGATIVE = "no__"  # parameter-name prefix of the hidden --no-x flag of a boolean field x


def _cli_type(tp: Any) -> tuple[Any, bool] | None:
    """(typer type, is_list) for a field type, or None when it has no flag form."""
    tp = field_type(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return str, False
    if origin in (list, tuple):
        (inner,) = typing.get_args(tp)[:1] or (str,)
        inner = field_type(inner)
        if typing.get_origin(inner) is typing.Literal:
            inner = str
        return (inner, True) if inner in _SIMPLE else None
    if tp in _SIMPLE:
        return tp, False
    return None


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        value = f.default_factory()  # type: ignore[misc]
    else:
        return " (required)"
    if value is None or value == [] or value == "":
        return ""
    if isinstance(value, bool):
        return f" (default: {'on' if value else 'off'})"
    if isinstance(value, list):
        value = ", ".join(map(str, value))  # spaces let a long default wrap instead of being cut at 80 columns
    return f" (default: {value})"


def _choices(tp: Any) -> str:
    tp = field_type(tp)
    if typing.get_origin(tp) is typing.Literal:
        return " One of: " + ", ".join(map(str, typing.get_args(tp))) + "."
    return ""


def field_options(cls: type) -> list[tuple[str, Any, bool]]:
    """``(field name, Annotated type, is_list)`` for every field with a flag."""
    hints = typing.get_type_hints(cls)
    out = []
    # The stage's own fields first, then the shared ones it inherits (output, workers, training).
    rank = {}
    for depth, klass in enumerate(cls.__mro__):
        for name in getattr(klass, "__annotations__", {}):
            rank.setdefault(name, depth)
    for f in sorted(dataclasses.fields(cls), key=lambda f: rank.get(f.name, 0)):
        if not f.metadata.get("cli", True):
            continue
        kind = _cli_type(hints[f.name])
        if kind is None:
            continue
        tp, is_list = kind
        flag = "--" + f.name.replace("_", "-")
        names = [flag, *f.metadata.get("flags", ())]
        help_ = (f.metadata.get("help", "") or "").rstrip()
        if help_ and not help_.endswith("."):
            help_ += "."
        help_ += _choices(hints[f.name]) + _default_text(f)
        if is_list:
            help_ += " Repeatable; comma lists work too."
        # A list flag is read as text and typed by the Params build (config.build), so a comma list of
        # numbers ("--caps 5,0") works like repeated flags ("--caps 5 --caps 0").
        py_type = Optional[list[str]] if is_list else Optional[tp]
        if tp is bool and not is_list:
            # --x shown, --no-x hidden (the command's help says every switch has one): typer's table gives the
            # negative form a column of its own, and at 80 columns two 25-character names leave no room (names
            # were cut to "--no-gradient-ch…").
            negative = typer.Option(f"--no-{flag[2:]}", hidden=True)
            out.append((NEGATIVE + f.name, Annotated[bool, negative], False))
        option = typer.Option(*names, help=help_, show_default=False, metavar=_METAVARS.get(tp, "TEXT"))
        out.append((f.name, Annotated[py_type, option], is_list))
    return out


def _flatten(values: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for v in values:
        if isinstance(v, str) and "," in v:
            flat.extend(x.strip() for x in v.split(",") if x.strip())
        else:
            flat.append(v)
    return flat


def print_result(spec: StageSpec, result: Result) -> None:
    """The end-of-stage table, then the written path alone on stdout (for shell pipelines)."""
    from instructkit.cli.common import print_summary, print_table

    if spec.output == "set" and result.manifest.get("counts") is not None:
        print_summary(spec.name, result.manifest, result.path, extra=result.summary)
    else:
        rows = [(k, f"{v:.4f}" if isinstance(v, float) else v) for k, v in result.summary.items()]
        rows.append(("output", str(result.path)))
        print_table(spec.name, rows, ("", "value"))
    typer.echo(str(result.path))


def print_params(spec: StageSpec, values: dict[str, Any] | None = None) -> None:
    """``--list-params``: every key (YAML / --set / recipe / Python keyword) with type and default."""
    from instructkit.cli.common import print_table
    from instructkit.config import describe

    cls = spec.params_class(values)
    rows = [(n, t, d, h) for n, t, d, h in describe(cls)]
    print_table(f"{spec.name} parameters ({cls.__name__})", rows, ("key", "type", "default", "help"))


def make_command(spec: StageSpec):
    """A typer command function for ``spec`` (signature built from its Params fields)."""
    from instructkit.cli.common import ConfigOpt, SetOpt

    cls = resolve_target(spec.params)
    sig: list[inspect.Parameter] = []
    kw = inspect.Parameter.KEYWORD_ONLY
    if spec.inputs != "none":
        if spec.inputs_flag:
            names = (spec.inputs_flag, *_INPUT_ALIASES.get(spec.inputs_flag, ()))
            ann = Annotated[Optional[list[str]], typer.Option(*names, help=spec.inputs_help, metavar="SET")]
        else:
            ann = Annotated[
                Optional[list[str]], typer.Argument(help=spec.inputs_help, show_default=False, metavar="IN...")
            ]
        sig.append(inspect.Parameter("inputs", kw, annotation=ann, default=None))
    out_help = (
        "Output shard set: a parent dir (the next vNNNN is written under it) or an explicit .../vNNNN path."
        if spec.output == "set"
        else "Directory to write (see the command's help for what happens when it exists)."
    )
    if spec.output_positional:
        ann = Annotated[Optional[Path], typer.Argument(help=out_help, show_default=False, metavar="OUT")]
    else:
        ann = Annotated[Optional[Path], typer.Option("-o", "--output", help=out_help, metavar="OUT")]
    sig.append(inspect.Parameter("output", kw, annotation=ann, default=None))
    options = field_options(cls)
    lists = {name for name, _, is_list in options if is_list}
    for name, ann, _ in options:
        sig.append(inspect.Parameter(name, kw, annotation=ann, default=False if name.startswith(NEGATIVE) else None))
    sig.append(inspect.Parameter("config", kw, annotation=ConfigOpt, default=None))
    sig.append(inspect.Parameter("set_", kw, annotation=SetOpt, default=None))
    list_params = Annotated[
        bool, typer.Option("--list-params", help="Print every parameter (YAML, --set and recipe keys) and exit.")
    ]
    sig.append(inspect.Parameter("list_params", kw, annotation=list_params, default=False))
    actions = {}
    for i, action in enumerate(spec.actions):
        name = f"action_{i}"
        actions[name] = action
        ann = Annotated[bool, typer.Option(action.flag, help=action.help)]
        sig.append(inspect.Parameter(name, kw, annotation=ann, default=False))

    def command(**kwargs: Any) -> None:
        from instructkit.config import parse_sets
        from instructkit.errors import ConfigError
        from instructkit.registry import run_stage

        for name, action in actions.items():
            if kwargs.pop(name):
                resolve_target(action.target)()
                return
        inputs = kwargs.pop("inputs", None)
        output = kwargs.pop("output")
        config = kwargs.pop("config")
        sets = parse_sets(kwargs.pop("set_"))
        for key in [k for k in kwargs if k.startswith(NEGATIVE)]:
            if kwargs.pop(key):
                name = key[len(NEGATIVE) :]
                if kwargs.get(name):
                    raise ConfigError(f"--{name.replace('_', '-')} and --no-{name.replace('_', '-')} both given")
                kwargs[name] = False
        flags = {k: (_flatten(v) if k in lists and v is not None else v) for k, v in kwargs.items()}
        if flags.pop("list_params"):
            print_params(spec, {**sets, **{k: v for k, v in flags.items() if v is not None}})
            return
        result = run_stage(spec.name, inputs, output, config=config, sets=sets, flags=flags)
        print_result(spec, result)

    command.__signature__ = inspect.Signature(sig)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in sig}
    command.__doc__ = spec.help
    if any(name.startswith(NEGATIVE) for name, _, _ in options):
        command.__doc__ = spec.help.rstrip("\n") + "\n\nEvery on/off switch --x also takes --no-x (off).\n"
    command.__name__ = spec.name.replace("-", "_")
    return command
