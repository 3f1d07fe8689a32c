"""ShareGPT: ``conversations: [{from, value}]`` with human/gpt/system/function_call/observation roles.

References: the ShareGPT / Vicuna conversation dumps and LLaMA-Factory's ``sharegpt`` format, which adds
a top-level ``system`` string, ``function_call`` (the model's tool call, a JSON string with ``name`` and
``arguments``) and ``observation`` (the tool's result) turns, and a preference variant with
``conversations`` + ``chosen`` + ``rejected`` turn objects.

A ``function_call`` turn becomes an assistant message with OpenAI-style ``tool_calls`` (content ``""``)
when its value is JSON with a ``name``; otherwise its text is kept as the assistant content. An
``observation`` becomes a ``tool`` message.
"""

from __future__ import annotations

import json

from instructkit.errors import RecordError
from instructkit.ingest.base import Reader, build, extra_meta, reader, require, to_message
from instructkit.records import message

USED = {"conversations", "system", "id", "chosen", "rejected"}


def _tool_call(value: str, where: str) -> dict:
    try:
        call = json.loads(value)
    except (TypeError, ValueError):
        return message("assistant", value)
    calls = call if isinstance(call, list) else [call]
    if not calls or not all(isinstance(c, dict) and "name" in c for c in calls):
        return message("assistant", value)
    out = []
    for c in calls:
        args = c.get("arguments", {})
        out.append(
            {
                "type": "function",
                "function": {
                    "name": c["name"],
                    "arguments": args if isinstance(args, str) else json.dumps(args, ensure_ascii=False),
                },
            }
        )
    return message("assistant", "", tool_calls=out)


def _turn(obj, where: str) -> dict:
    if isinstance(obj, dict) and str(obj.get("from", "")).strip().lower() == "function_call":
        if not isinstance(obj.get("value"), str):
            raise RecordError(f"'{where}.value' must be a string")
        return _tool_call(obj["value"], where)
    return to_message(obj, where)


def _turns(value, field: str) -> list[dict]:
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise RecordError(f"field {field!r} must be a non-empty list of turns")
    return [_turn(t, f"{field}[{i}]") for i, t in enumerate(value)]


@reader("sharegpt", priority=10)
class ShareGPT(Reader):
    def detect(self, row: dict) -> bool:
        return isinstance(row.get("conversations"), list)

    def read(self, row: dict, source: dict) -> dict:
        (conversations,) = require(row, "conversations")
        messages = _turns(conversations, "conversations")
        if row.get("system") and messages[0]["role"] != "system":
            messages.insert(0, message("system", row["system"]))
        meta = extra_meta(row, USED)
        if "chosen" in row or "rejected" in row:
            chosen, rejected = require(row, "chosen", "rejected")
            return build(
                "preference",
                id=row.get("id"),
                prompt=messages,
                chosen=_turns(chosen, "chosen"),
                rejected=_turns(rejected, "rejected"),
                source=source,
                meta=meta,
            )
        return build("sft", id=row.get("id"), messages=messages, source=source, meta=meta)
