"""LLaMA-Factory's content-part messages (its v1 data engine's standard format).

Reference: LLaMA-Factory ``src/llamafactory/v1/utils/types.py`` and its converters
(``v1/plugins/data_plugins/converter.py``). A message is ``{role, content: [{type, value}], loss_weight?}``
where ``type`` is ``text``, ``reasoning``, ``tool_call`` (``value`` is JSON ``{name, arguments}``) or a
media URL (``image_url``, ``video_url``, ``audio_url``). An SFT sample holds ``messages`` (some exports
keep the sharegpt-style key ``conversations``), a DPO sample ``chosen_messages`` and ``rejected_messages``
(two whole conversations that share the prompt); both may carry ``tools`` (a JSON string) and
``extra_info``, which are kept under ``meta.extra``.

Text parts are joined. Reasoning parts become ``<think>\\n...\\n</think>\\n\\n`` before the text, the way
LLaMA-Factory's Qwen3 template renders them. Tool calls become OpenAI-style ``tool_calls``. Media parts
are refused (only text is supported). Per-message ``loss_weight`` values are kept in
``meta.loss_weights`` (one list per message field) when any message has one.
"""

from __future__ import annotations

import json
from typing import Any

from instructkit.errors import RecordError
from instructkit.ingest.base import Reader, build, extra_meta, reader, require, split_shared_prefix
from instructkit.records import message

SFT_FIELDS = ("messages", "conversations")
PAIR_FIELDS = ("chosen_messages", "rejected_messages")
USED = {*SFT_FIELDS, *PAIR_FIELDS, "id"}
MEDIA = ("image_url", "video_url", "audio_url")


def _is_parts(content: Any) -> bool:
    return isinstance(content, list) and bool(content) and all(isinstance(p, dict) and "value" in p for p in content)


def _tool_call(value: Any, where: str) -> dict:
    try:
        call = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise RecordError(f"'{where}' is a tool_call whose value is not JSON") from None
    if not isinstance(call, dict) or "name" not in call:
        raise RecordError(f"'{where}' is a tool_call without a 'name'", hint='value: {"name": ..., "arguments": {...}}')
    args = call.get("arguments", {})
    return {
        "type": "function",
        "function": {
            "name": call["name"],
            "arguments": args if isinstance(args, str) else json.dumps(args, ensure_ascii=False),
        },
    }


def _message(obj: Any, where: str) -> dict:
    if not isinstance(obj, dict) or "role" not in obj:
        raise RecordError(f"'{where}' must be a message object with a 'role'", hint="{role, content: [{type, value}]}")
    content = obj.get("content")
    if content is None or isinstance(content, str):
        return message(obj["role"], content)
    if not _is_parts(content):
        raise RecordError(f"'{where}.content' must be a string or a list of {{type, value}} parts")
    text, reasoning, calls = [], [], []
    for i, part in enumerate(content):
        kind, value = part.get("type", "text"), part["value"]
        if kind in ("text", "reasoning") and not isinstance(value, str):
            raise RecordError(f"'{where}.content[{i}].value' must be a string, got {type(value).__name__}")
        if kind == "text":
            text.append(value)
        elif kind == "reasoning":
            reasoning.append(value)
        elif kind == "tool_call":
            calls.append(_tool_call(value, f"{where}.content[{i}]"))
        elif kind in MEDIA:
            raise RecordError(f"'{where}.content[{i}]' is {kind}", hint="only text content is supported")
        else:
            raise RecordError(f"'{where}.content[{i}]' has unknown type {kind!r}")
    body = "".join(text)
    if reasoning:
        body = "<think>\n" + "".join(reasoning).strip("\n") + "\n</think>\n\n" + body.lstrip("\n")
    return message(obj["role"], body, tool_calls=calls or None)


def _conversation(value: Any, field: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise RecordError(f"field {field!r} must be a non-empty list of messages")
    return [_message(m, f"{field}[{i}]") for i, m in enumerate(value)]


def _loss_weights(row: dict, fields: tuple[str, ...]) -> dict:
    weights = {}
    for f in fields:
        msgs = row.get(f) or []
        if any(isinstance(m, dict) and "loss_weight" in m for m in msgs):
            weights[f] = [m.get("loss_weight") if isinstance(m, dict) else None for m in msgs]
    return {"loss_weights": weights} if weights else {}


@reader("llamafactory", priority=20)
class LlamaFactory(Reader):
    def detect(self, row: dict) -> bool:
        if isinstance(row.get("chosen_messages"), list) and isinstance(row.get("rejected_messages"), list):
            return True
        for f in SFT_FIELDS:
            msgs = row.get(f)
            if isinstance(msgs, list) and any(isinstance(m, dict) and _is_parts(m.get("content")) for m in msgs):
                return True
        return False

    def read(self, row: dict, source: dict) -> dict:
        if "chosen_messages" in row or "rejected_messages" in row:
            chosen, rejected = require(row, *PAIR_FIELDS)
            prompt, chosen, rejected = split_shared_prefix(
                _conversation(chosen, "chosen_messages"), _conversation(rejected, "rejected_messages")
            )
            meta = {**extra_meta(row, USED), **_loss_weights(row, PAIR_FIELDS)}
            return build(
                "preference",
                id=row.get("id"),
                prompt=prompt,
                chosen=chosen,
                rejected=rejected,
                source=source,
                meta=meta,
            )
        field = next((f for f in SFT_FIELDS if f in row), "messages")
        (messages,) = require(row, field)
        meta = {**extra_meta(row, USED), **_loss_weights(row, (field,))}
        return build("sft", id=row.get("id"), messages=_conversation(messages, field), source=source, meta=meta)
