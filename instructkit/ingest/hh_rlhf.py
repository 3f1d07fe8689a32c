"""Anthropic HH-RLHF: ``chosen`` and ``rejected`` transcripts of ``\\n\\nHuman:`` / ``\\n\\nAssistant:`` turns.

Reference: Bai et al. 2022, "Training a Helpful and Harmless Assistant with RLHF" (the
``Anthropic/hh-rlhf`` files). Both transcripts share every turn but the last assistant answer: the
shared prefix becomes the prompt, the differing last turns chosen and rejected.
"""

from __future__ import annotations

import re

from instructkit.errors import RecordError
from instructkit.ingest.base import Reader, build, extra_meta, reader, require, split_shared_prefix
from instructkit.records import message

USED = {"chosen", "rejected", "id"}
# A turn marker at the start or after a blank line; one space after the colon is part of the marker.
TURN = re.compile(r"(?:^|\n\n)(Human|Assistant): ?")


def parse_transcript(text: str, field: str) -> list[dict]:
    """``"\\n\\nHuman: hi\\n\\nAssistant: hello"`` -> user/assistant messages."""
    if not isinstance(text, str):
        raise RecordError(f"'{field}' must be a transcript string, got {type(text).__name__}")
    parts = TURN.split(text)
    if parts[0].strip():
        raise RecordError(
            f"'{field}' does not start with a 'Human:' turn", hint="HH-RLHF transcripts start with '\\n\\nHuman: '"
        )
    if len(parts) < 3:
        raise RecordError(f"'{field}' has no 'Human:' / 'Assistant:' turns")
    return [
        message("user" if parts[i] == "Human" else "assistant", parts[i + 1].strip()) for i in range(1, len(parts), 2)
    ]


@reader("hh_rlhf", priority=10)
class HHRLHF(Reader):
    def detect(self, row: dict) -> bool:
        chosen = row.get("chosen")
        return isinstance(chosen, str) and "Human:" in chosen and "prompt" not in row

    def read(self, row: dict, source: dict) -> dict:
        chosen, rejected = require(row, "chosen", "rejected")
        prompt, chosen, rejected = split_shared_prefix(
            parse_transcript(chosen, "chosen"), parse_transcript(rejected, "rejected")
        )
        return build(
            "preference",
            id=row.get("id"),
            prompt=prompt,
            chosen=chosen,
            rejected=rejected,
            source=source,
            meta=extra_meta(row, USED),
        )
