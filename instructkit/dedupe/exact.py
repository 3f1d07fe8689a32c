"""Exact duplicates: a 128-bit hash of the normalised text, grouped by sorting.

The digests live in two ``array('Q')`` columns (16 bytes per record), not in a dict of Python bytes
(about 100 bytes per entry): a million records cost 16 MB.
"""

from __future__ import annotations

from array import array

import numpy as np
import xxhash

from instructkit.dedupe.normalize import normalize


class Digests:
    """Collects one 128-bit xxh3 digest per record, in input order.

    Args:
        case: Fold case before hashing.
        whitespace: Collapse whitespace before hashing.
        punctuation: Fold punctuation and symbols to spaces before hashing.
    """

    def __init__(self, *, case: bool = True, whitespace: bool = True, punctuation: bool = True):
        self.opts = {"case": case, "whitespace": whitespace, "punctuation": punctuation}
        self.hi, self.lo = array("Q"), array("Q")

    def add(self, text: str) -> None:
        d = xxhash.xxh3_128_intdigest(normalize(text, **self.opts).encode("utf-8"))
        self.hi.append(d >> 64)
        self.lo.append(d & 0xFFFFFFFFFFFFFFFF)

    def __len__(self) -> int:
        return len(self.hi)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.frombuffer(self.hi, dtype=np.uint64), np.frombuffer(self.lo, dtype=np.uint64)


_EMPTY = xxhash.xxh3_128_intdigest(b"")
EMPTY_HI, EMPTY_LO = np.uint64(_EMPTY >> 64), np.uint64(_EMPTY & 0xFFFFFFFFFFFFFFFF)


def nonempty(hi: np.ndarray, lo: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The ``members`` whose normalised text is not empty (empty texts are nobody's duplicate:
    records with an empty prompt or answer are the filter stage's business)."""
    return members[(hi[members] != EMPTY_HI) | (lo[members] != EMPTY_LO)]


def exact_groups(hi: np.ndarray, lo: np.ndarray, members: np.ndarray) -> list[np.ndarray]:
    """Groups (two or more, each sorted by index) of non-empty ``members`` whose digests are equal."""
    members = nonempty(hi, lo, np.asarray(members, dtype=np.int64))
    if not len(members):
        return []
    order = np.lexsort((members, lo[members], hi[members]))
    m = members[order]
    h, low = hi[m], lo[m]
    new = np.concatenate(([True], (h[1:] != h[:-1]) | (low[1:] != low[:-1])))
    starts = np.flatnonzero(new)
    sizes = np.diff(np.concatenate((starts, [len(m)])))
    return [m[s : s + z] for s, z in zip(starts[sizes > 1], sizes[sizes > 1], strict=True)]


def matches(hi: np.ndarray, lo: np.ndarray, queries: np.ndarray, refs: np.ndarray) -> dict[int, int]:
    """For each query index whose digest equals some reference's: ``{query: first such reference}``."""
    table: dict[tuple[int, int], int] = {}
    queries, refs = nonempty(hi, lo, queries), nonempty(hi, lo, refs)
    for r in refs.tolist():
        table.setdefault((int(hi[r]), int(lo[r])), r)
    out = {}
    for q in queries.tolist():
        r = table.get((int(hi[q]), int(lo[q])))
        if r is not None:
            out[q] = r
    return out
