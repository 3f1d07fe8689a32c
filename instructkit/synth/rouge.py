"""Fast ROUGE-L F-measure of one instruction against a growing pool of thousands.

Self-Instruct and Alpaca reject a new instruction whose ROUGE-L F with any instruction in the pool
exceeds 0.7. Alpaca scored each candidate against the whole pool with ``rouge_score`` in a process
pool (a Python dynamic-programming LCS per pair: about 20 x 20 cell updates per pair). Here:

- the pool is tokenised once, exactly as ``rouge_score`` tokenises (lower case, runs of
  ``[^a-z0-9]`` split, no stemming), and tokens become small integers;
- the LCS length uses the bit-parallel algorithm of Allison and Dix (1986) / Hyyro (2004) on Python
  integers: one pass over the candidate's tokens with four integer operations each;
- pairs whose length bound ``2 * min(m, n) / (m + n)`` cannot beat the best score so far are skipped.

The F-measure equals ``rouge_score.rouge_scorer.RougeScorer(["rougeL"]).score(a, b)["rougeL"].fmeasure``
(tested on examples).
"""

from __future__ import annotations

import re

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """``rouge_score``'s default tokenizer without stemming."""
    return [t for t in _NON_ALNUM.sub(" ", text.lower()).split() if t]


def lcs_length(a: list, b: list) -> int:
    """Length of the longest common subsequence of two token lists (bit-parallel)."""
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    masks: dict = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    s = full
    for tok in b:
        m = masks.get(tok)
        if m is None:
            continue
        u = s & m
        s = ((s + u) | (s - u)) & full
    return len(a) - bin(s).count("1")


def f_measure(lcs: int, m: int, n: int) -> float:
    """ROUGE-L F1 (``rouge_score`` uses beta = 1): 2PR / (P + R) = 2 * lcs / (m + n)."""
    if not m or not n or not lcs:
        return 0.0
    p, r = lcs / n, lcs / m
    return 2 * p * r / (p + r)


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F-measure of two texts."""
    ta, tb = tokenize(a), tokenize(b)
    return f_measure(lcs_length(ta, tb), len(ta), len(tb))


class RougePool:
    """A pool of instructions, pre-tokenised, with a fast best-match query.

    Example:
        >>> pool = RougePool(["Name three rivers in Europe."])
        >>> score, index = pool.best("Name three rivers in Asia.")
        >>> round(score, 2), index
        (0.8, 0)
    """

    def __init__(self, texts: list[str] = ()):
        self.texts: list[str] = []
        self._vocab: dict[str, int] = {}
        self._tokens: list[list[int]] = []
        for t in texts:
            self.add(t)

    def __len__(self) -> int:
        return len(self.texts)

    def _ids(self, text: str) -> list[int]:
        vocab = self._vocab
        return [vocab.setdefault(t, len(vocab)) for t in tokenize(text)]

    def add(self, text: str) -> None:
        self.texts.append(text)
        self._tokens.append(self._ids(text))

    def best(self, text: str) -> tuple[float, int | None]:
        """``(score, index)`` of the most similar pool entry; ``(0.0, None)`` for an empty pool."""
        cand = self._ids(text)
        n = len(cand)
        best, best_i = 0.0, None
        if not n:
            return best, best_i
        # Candidate masks once: the LCS loop then runs over each pool entry's tokens.
        masks: dict[int, int] = {}
        for i, tok in enumerate(cand):
            masks[tok] = masks.get(tok, 0) | (1 << i)
        full = (1 << n) - 1
        for idx, other in enumerate(self._tokens):
            m = len(other)
            if not m or 2 * min(m, n) / (m + n) <= best:  # cannot beat the best so far
                continue
            s = full
            for tok in other:
                mk = masks.get(tok)
                if mk is not None:
                    u = s & mk
                    s = ((s + u) | (s - u)) & full
            score = f_measure(n - bin(s).count("1"), m, n)
            if score > best:
                best, best_i = score, idx
        return best, best_i
