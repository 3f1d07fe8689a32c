"""Clarity: how often each defect the filters know occurs, counted without dropping anything.

Every check of the ``defects`` filter rule (``instructkit/filters/defects.py``: placeholders,
merged instructions, URL-only and media inputs, echoes, refusals, too-short instructions, role order
...) runs on its own on every record, so a record with two defects counts under both (the filter
stops at the first). One check the filter does not have is added here, because dropping on it would
be too eager but its rate says a lot about a set:

- ``missing_input``: the instruction points at an input that is not there ("Summarize the following
  text." with nothing after it; Alpaca-cleaned found thousands). Heuristic: the first user turn refers
  to "the following / given / this <text, sentence, passage, ...>" or ends with a colon, and is one
  paragraph of at most 40 words. It misses references in other languages and inputs that are present
  but empty of content.
"""

from __future__ import annotations

import re
from collections import Counter

from instructkit.filters.defects import CHECKS, DefectsFilter, DefectsParams

INSTRUCTION_CHECKS = ("instruction_words", "template_placeholder", "url_only_input", "media_input", "missing_input")
_REFERS = re.compile(
    r"\b(?:the following|given below|below|the given|this|these|the provided)\s+"
    r"(?:\w+\s+)?(?:text|sentence|sentences|paragraph|passage|article|code|snippet|list|data|table|poem|story|"
    r"email|review|tweet|word|words|input|question|statement|document|essay|number|numbers|function|program)\b",
    re.I,
)
MISSING_INPUT_MAX_WORDS = 40
EXAMPLES = 3  # record ids listed per check


def missing_input(instruction: str) -> bool:
    """True when the instruction refers to an input that does not follow (see the module docstring)."""
    text = instruction.strip()
    if not text or "\n" in text or len(text.split()) > MISSING_INPUT_MAX_WORDS:
        return False
    return text.endswith((":", "：")) or bool(_REFERS.search(text) and not re.search(r"[:：]\s*\S", text))


class Clarity:
    """Counts, per check, the records that fail it; ``add`` one record at a time, ``result`` at the end.

    Chunk tasks each count their records; ``merge`` adds a later chunk's counts (examples stay the
    first ``EXAMPLES`` ids of the set when chunks are merged in order). It pickles without its rule.
    """

    def __init__(self):
        self._rule: DefectsFilter | None = None
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.flagged = 0
        self.n = 0

    @property
    def rule(self) -> DefectsFilter:
        if self._rule is None:
            self._rule = DefectsFilter(DefectsParams())
        return self._rule

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_rule": None}

    def merge(self, other: Clarity) -> None:
        """Add the counts of ``other``, a chunk that follows every record counted here."""
        self.n += other.n
        self.flagged += other.flagged
        self.counts.update(other.counts)
        for c, ids in other.examples.items():
            mine = self.examples.setdefault(c, [])
            mine.extend(ids[: EXAMPLES - len(mine)])

    def failed(self, record: dict) -> list[str]:
        """Every check the record fails: the filter stops at the first, so that check is turned off and
        the record checked again (a clean record, the common case, costs one pass)."""
        hits: list[str] = []
        self.rule.on = set(CHECKS)
        while (drop := self.rule.check(record)) is not None:
            name = drop.reason.split(".", 1)[1]
            hits.append(name)
            self.rule.on.discard(name)
        return hits

    def add(self, record: dict, instruction: str) -> None:
        self.n += 1
        hits = self.failed(record)
        if instruction and missing_input(instruction):
            hits.append("missing_input")
        for c in hits:
            self.counts[c] += 1
            self.examples.setdefault(c, [])
            if len(self.examples[c]) < EXAMPLES:
                self.examples[c].append(str(record.get("id")))
        self.flagged += bool(hits)

    def result(self) -> dict:
        n = max(self.n, 1)
        checks = {
            c: {"count": self.counts[c], "rate": round(self.counts[c] / n, 4), "examples": self.examples.get(c, [])}
            for c in (*CHECKS, "missing_input")
        }
        return {
            "records": self.n,
            "clear": round(1 - self.flagged / n, 4) if self.n else None,
            "flagged": self.flagged,
            "checks": checks,
            "instruction_checks": list(INSTRUCTION_CHECKS),
        }
