"""Union-find (disjoint sets) over record indices, with path halving and union by size (Tarjan 1975)."""

from __future__ import annotations

import numpy as np


class UnionFind:
    """Disjoint sets of the integers ``0 .. n-1`` (4-8 bytes per element in numpy arrays).

    Args:
        n: Number of elements.
    """

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int64)
        self.size = np.ones(n, dtype=np.int32)

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving keeps trees about log*(n) deep
            x = parent[x]
        return int(x)

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return ra

    def union_pairs(self, pairs: np.ndarray) -> None:
        """Union every ``(i, j)`` row of an n x 2 integer array."""
        for a, b in pairs.tolist():
            self.union(a, b)

    def groups(self, members: np.ndarray | None = None) -> list[np.ndarray]:
        """The sets with at least two elements (each sorted), in order of their smallest element.

        Args:
            members: Only these elements are grouped (default: all).
        """
        idx = np.arange(len(self.parent)) if members is None else np.asarray(members, dtype=np.int64)
        roots = np.array([self.find(int(i)) for i in idx], dtype=np.int64)
        order = np.lexsort((idx, roots))
        roots, idx = roots[order], idx[order]
        starts = np.flatnonzero(np.concatenate(([True], roots[1:] != roots[:-1])))
        out = [g for g in np.split(idx, starts[1:]) if len(g) > 1]
        out.sort(key=lambda g: int(g[0]))
        return out
