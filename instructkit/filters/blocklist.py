"""Blocklist: words, phrases or regular expressions from a file (or inline), with a maximum ratio.

The file has one entry per line; blank lines and lines starting with ``#`` are skipped; a line starting
with ``re:`` is a Python regular expression, any other line a word or phrase matched case-insensitively
on word boundaries (for CJK entries, as a plain substring: Chinese has no spaces to bound a word).
The measured ratio is blocked words / words of the text (a matched phrase counts its words), as in the
"bad words" ratio filters of BigScience ROOTS (Laurençon et al. 2022); ``max_ratio: 0`` drops on any hit.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import field
from pathlib import Path

from instructkit.errors import ConfigError
from instructkit.filters._text import CJK, detail, turns, words
from instructkit.stage import Drop, Filter, register


def load_entries(path: str | Path) -> list[str]:
    """The entries of a blocklist file (comments and blank lines skipped)."""
    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "blocklist file not found", file=str(path), hint="set blocklist.path to a text file"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"blocklist file is not UTF-8: {exc.reason}", file=str(path)) from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def compile_entries(entries: list[str], *, source: str | None = None) -> re.Pattern:
    """One alternation of every entry; a bad regex names its line."""
    parts = []
    for i, entry in enumerate(entries, 1):
        if entry.startswith("re:"):
            pattern = entry[3:].strip()
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"bad regular expression {pattern!r}: {exc}", file=source, line=i) from None
            parts.append(f"(?:{pattern})")
        elif re.search(f"[{CJK}]", entry):
            parts.append(re.escape(entry))
        else:
            parts.append(rf"(?<!\w){re.escape(entry)}(?!\w)")
    return re.compile("|".join(parts), re.I) if parts else re.compile(r"(?!x)x")


@dataclasses.dataclass(kw_only=True)
class BlocklistParams:
    path: str | None = field(
        default=None,
        metadata={"help": "Blocklist file: one word, phrase or 're:REGEX' per line; '#' starts a comment."},
    )
    words: list[str] = field(default_factory=list, metadata={"help": "Inline entries, same syntax as the file."})
    max_ratio: float = field(default=0.0, metadata={"help": "Max blocked words / words; 0 drops on any match."})
    roles: list[str] = field(
        default_factory=lambda: ["user", "assistant"],
        metadata={"help": "Roles whose turns are searched (each turn is measured on its own)."},
    )


@register("filter", "blocklist")
class BlocklistFilter(Filter):
    """Drops records whose turns contain blocked words or patterns above a ratio."""

    Params = BlocklistParams

    def __init__(self, params: BlocklistParams):
        super().__init__(params)
        entries = list(params.words) + (load_entries(params.path) if params.path else [])
        self.pattern = compile_entries(entries, source=params.path)

    @staticmethod
    def validate(params: BlocklistParams) -> None:
        if not params.path and not params.words:
            raise ConfigError("blocklist needs a path or words", hint="for example: blocklist: {path: blocklist.txt}")
        if params.path:
            load_entries(params.path)

    def check(self, record: dict) -> Drop | None:
        for where, role, text in turns(record):
            if role not in self.params.roles:
                continue
            hits = [m.group(0) for m in self.pattern.finditer(text)]
            if not hits:
                continue
            total = max(1, len(words(text)))
            blocked = sum(max(1, len(words(h))) for h in hits)
            ratio = blocked / total
            if ratio > self.params.max_ratio:
                return Drop(
                    "blocklist",
                    detail("blocklist", round(ratio, 4), self.params.max_ratio, match=hits[0][:100], turn=where),
                )
        return None
