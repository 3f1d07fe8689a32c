"""The repetition rule's n-gram checks (Gopher): the most frequent n-gram's share, duplicated n-grams' share.

``ngram_first_over`` runs the rule's checks in order and returns the first that fails: in C
(``_speedups.first_over``) when the extension is built, else with ``NGrams`` below, its Python twin.
Both use one fact Gopher's rules imply: if no n-gram repeats, no longer one does (a repeated m-gram
starts with a repeated n-gram), so once a length has no repeat every longer length scores 0 without
being built. tests/filters/test_filter_analysis.py checks both against a plain reference.
"""

from __future__ import annotations

from collections import Counter

from instructkit.filters.analysis import _speedups


def _zip(tokens: tuple[str, ...] | list[str], n: int):
    return zip(*(tokens[k:] for k in range(n)), strict=False)  # the n-grams, built in C


def _grams(tokens: tuple[str, ...] | list[str], n: int) -> list[tuple[str, ...]]:
    return list(_zip(tokens, n))


def _gram_chars(gram: tuple[str, ...]) -> int:
    return sum(map(len, gram)) + len(gram) - 1  # as if joined with single spaces


class NGrams:
    """Gopher's n-gram measures of one token sequence, skipping lengths that cannot repeat.

    ``top_share`` and ``dup_share`` answer the rule's question (does the share exceed ``frac``?) and skip
    the counting where a bound settles it: an n-gram occurs at most as often as its m-gram prefix (m < n)
    and repeats at most where that prefix repeats, and covers at most the widest n consecutive tokens.

    Args:
        tokens: The words of a text.
    """

    def __init__(self, tokens: tuple[str, ...] | list[str]):
        self.tokens = tokens
        self.no_repeat_from: int | None = None  # the smallest n known to have no repeated n-gram
        self._top: dict[int, int] = {}  # n -> occurrences of the most frequent n-gram
        self._repeats: dict[int, int] = {}  # n -> positions whose n-gram occurred before
        self._longest: int | None = None  # characters of the longest token

    def _none(self, n: int) -> bool:
        return self.no_repeat_from is not None and n >= self.no_repeat_from

    def _mark(self, n: int) -> None:
        if self.no_repeat_from is None or n < self.no_repeat_from:
            self.no_repeat_from = n

    def _width(self, n: int) -> int:
        """At least the characters of any n-gram of these tokens (joined with single spaces): n of the
        longest token and n - 1 spaces."""
        if self._longest is None:
            self._longest = max(map(len, self.tokens), default=0)
        return n * (self._longest + 1) - 1

    def _repeat_count(self, n: int) -> int:
        if n not in self._repeats:
            self._repeats[n] = max(len(self.tokens) - n + 1, 0) - len(set(_zip(self.tokens, n)))
            if not self._repeats[n]:
                self._mark(n)
        return self._repeats[n]

    def top_chars(self, n: int) -> int:
        """Characters covered by the most frequent n-gram (0 when no n-gram occurs twice)."""
        if self._none(n):
            return 0
        grams = Counter(_zip(self.tokens, n))
        self._repeats[n] = max(len(self.tokens) - n + 1, 0) - len(grams)
        if not grams:
            return 0
        if not self._repeats[n]:  # every n-gram once
            self._top[n] = 1
            self._mark(n)
            return 0
        gram, count = grams.most_common(1)[0]
        self._top[n] = count
        return _gram_chars(gram) * count

    def top_share(self, n: int, n_chars: int, frac: float) -> float:
        """``top_chars(n) / n_chars``, or 0.0 where that cannot exceed ``frac``."""
        if self._none(n):
            return 0.0
        bounds = [c for m, c in self._top.items() if m < n] + [r + 1 for m, r in self._repeats.items() if m < n]
        if bounds and min(bounds) * self._width(n) / n_chars <= frac:
            return 0.0
        return self.top_chars(n) / n_chars

    def duplicated_chars(self, n: int) -> int:
        """Characters in n-grams that repeat an earlier n-gram, overlaps counted once (Gopher)."""
        if self._none(n) or not self._repeat_count(n):
            return 0
        grams = _grams(self.tokens, n)
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

    def dup_share(self, n: int, n_chars: int, frac: float) -> float:
        """``duplicated_chars(n) / n_chars``, or 0.0 where that cannot exceed ``frac``: each counted
        n-gram sits where an earlier one repeats, so at most ``repeats * width`` characters."""
        if self._none(n):
            return 0.0
        width = self._width(n)
        known = [r for m, r in self._repeats.items() if m < n]
        if known and min(known) * width / n_chars <= frac:
            return 0.0
        if self._repeat_count(n) * width / n_chars <= frac:
            return 0.0
        return self.duplicated_chars(n) / n_chars


def ngram_first_over(
    tokens: list[str], n_chars: int, top: list[tuple[int, float]], dup: list[tuple[int, float]], *, python: bool = False
) -> tuple[str, int, float] | None:
    """The first of the repetition rule's n-gram checks that fails: ``("top" | "dup", i, share)`` where
    ``top[i]`` / ``dup[i]`` is ``(n, frac)`` and ``share`` (the most frequent n-gram's characters; the
    duplicated n-gram characters; over ``n_chars``) exceeds ``frac``; None when all pass. Checks run in
    the order given, ``top`` first. In C when ``_speedups`` is built (about 10x faster), else ``NGrams``;
    ``python=True`` forces the Python path (tests compare the two)."""
    if _speedups is not None and not python:
        return _speedups.first_over(tokens, n_chars, top, dup)
    grams = NGrams(tokens)
    for kind, checks, share_of in (("top", top, grams.top_share), ("dup", dup, grams.dup_share)):
        for i, (n, frac) in enumerate(checks):
            share = share_of(n, n_chars, frac)  # 0.0 where a bound shows it is <= frac
            if share > frac:
                return kind, i, share
    return None
