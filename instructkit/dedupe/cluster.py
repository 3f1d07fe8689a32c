"""From candidate pairs to removal decisions: contamination, then exact, near and semantic clusters.

Each stage sees only the records still alive after the previous ones. Inside a connected component
(union-find over pairs at or above the threshold) survivors are chosen greedily by the keeper policy:
the best remaining record is kept and absorbs every remaining member whose similarity *to it* reaches
the threshold; the rest start the next round. So a removed record always resembles its keeper by at
least the threshold (exactly, under ``--verify``), never only through a chain A~B~C.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from instructkit.arrays import unique, unique_counts
from instructkit.dedupe.keep import priority
from instructkit.dedupe.unionfind import UnionFind

REASONS = ("", "contaminated", "exact_duplicate", "near_duplicate", "semantic_duplicate")
STAGES = {2: "exact", 3: "near", 4: "semantic"}


class Plan:
    """Per input record: removed or not, why, by which record, how similar; plus the clusters.

    Memory: 13 bytes per input record (int8 reason, int64 target, float32 similarity).
    """

    def __init__(self, n_in: int):
        self.reason = np.zeros(n_in, dtype=np.int8)
        self.target = np.full(n_in, -1, dtype=np.int64)
        self.sim = np.zeros(n_in, dtype=np.float32)
        self.matched = np.full(n_in, -1, dtype=np.int64)  # set when a chain was followed
        self.clusters: list[dict] = []  # {"stage", "kept", "members", "similarity"} (indices)

    @property
    def alive(self) -> np.ndarray:
        return self.reason == 0

    def remove(self, i: int, code: int, target: int, sim: float) -> None:
        self.reason[i], self.target[i], self.sim[i] = code, target, sim

    def resolve_chains(self) -> None:
        """Point each removal at the record that survives (an exact keeper may be a near duplicate).

        An exact duplicate takes the similarity of the next hop: its normalised text, and so its
        shingle set, equals its exact keeper's. Other hops keep their own similarity and record the
        record they matched in ``matched``.
        """
        n_in = len(self.reason)
        for i in np.flatnonzero(self.reason > 1).tolist():
            t, first = int(self.target[i]), int(self.target[i])
            sim = float(self.sim[i])
            exact = self.reason[i] == 2
            while t < n_in and self.reason[t] > 1:
                if exact and self.reason[t] != 2:
                    sim, exact = float(self.sim[t]), False
                t = int(self.target[t])
            if t != first:
                self.target[i], self.sim[i], self.matched[i] = t, sim, first

    def final_sizes(self) -> dict[int, int]:
        """Sizes of the final clusters: ``{size: count}``, members counted with their survivor.

        A final cluster is a survivor with every record removed as its duplicate by any stage (the
        union of all duplicate relations, after ``resolve_chains``): a record that kept an exact
        cluster and then lost to a near duplicate puts its whole exact cluster into the near one,
        so each removed record belongs to exactly one final cluster. Contaminated records (their
        match is in an ``--against`` set) are in none.
        """
        survivors = self.target[self.reason > 1]
        per_survivor = unique_counts(survivors)[1] + 1
        sizes, counts = unique_counts(per_survivor)
        return dict(zip(sizes.tolist(), counts.tolist(), strict=True))


def star_clusters(
    order: np.ndarray, sim_to: Callable[[int, np.ndarray], np.ndarray], threshold: float
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Greedy keeper-centred clusters of one component: ``[(kept, removed, similarities)]``.

    Args:
        order: The same indices, best keeper first.
        sim_to: ``sim_to(k, others)`` -> similarity of each of ``others`` to ``k``.
        threshold: Minimum similarity to the keeper for removal.
    """
    out = []
    rest = np.asarray(order)
    while len(rest) > 1:
        k, others = int(rest[0]), rest[1:]
        sims = np.asarray(sim_to(k, others), dtype=np.float64)  # float32(0.8) > 0.8: compare in float64
        hit = sims >= threshold
        if hit.any():
            out.append((k, others[hit], sims[hit]))
        rest = others[~hit]
    return out


def contamination(plan: Plan, matches: dict[int, tuple[int, float]]) -> None:
    """Remove input records that match an ``--against`` record (``{input: (against, similarity)}``)."""
    for i, (j, s) in sorted(matches.items()):
        if plan.reason[i] == 0:
            plan.remove(i, 1, j, s)


def best_matches(pairs: np.ndarray, sims: np.ndarray, n_in: int, out: dict[int, tuple[int, float]]) -> None:
    """Fold cross pairs (one input, one against record) into ``out``, keeping the most similar match."""
    for (a, b), s in zip(pairs.tolist(), sims.tolist(), strict=True):
        i, j = (a, b) if a < n_in else (b, a)
        if i < n_in <= j and (i not in out or s > out[i][1]):
            out[i] = (j, s)


def cluster_stage(
    plan: Plan,
    code: int,
    groups: list[np.ndarray],
    sim_to,
    threshold: float,
    policy: str,
    lengths: np.ndarray,
    values: np.ndarray | None,
) -> None:
    """Pick keepers in each group, remove the rest with reason ``REASONS[code]``, record the clusters."""
    for group in groups:
        order = priority(group, policy, lengths, values)
        for kept, removed, sims in star_clusters(order, sim_to, threshold):
            for r, s in zip(removed.tolist(), sims.tolist(), strict=True):
                plan.remove(r, code, kept, s)
            plan.clusters.append(
                {
                    "stage": STAGES[code],
                    "kept": kept,
                    "members": removed.tolist(),
                    "similarity": [round(float(s), 4) for s in sims],
                }
            )


def components(pairs: np.ndarray, n: int) -> list[np.ndarray]:
    """Connected components (two or more records) of the graph whose edges are ``pairs``.

    The union-find runs over the records that are in a pair only (renumbered ``0 .. m-1``), so it
    costs 12 bytes per paired record, not per record of the set (``n`` is kept for the callers).
    """
    if not len(pairs):
        return []
    nodes = unique(pairs)
    uf = UnionFind(len(nodes))
    uf.union_pairs(np.searchsorted(nodes, pairs))
    return [nodes[g] for g in uf.groups()]
