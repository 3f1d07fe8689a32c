"""What the quality axes read from a record: its instruction, prompt, responses and ids.

Every kind is read the same way: the *instruction* is the first user turn (the task as the user
wrote it; for Alpaca rows it holds the instruction and its input), the *prompt* is every turn before
the response (the key for consistency checks), and the *response* is the last assistant turn of sft
records, the chosen answer of preference records, the completion of unpaired rows, or the first
candidate of feedback records. Answers are kept for consistency as ``answer_key``: a 16-byte digest
of the normalised text (two answers are the same when their digests are).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from instructkit.filters._text import norm
from instructkit.records import kind_of


@dataclass
class Item:
    """One record reduced to the texts the axes measure (about 1 KB per record for alpaca-sized text)."""

    id: str
    kind: str
    instruction: str
    prompt_key: str
    response: str
    rejected: str | None = None
    label: bool | None = None
    gold: str | None = None
    answer_key: bytes = b""
    rejected_key: bytes | None = None


def answer_key(text: str) -> bytes:
    """The digest of the normalised answer (``norm``): equal for answers consistency counts as one."""
    return hashlib.blake2b(norm(text).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _messages_text(messages: list) -> str:
    return "\n".join(f"{m.get('role')}: {m.get('content') or ''}" for m in messages if isinstance(m, dict))


def _last_assistant(messages: list) -> str:
    for m in reversed(messages or []):
        if isinstance(m, dict) and m.get("role") == "assistant":
            return m.get("content") or ""
    return ""


def gold_of(record: dict, gold_field: str | None) -> str | None:
    """The gold answer: ``meta.<gold_field>`` (dotted), else the first of the usual names present."""
    meta = record.get("meta") or {}
    names = [gold_field] if gold_field else ["gold", "answer", "reference", "extra.gold", "extra.answer"]
    for name in names:
        value: object = meta
        for part in name.removeprefix("meta.").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
            return str(value)
    return None


def item_of(record: dict, *, gold_field: str | None = None) -> Item:
    """The texts of ``record`` that the axes measure."""
    kind = kind_of(record)
    if "messages" in record:
        msgs = record["messages"]
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=len(msgs))
        prompt, response = msgs[:last], _last_assistant(msgs)
    else:
        prompt = record.get("prompt") or []
        if "chosen" in record:
            response = _last_assistant(record["chosen"])
        elif "completion" in record:
            response = _last_assistant(record["completion"])
        elif record.get("responses"):
            response = record["responses"][0].get("content") or ""
        else:
            response = ""
    instruction = next((m.get("content") or "" for m in prompt if m.get("role") == "user"), "")
    rejected = _last_assistant(record["rejected"]) if "rejected" in record else None
    return Item(
        id=str(record.get("id")),
        kind=kind,
        instruction=instruction,
        prompt_key=norm(_messages_text(prompt)),
        response=response,
        rejected=rejected,
        label=record.get("label") if isinstance(record.get("label"), bool) else None,
        gold=gold_of(record, gold_field),
        answer_key=answer_key(response),
        rejected_key=None if rejected is None else answer_key(rejected),
    )
