"""The reader interface: one input format maps a raw row (a dict) to canonical records.

A format is one file under ``instructkit/ingest/`` with a ``Reader`` subclass registered by name.
``detect`` looks at a row's keys; ``read`` returns one record or a list of them and raises
``RecordError`` for a row it cannot convert (missing field, unknown role, ...).
"""

from __future__ import annotations

from typing import Any, ClassVar

from instructkit.errors import RecordError
from instructkit.stage import Operator, register

# Alpaca-style markers that mean "no input" (Alpaca, GPT-4-LLM, self-instruct outputs).
EMPTY_INPUT_MARKERS = {"<noinput>", "no input", "<no input>", "noinput", "<no_input>", "n/a input", "none"}


class Reader(Operator):
    """Maps a raw row to records. ``priority`` breaks ties in auto-detection (higher wins)."""

    priority: ClassVar[int] = 0

    def detect(self, row: dict) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def read(self, row: dict, source: dict) -> dict | list[dict]:  # pragma: no cover - interface
        raise NotImplementedError


def reader(name: str, *, priority: int = 0):
    """Register a Reader class under ``name`` (usable as ``--format NAME``)."""

    def wrap(cls):
        cls.priority = priority
        return register("format", name)(cls)

    return wrap


def require(row: dict, *fields: str) -> list[Any]:
    """The values of required fields; a RecordError names the first missing one."""
    missing = [f for f in fields if f not in row or row[f] is None]
    if missing:
        raise RecordError(f"missing required field {missing[0]!r} (row has: {', '.join(sorted(map(str, row)))})",
                          hint="fix the row, map a column with --map dst=src, or pass --on-error skip")
    return [row[f] for f in fields]


def as_text(value: Any, field: str) -> str:
    """A field that must be a string (numbers are accepted and converted)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"field {field!r} must be a string, got {type(value).__name__}")


def is_empty_input(text: str | None) -> bool:
    """True for missing, blank, or an Alpaca empty-input marker such as ``<noinput>``."""
    return text is None or not str(text).strip() or str(text).strip().lower() in EMPTY_INPUT_MARKERS


def extra_meta(row: dict, used: set[str]) -> dict:
    """Fields of the row that the format does not consume, kept under ``meta.extra``."""
    extra = {k: v for k, v in row.items() if k not in used}
    return {"extra": extra} if extra else {}
