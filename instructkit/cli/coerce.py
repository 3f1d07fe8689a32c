"""Plain coercion of command-line values, without pydantic.

typer 0.29 turns each option's text into its type through a pydantic ``TypeAdapter``, built for every
parameter of the command when the line is parsed, given or not: importing pydantic and building about
50 adapters is 0.15-0.3 s of every ``instructkit dedupe ...``, more than the stage itself on a small
set. Our generated commands only use ``int``, ``float``, ``str``, ``Path``, ``bool`` and ``list[str]``
(``stagecmd._cli_type``), which need no schema: ``install`` gives those parameters a coercer that
converts them directly, with errors worded like typer's, and leaves every other annotation to typer.

It hooks one private method (``_TyperParameter.get_runtime_param``); on a typer without it ``install``
does nothing and typer's own coercion runs, only slower (tests/cli/test_coerce.py notices).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_WORDS = {int: "an integer", float: "a number"}


def _convert(tp: Any, value: Any) -> Any:
    if tp in (int, float):
        if isinstance(value, tp) and not isinstance(value, bool):
            return value
        try:
            return tp(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not {_WORDS[tp]}") from None
    if tp is Path:
        return value if isinstance(value, Path) else Path(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on", "y", "t"):
            return True
        if text in ("0", "false", "no", "off", "n", "f"):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    return str(value)


def install() -> bool:
    """Route the plain annotations through ``_convert``; False when this typer has no such hook."""
    try:
        from typer import _click
        from typer._coercion import RuntimeParam
        from typer.core import _TyperParameter
    except ImportError:
        return False
    original = getattr(_TyperParameter, "get_runtime_param", None)
    if original is None or getattr(original, "_instructkit", False):
        return original is not None

    class PlainParam(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            tp = self.annotation
            try:
                if tp == list[str]:
                    return [_convert(str, v) for v in (value if isinstance(value, (list, tuple)) else [value])]
                return _convert(tp, value)
            except ValueError as exc:
                raise _click.exceptions.BadParameter(str(exc), ctx=ctx, param=param) from None

    plain = (int, float, str, bool, Path)

    def get_runtime_param(self):
        if getattr(self, "_runtime_param", None) is None:
            desc = self.type_descriptor
            ann, info = desc.annotation, desc.parameter_info
            constrained = any(getattr(info, k, None) is not None for k in ("min", "max", "parser"))
            if desc.file_annotation is None and not constrained and (ann in plain or ann == list[str]):
                self._runtime_param = PlainParam(parameter_info=desc.parameter_info, annotation=ann)
                return self._runtime_param
        return original(self)

    get_runtime_param._instructkit = True  # type: ignore[attr-defined]
    _TyperParameter.get_runtime_param = get_runtime_param
    return True
