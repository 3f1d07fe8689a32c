"""Record kinds, validation, stable ids and message helpers (DESIGN.md section 2).

Field names follow TRL's dataset formats, so a shard loads straight into a TRL trainer:

- ``sft``: ``id``, ``messages``
- ``preference``: ``id``, ``prompt`` (messages), ``chosen`` and ``rejected`` (assistant messages)
- ``prompt``: ``id``, ``prompt`` (messages)
- ``feedback``: ``id``, ``prompt``, ``responses`` [{content, model?}], ``judgments`` [...]

Every record also carries ``meta`` (``source`` at least). Stages add keys to ``meta``; they never
delete the user's.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

from instructkit.errors import RecordError

KINDS = ("sft", "preference", "prompt", "feedback")
ROLES = ("system", "user", "assistant", "tool")
JUDGMENT_TYPES = ("rating", "ranking", "pairwise", "edit")

# Role spellings seen in the wild (ShareGPT, LLaMA-Factory, HH-RLHF) -> ours.
ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "prompter": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
    "function_call": "assistant",
    "ipython": "tool",
}

# C0/C1 control characters except tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

CONTENT_FIELDS = {
    "sft": ("messages",),
    "preference": ("prompt", "chosen", "rejected"),
    "prompt": ("prompt",),
    "feedback": ("prompt", "responses"),
}


def clean_text(text: str) -> str:
    """Unicode NFC and stray control characters removed (tab and newlines kept)."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


def normalise_role(role: Any) -> str:
    """Map a role spelling to one of ``ROLES``; raise RecordError for an unknown one."""
    key = str(role).strip().lower()
    if key not in ROLE_ALIASES:
        raise RecordError(f"unknown role {role!r}", hint=f"use one of {', '.join(ROLES)}")
    return ROLE_ALIASES[key]


def message(role: str, content: Any, **extra: Any) -> dict:
    """Build one message with a normalised role and cleaned content."""
    msg = {"role": normalise_role(role), "content": clean_text("" if content is None else str(content))}
    msg.update({k: v for k, v in extra.items() if v is not None})
    return msg


def kind_of(record: dict) -> str:
    """The kind of a record, inferred from its fields."""
    if "judgments" in record or "responses" in record:
        return "feedback"
    if "chosen" in record and "rejected" in record:
        return "preference"
    if "messages" in record:
        return "sft"
    if "prompt" in record:
        return "prompt"
    raise RecordError(
        f"record has none of the fields of a known kind (fields: {sorted(record)})",
        hint="an sft record has 'messages'; preference has 'prompt', 'chosen', 'rejected'",
    )


def record_id(record: dict) -> str:
    """Stable id: sha256 of the canonical JSON of the record's content fields (16 hex chars)."""
    kind = kind_of(record)
    content = {k: record.get(k) for k in CONTENT_FIELDS[kind]}
    blob = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def make_record(
    kind: str, *, source: dict | None = None, id: str | None = None, meta: dict | None = None, **fields: Any
) -> dict:
    """Build a record of ``kind`` with a stable id and ``meta.source``; validates it."""
    record: dict[str, Any] = {"id": None, **fields}
    record["id"] = str(id) if id not in (None, "") else record_id(record)
    record["meta"] = dict(meta or {})
    if source is not None:
        record["meta"]["source"] = source
    validate(record, kind)
    return record


def _check_messages(value: Any, field: str, *, alternate: bool, allow_empty: bool = False) -> None:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise RecordError(f"'{field}' must be a non-empty list of messages, got {type(value).__name__}")
    previous = None
    for i, msg in enumerate(value):
        if not isinstance(msg, dict) or "role" not in msg or "content" not in msg:
            raise RecordError(f"'{field}[{i}]' must be an object with 'role' and 'content'")
        if msg["role"] not in ROLES:
            raise RecordError(f"'{field}[{i}]' has unknown role {msg['role']!r}", hint=f"roles: {', '.join(ROLES)}")
        if not isinstance(msg["content"], str) and not (msg.get("tool_calls") and msg["content"] is None):
            raise RecordError(f"'{field}[{i}].content' must be a string")
        role = msg["role"]
        if role == "system" and i != 0:
            raise RecordError(f"'{field}[{i}]' is a system message that is not the first message")
        if alternate and role in ("user", "assistant") and role == previous:
            raise RecordError(
                f"'{field}[{i}]' is a second '{role}' turn in a row (non-alternating conversation)",
                hint="merge consecutive turns or fix the roles",
            )
        if role in ("user", "assistant", "tool"):  # a tool result lets the assistant speak again
            previous = role


def validate(record: dict, kind: str | None = None) -> str:
    """Check a record against its kind's schema and return the kind.

    Raises:
        RecordError: naming the field and what is wrong with it.
    """
    if not isinstance(record, dict):
        raise RecordError(f"a record must be a JSON object, got {type(record).__name__}")
    kind = kind or kind_of(record)
    if kind not in KINDS:
        raise RecordError(f"unknown record kind {kind!r}", hint=f"kinds: {', '.join(KINDS)}")
    if not isinstance(record.get("id"), str) or not record["id"]:
        raise RecordError("record has no 'id' string")
    if not isinstance(record.get("meta", {}), dict):
        raise RecordError("'meta' must be an object")
    if kind == "sft":
        _check_messages(record.get("messages"), "messages", alternate=True)
        if not any(m["role"] == "assistant" for m in record["messages"]):
            raise RecordError("'messages' has no assistant turn", hint="an sft record needs at least one response")
    elif kind in ("preference", "prompt", "feedback"):
        _check_messages(record.get("prompt"), "prompt", alternate=True)
    if kind == "preference":
        for side in ("chosen", "rejected"):
            _check_messages(record.get(side), side, alternate=False)
            if record[side][-1]["role"] != "assistant":
                raise RecordError(f"'{side}' must end with an assistant message")
    if kind == "feedback":
        responses = record.get("responses")
        if not isinstance(responses, list) or not all(isinstance(r, dict) and "content" in r for r in responses):
            raise RecordError("'responses' must be a list of objects with 'content'")
        judgments = record.get("judgments", [])
        if not isinstance(judgments, list):
            raise RecordError("'judgments' must be a list")
        for i, j in enumerate(judgments):
            if not isinstance(j, dict) or j.get("type") not in JUDGMENT_TYPES:
                raise RecordError(f"'judgments[{i}].type' must be one of {', '.join(JUDGMENT_TYPES)}")
    return kind


# --- message helpers -------------------------------------------------------------------------


def prompt_of(record: dict) -> list[dict]:
    """The prompt messages of any kind (for sft: everything before the last assistant turn)."""
    if "prompt" in record:
        return record["prompt"]
    messages = record["messages"]
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return messages[:last]


def response_of(record: dict) -> str:
    """The response text: the last assistant turn (sft) or the chosen response (preference)."""
    if "messages" in record:
        return next((m["content"] or "" for m in reversed(record["messages"]) if m["role"] == "assistant"), "")
    if "chosen" in record:
        return record["chosen"][-1]["content"] or ""
    if record.get("responses"):
        return record["responses"][0]["content"]
    return ""


def text_of(messages: list[dict], roles: tuple[str, ...] = ROLES) -> str:
    """Contents of the messages whose role is in ``roles``, joined by newlines."""
    return "\n".join(m["content"] or "" for m in messages if m["role"] in roles)


def conversation_text(record: dict) -> str:
    """All text of a record: prompt and responses."""
    if "messages" in record:
        return text_of(record["messages"])
    parts = [text_of(record.get("prompt", []))]
    for side in ("chosen", "rejected"):
        if side in record:
            parts.append(text_of(record[side]))
    parts.extend(r["content"] for r in record.get("responses", []))
    return "\n".join(parts)
