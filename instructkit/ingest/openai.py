"""OpenAI / TRL conversational: ``messages: [{role, content}]``, with optional tool calls.

Reference: the OpenAI chat fine-tuning format and TRL's "conversational language modeling" dataset
type. Assistant ``tool_calls`` and tool ``tool_call_id`` / ``name`` are kept on the messages; other
top-level fields (for example ``tools``) are kept under ``meta.extra``.
"""

from __future__ import annotations

from instructkit.errors import RecordError
from instructkit.ingest.base import Reader, build, extra_meta, reader, require, to_messages

USED = {"messages", "id"}


@reader("openai", priority=10)
class OpenAI(Reader):
    def detect(self, row: dict) -> bool:
        return isinstance(row.get("messages"), list) and "chosen" not in row

    def read(self, row: dict, source: dict) -> dict:
        (messages,) = require(row, "messages")
        if isinstance(messages, str):  # read as one user turn it failed later as "has no assistant turn"
            raise RecordError(
                f"field 'messages' is a string ({len(messages)} characters), not a list of messages",
                hint="'messages' must be a JSON list of {role, content} objects; if the column holds JSON text "
                "(a CSV or Parquet export), decode it before ingesting",
            )
        return build(
            "sft",
            id=row.get("id"),
            messages=to_messages(messages, "messages"),
            source=source,
            meta=extra_meta(row, USED),
        )
