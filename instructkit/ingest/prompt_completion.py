"""TRL prompt/completion: ``prompt`` + ``completion``, strings or message lists -> an ``sft`` record.

Reference: TRL's "prompt-completion" dataset type. A string prompt becomes one user message, a string
completion one assistant message (kept verbatim, including a leading space of a raw-text completion).
"""

from __future__ import annotations

from instructkit.ingest.base import Reader, build, extra_meta, reader, require, to_messages

USED = {"prompt", "completion", "id"}


@reader("prompt_completion", priority=10)
class PromptCompletion(Reader):
    def detect(self, row: dict) -> bool:
        return "prompt" in row and "completion" in row and "label" not in row

    def read(self, row: dict, source: dict) -> dict:
        prompt, completion = require(row, "prompt", "completion")
        messages = to_messages(prompt, "prompt") + to_messages(completion, "completion", role="assistant")
        return build("sft", id=row.get("id"), messages=messages, source=source, meta=extra_meta(row, USED))
