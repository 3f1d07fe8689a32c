"""Anthropic HH-RLHF: ``chosen`` and ``rejected`` transcripts of ``\\n\\nHuman:`` / ``\\n\\nAssistant:`` turns.

Reference: Bai et al. 2022, "Training a Helpful and Harmless Assistant with RLHF" (the
``Anthropic/hh-rlhf`` files). Both transcripts share every turn but the last assistant answer: the
shared prefix becomes the prompt, the differing last turns chosen and rejected.

The published files have transcripts with two turns of one speaker in a row (a few rows of the
harmless-base test split have two ``Assistant:`` turns back to back, others two ``Human:`` turns).
They are merged into one turn, the texts joined by a blank line, and counted in
``meta.merged_turns = {"chosen": n, "rejected": n}`` (turns folded into the previous one), so the
file ingests whole with no flags. A transcript that does not start with ``Human:`` or has no turns
is still refused with its file and line.
"""

from __future__ import annotations

import re

from instructkit.errors import RecordError
from instructkit.ingest.base import Reader, build, extra_meta, reader, require, split_shared_prefix
from instructkit.records import message

USED = {"chosen", "rejected", "id"}
# A turn marker at the start or after a blank line; one space after the colon is part of the marker.
TURN = re.compile(r"(?:^|\n\n)(Human|Assistant): ?")


def merge_same_role(messages: list[dict]) -> tuple[list[dict], int]:
    """Consecutive turns of one role joined into one (their texts separated by a blank line); returns the
    messages and how many turns were folded into a previous one."""
    out: list[dict] = []
    merged = 0
    for m in messages:
        if out and out[-1]["role"] == m["role"]:
            prev = out[-1]["content"]
            out[-1] = message(m["role"], f"{prev}\n\n{m['content']}" if prev and m["content"] else prev or m["content"])
            merged += 1
        else:
            out.append(m)
    return out, merged


def parse_transcript(text: str, field: str) -> list[dict]:
    """``"\\n\\nHuman: hi\\n\\nAssistant: hello"`` -> user/assistant messages (same-role runs not merged)."""
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
        chosen, n_chosen = merge_same_role(parse_transcript(chosen, "chosen"))
        rejected, n_rejected = merge_same_role(parse_transcript(rejected, "rejected"))
        prompt, chosen, rejected = split_shared_prefix(chosen, rejected)
        meta = extra_meta(row, USED)
        if n_chosen or n_rejected:
            meta["merged_turns"] = {"chosen": n_chosen, "rejected": n_rejected}
        return build(
            "preference",
            id=row.get("id"),
            prompt=prompt,
            chosen=chosen,
            rejected=rejected,
            source=source,
            meta=meta,
        )
