"""Each text analysed once, shared by every rule: memoised text helpers and exact shortcuts.

The default chain (language, defects, length, repetition, pii) looked at every turn four or five times:
``strip_code`` ran in three rules, ``count_words`` up to five times per response, ``fold`` in two, and
the repetition rule built all nine n-gram lists of every long response. Here:

- ``strip_code``, ``count_words``, ``fold`` and ``norm`` are the ``_text`` functions behind a small
  per-process memo keyed by the text itself (a record's turns are the same ``str`` objects in every
  rule, so the key's hash is computed once). Results are immutable strings and ints, so a rule cannot
  change what another reads. ``words`` splits text without CJK in C. The memo holds the last ``MEMO`` texts (about a batch of
  records), so memory stays bounded.
- ``NGrams`` answers the repetition rule's n-gram questions with one fact Gopher's rules imply: if no
  n-gram repeats, no longer one does (a repeated m-gram starts with a repeated n-gram), so once a length
  has no repeat every longer length scores 0 without being built. On instruction answers that skips
  most of the nine n-gram passes.
- ``alpha_words`` and ``latin_words`` give the same counts as the plain loops, with a C-level path for
  the common case (ASCII text; text without CJK).

Every function returns exactly what the plain implementation returns: tests/filters/test_filter_analysis.py
keeps that plain implementation as the oracle and checks verdicts on real and adversarial text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from instructkit.filters import _text

MEMO = 4096  # texts remembered per helper: a batch of 256 records has ~1,000-2,000 turns


def _memo(fn: Callable[[str], Any]) -> Callable[[str], Any]:
    table: dict[str, Any] = {}

    def cached(text: str) -> Any:
        hit = table.get(text)
        if hit is None:
            if len(table) >= MEMO:
                table.clear()  # cheaper than LRU bookkeeping; the next batch refills it
            hit = table[text] = fn(text)
        return hit

    cached.__doc__ = fn.__doc__
    cached.__wrapped__ = fn  # type: ignore[attr-defined]
    return cached


strip_code = _memo(_text.strip_code)
count_words = _memo(_text.count_words)
fold = _memo(_text.fold)
norm = _memo(_text.norm)


def words(text: str) -> list[str]:
    """``_text.words(text)``; text without CJK is split in C, and tokens are checked one by one only when
    the text has a token without a letter or digit (``-``, ``=``), which most texts lack."""
    if _text._CJK_CHAR.search(text):
        return _text.words(text)
    tokens = text.split()  # the same whitespace as the regex's \s (both Py_UNICODE_ISSPACE)
    if _text._NON_WORD.search(text) is None:
        return tokens
    return [t for t in tokens if _text._HAS_ALNUM.search(t)]


# --- n-grams ------------------------------------------------------------------------------------


def _grams(tokens: tuple[str, ...] | list[str], n: int) -> list[tuple[str, ...]]:
    return list(zip(*(tokens[k:] for k in range(n)), strict=False))


def _gram_chars(gram: tuple[str, ...]) -> int:
    return sum(map(len, gram)) + len(gram) - 1  # as if joined with single spaces


class NGrams:
    """Gopher's n-gram measures of one token sequence, skipping lengths that cannot repeat.

    Args:
        tokens: The words of a text.
    """

    def __init__(self, tokens: tuple[str, ...] | list[str]):
        self.tokens = tokens
        self.no_repeat_from: int | None = None  # the smallest n known to have no repeated n-gram

    def _none(self, n: int) -> bool:
        return self.no_repeat_from is not None and n >= self.no_repeat_from

    def _mark(self, n: int) -> None:
        if self.no_repeat_from is None or n < self.no_repeat_from:
            self.no_repeat_from = n

    def top_chars(self, n: int) -> int:
        """Characters covered by the most frequent n-gram (0 when no n-gram occurs twice)."""
        if self._none(n):
            return 0
        grams = Counter(_grams(self.tokens, n))
        if not grams:
            return 0
        gram, count = grams.most_common(1)[0]
        if count < 2:
            self._mark(n)
            return 0
        return _gram_chars(gram) * count

    def duplicated_chars(self, n: int) -> int:
        """Characters in n-grams that repeat an earlier n-gram, overlaps counted once (Gopher)."""
        if self._none(n):
            return 0
        grams = _grams(self.tokens, n)
        if len(set(grams)) == len(grams):
            self._mark(n)
            return 0
        seen: set[tuple[str, ...]] = set()
        chars, i = 0, 0
        while i < len(grams):
            gram = grams[i]
            if gram in seen:
                chars += _gram_chars(gram)
                i += n
            else:
                seen.add(gram)
                i += 1
        return chars


# --- word composition ---------------------------------------------------------------------------

# In ASCII text a word (a whitespace-separated token with a letter or digit) lacks a letter exactly when
# it is a token of digits and symbols with at least one digit.
_ASCII_NON_ALPHA_WORD = re.compile(r"(?<!\S)[^\sA-Za-z0-9]*[0-9][^\sA-Za-z]*(?!\S)")


def alpha_words(text: str, tokens: tuple[str, ...] | list[str]) -> int:
    """How many of ``tokens`` (``words(text)``) contain a letter (``str.isalpha``)."""
    if text.isascii():
        return len(tokens) - len(_ASCII_NON_ALPHA_WORD.findall(text))
    return sum(1 for t in tokens if any(c.isalpha() for c in t))


def latin_words(text: str, tokens: tuple[str, ...] | list[str]) -> tuple[str, ...] | list[str]:
    """``tokens`` without the CJK characters (all of them when the text has none)."""
    if not _text._CJK_CHAR.search(text):
        return tokens
    return [t for t in tokens if not _text.is_cjk(t)]


_ASCII_DIGIT = re.compile(r"[0-9]")


def has_digit(text: str) -> bool:
    """``any(c.isdigit() for c in text)`` (superscripts and other digits count), in C for ASCII text."""
    if text.isascii():
        return _ASCII_DIGIT.search(text) is not None
    return any(c.isdigit() for c in text)


def icase_guard(pattern: re.Pattern) -> Callable[[str], bool]:
    """A cheap test that is False only where ``pattern.search(text)`` finds nothing (run it when True).

    For a case-insensitive pattern written in lower case (so no ``\\S``/``\\W``/``\\D``/``\\B``), on ASCII
    text ``re.I`` equates exactly the ASCII upper and lower case letters (its four non-ASCII extras, such
    as the Kelvin sign, cannot occur), so the same pattern without ``re.I`` over ``text.lower()`` finds a
    match exactly when the original does, and sre searches it several times faster (its literal
    prefix scan works only without ``re.I``). Non-ASCII text, or a pattern this does not apply to: True.
    """
    source = pattern.pattern
    if not pattern.flags & re.I or not isinstance(source, str) or source != source.lower():
        return lambda text: True
    plain = re.compile(source, pattern.flags & ~re.I)

    def guard(text: str) -> bool:
        return not text.isascii() or plain.search(text.lower()) is not None

    return guard
