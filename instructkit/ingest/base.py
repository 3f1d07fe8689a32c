"""The reader interface: one input format maps a raw row (a dict) to canonical records.

A format is one file under ``instructkit/ingest/`` with a ``Reader`` subclass registered by name.
``detect`` looks at a row's keys; ``read`` returns one record or a list of them and raises
``RecordError`` for a row it cannot convert (missing field, unknown role, ...).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

import orjson

from instructkit.errors import RecordError
from instructkit.records import CONTENT_FIELDS, make_record, message, record_id
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
        raise RecordError(
            f"missing required field {missing[0]!r} (row has: {', '.join(sorted(map(str, row)))})",
            hint="fix the row, map a column with --map dst=src, or pass --on-error skip",
        )
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


# Message fields beyond role/content that survive ingest (OpenAI / TRL tool calling).
MESSAGE_EXTRAS = ("tool_calls", "tool_call_id", "name")


def _content(value: Any, where: str) -> Any:
    """Message content: a string, None, or OpenAI content parts (their text parts are joined)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):
        texts = [p.get("text") for p in value if p.get("type", "text") == "text"]
        if len(texts) != len(value) or not all(isinstance(t, str) for t in texts):
            raise RecordError(f"'{where}.content' has non-text parts", hint="only text content is supported")
        return "".join(texts)
    raise RecordError(f"'{where}.content' must be a string, got {type(value).__name__}")


def to_message(obj: Any, where: str) -> dict:
    """One message from ``{role, content}`` (OpenAI/TRL) or ``{from, value}`` (ShareGPT)."""
    if not isinstance(obj, dict):
        raise RecordError(f"'{where}' must be a message object, got {type(obj).__name__}")
    if "role" in obj:
        role, content = obj["role"], obj.get("content")
    elif "from" in obj:
        role, content = obj["from"], obj.get("value")
    else:
        raise RecordError(f"'{where}' has no 'role' (or ShareGPT 'from')", hint="a message is {role, content}")
    extra = {k: obj[k] for k in MESSAGE_EXTRAS if obj.get(k) is not None}
    try:
        return message(role, _content(content, where), **extra)
    except RecordError as exc:
        raise RecordError(f"'{where}': {exc.message}", hint=exc.hint) from None


def to_messages(value: Any, field: str, *, role: str = "user") -> list[dict]:
    """A field holding a string (one message of ``role``), one message object, or a list of them."""
    if isinstance(value, str):
        return [message(role, value)]
    if isinstance(value, dict):
        return [to_message(value, field)]
    if not isinstance(value, list) or not value:
        raise RecordError(
            f"field {field!r} must be a string or a non-empty list of messages, "
            f"got {type(value).__name__ if not isinstance(value, list) else 'an empty list'}"
        )
    return [to_message(m, f"{field}[{i}]") for i, m in enumerate(value)]


def split_shared_prefix(chosen: list[dict], rejected: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """Implicit-prompt preference -> ``(prompt, chosen, rejected)``.

    The prompt is the longest shared prefix of the two conversations, cut back so that it ends before
    an assistant turn (as TRL's ``extract_prompt`` does); each side keeps at least its last message.
    """
    n = 0
    limit = min(len(chosen), len(rejected)) - 1
    while n < limit and chosen[n] == rejected[n]:
        n += 1
    while n > 0 and chosen[n - 1]["role"] == "assistant":
        n -= 1
    if n == 0:
        raise RecordError(
            "'chosen' and 'rejected' share no prompt (their first messages differ)",
            hint="give both sides the same conversation up to the final answer",
        )
    return chosen[:n], chosen[n:], rejected[n:]


def content_id(*parts: Any) -> str:
    """A stable 16-hex id over JSON-able parts (same scheme as ``records.record_id``)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _plain(value: Any) -> bool:
    """A list of plain messages: readers build them with ``records.message``, so a message of at most two
    keys is ``{role, content}`` with string values (a response is ``{content, model?}``); tool calls and
    other extras add keys. One C-level pass instead of a per-value type check (about 3x cheaper)."""
    return type(value) is list and max(map(len, value), default=0) <= 2


def _refuse_bad_label(meta: dict | None) -> None:
    """An answer labelled bad (KTO's ``label``/``kto_tag`` false, kept in ``meta.extra`` by a reader that was
    forced with ``--format``) must never become an sft target; renaming the column asks for it on purpose."""
    extra = (meta or {}).get("extra") or {}
    for key in ("label", "kto_tag"):
        if key in extra and str(extra[key]).strip().lower() in ("false", "0", "no"):
            raise RecordError(
                f"this row is labelled bad ({key}={extra[key]!r}): its answer must not become an sft target",
                hint="ingest without --format (labelled rows are read as KTO data: prompt, completion, label), "
                f"or keep it as sft on purpose by renaming the column: --map kept_{key}={key}",
            )


def build(
    kind: str,
    *,
    id: Any = None,
    source: dict | None = None,
    meta: dict | None = None,
    trusted: bool = False,
    **fields: Any,
) -> dict:
    """``records.make_record`` with a faster id for plain content, and optionally without validation.

    ``record_id`` serialises with the stdlib ``json`` (about 25% of ingest time); for content made only of
    strings, ``orjson`` with sorted keys gives byte-identical JSON (checked for every code point in
    tests/ingest/test_ingest.py), so the id is the same, 5x faster. Anything else (tool calls, numbers) takes the
    ``record_id`` path.

    Args:
        trusted: The reader built the messages with ``records.message`` in a shape that is valid by
            construction (``[system?] (user assistant)+``), so ``validate`` (about 15% of ingest time)
            is skipped. Readers whose message list comes from the input must leave this False.
    """
    if kind == "sft":
        _refuse_bad_label(meta)
    if id in (None, ""):
        content = {k: fields.get(k) for k in CONTENT_FIELDS[kind]}
        if all(_plain(v) for v in content.values()):
            id = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    if not trusted:
        return make_record(kind, id=id, source=source, meta=meta, **fields)
    record = {"id": str(id) if id not in (None, "") else None, **fields}  # make_record's key order
    if record["id"] is None:
        record["id"] = record_id(record)
    record["meta"] = dict(meta or {})
    if source is not None:
        record["meta"]["source"] = source
    return record
