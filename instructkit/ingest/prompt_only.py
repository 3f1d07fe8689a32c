"""TRL prompt-only: ``prompt`` (a string or messages) -> a ``prompt`` record for RL rollouts and synth.

Reference: TRL's "prompt-only" dataset type (GRPO, RLOO). A string prompt becomes one user message.
"""

from __future__ import annotations

from instructkit.ingest.base import Reader, build, extra_meta, reader, require, to_messages

USED = {"prompt", "id"}
# Fields that make a row with a prompt some other format.
OTHER = ("completion", "chosen", "rejected", "label", "messages", "responses", "completions")


@reader("prompt_only", priority=10)
class PromptOnly(Reader):
    def detect(self, row: dict) -> bool:
        return "prompt" in row and not any(k in row for k in OTHER) and not ("id" in row and "meta" in row)

    def read(self, row: dict, source: dict) -> dict:
        (prompt,) = require(row, "prompt")
        return build(
            "prompt", id=row.get("id"), prompt=to_messages(prompt, "prompt"), source=source, meta=extra_meta(row, USED)
        )
