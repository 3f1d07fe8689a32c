"""Diversity: distinct-n, verb-object coverage, near-duplicate clusters and embedding spread.

- distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation
  Models"): unique n-grams over all n-grams of a set's instructions (and of its responses), for n = 1,
  2, 3. Words are CJK-aware (a Chinese character is a word), case-folded. A set of paraphrases scores
  low; 1.0 means no n-gram repeats anywhere. N-grams are counted as 64-bit hashes (``NGrams``), so
  chunk tasks count their own and the driver merges sorted arrays.
- Root verb and direct object of each instruction (Self-Instruct, Wang et al. 2023, Figure 2), by the
  light method of ``verbs.py``: the top verbs, their top objects, and the coverage (share of
  instructions with a verb).
- Near-duplicate clusters: MinHash (word 5-grams, character 3-grams for short or Chinese text) with the
  LSH banding of ``instructkit dedupe``, then the estimated Jaccard similarity of each candidate pair at
  ``near_threshold``; the largest clusters are listed with an example.
- With an encoder model (``encoder``: a MiniLM directory, ``instructkit model get all-minilm-l6-v2``):
  the spread of the instructions' embeddings (1 - mean pairwise cosine, computed from the mean vector in
  O(n)) and the number of clusters at cosine >= ``cluster_threshold`` (connected components, blocks of
  2,048 rows).
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np

from instructkit.arrays import unique
from instructkit.dedupe.shingle import fmix64
from instructkit.filters._text import words
from instructkit.quality.common import Item
from instructkit.quality.verbs import verb_object

NUM_PERM = 128  # MinHash permutations of the near-duplicate clusters
SEED = 1
_M = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the n-gram polynomial


class NGrams:
    """Distinct-n counts of many texts, mergeable: the n-grams are kept as 64-bit hashes.

    Each token (``words``, case-folded) is hashed once per instance (blake2b, 8 bytes: the same value
    in every process, so counts made in ``--workers`` processes or Ray tasks merge), an n-gram hash is
    the polynomial of its tokens' hashes under the MurmurHash3 finaliser, and the unique hashes are
    kept in sorted arrays (8 bytes per distinct n-gram, where a set of tuples took about 100). Two
    distinct n-grams count as one only when their 64-bit hashes collide: about one collision in
    3 x 10^5 runs that see 10^7 distinct n-grams, a change below the fourth decimal place reported.
    """

    def __init__(self, ns: tuple[int, ...] = (1, 2, 3)):
        self.ns = ns
        self.total = dict.fromkeys(ns, 0)
        self.done: dict[int, np.ndarray] = {n: np.empty(0, np.uint64) for n in ns}  # unique, sorted
        self.pending: dict[int, list[np.ndarray]] = {n: [] for n in ns}
        self._tokens: dict[str, int] = {}

    def __getstate__(self) -> dict:
        self.compact(force=True)
        return {"ns": self.ns, "total": self.total, "done": self.done}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, pending={n: [] for n in state["ns"]}, _tokens={})

    def _token(self, token: str) -> int:
        h = self._tokens.get(token)
        if h is None:
            digest = hashlib.blake2b(token.casefold().encode("utf-8", "surrogatepass"), digest_size=8).digest()
            h = self._tokens[token] = int.from_bytes(digest, "little")
        return h

    def add(self, texts: list[str]) -> None:
        """Count the n-grams of ``texts`` (an n-gram never spans two texts)."""
        hashes: list[int] = []
        lengths: list[int] = []
        for text in texts:
            toks = words(text)
            hashes.extend(map(self._token, toks))
            lengths.append(len(toks))
        tok = np.array(hashes, dtype=np.uint64)
        doc = np.repeat(np.arange(len(lengths)), lengths)
        for n in self.ns:
            self.total[n] += sum(max(k - n + 1, 0) for k in lengths)
            m = len(tok) - n + 1
            if m <= 0:
                continue
            with np.errstate(over="ignore"):
                h = tok[:m].copy()
                for k in range(1, n):
                    h = h * _M + tok[k : k + m]
                h = fmix64(h ^ np.uint64(n))
            self.pending[n].append(unique(h[doc[:m] == doc[n - 1 :]]))
        self.compact()

    def merge(self, other: NGrams) -> None:
        """Add ``other``'s counts (another chunk's) to these."""
        for n in self.ns:
            self.total[n] += other.total[n]
            self.pending[n].extend(other.pending[n])
            self.pending[n].append(other.done[n])
        self.compact()

    def compact(self, force: bool = False) -> None:
        """Fold pending hashes into the sorted unique array once they outgrow it (amortised n log n)."""
        for n in self.ns:
            waiting = sum(map(len, self.pending[n]))
            if waiting and (force or waiting > max(len(self.done[n]), 1 << 20)):
                self.done[n] = unique(np.concatenate([self.done[n], *self.pending[n]]))
                self.pending[n] = []

    def result(self) -> dict[str, float | None]:
        self.compact(force=True)
        t = self.total
        return {f"distinct_{n}": round(len(self.done[n]) / t[n], 4) if t[n] else None for n in self.ns}


def distinct_n(texts: list[str], ns: tuple[int, ...] = (1, 2, 3)) -> dict[str, float | None]:
    """``{"distinct_N": unique N-grams / all N-grams}`` over ``texts`` (None when no text has N words)."""
    counts = NGrams(ns)
    counts.add(texts)
    return counts.result()


def verb_counts(instructions: list[str]) -> tuple[Counter, Counter]:
    """``(pairs, status)``: how often each (verb, object) pair and each ``verb_object`` status occurs.

    Counters of consecutive chunks merge with ``Counter.update`` in chunk order: their insertion order
    (which breaks ties in the table) is then the first occurrence in the set, as in one pass.
    """
    pairs: Counter[tuple[str, str | None]] = Counter()
    status: Counter[str] = Counter()
    for text in instructions:
        verb, obj, why = verb_object(text)
        status[why] += 1
        if verb:
            pairs[(verb, obj)] += 1
    return pairs, status


def verb_table(pairs: Counter, status: Counter, *, top_verbs: int, top_objects: int) -> dict:
    """The Self-Instruct verb-object table from ``verb_counts``: top verbs with counts and their top objects."""
    verbs: Counter[str] = Counter()
    for (verb, _), c in pairs.items():
        verbs[verb] += c
    n = max(sum(status.values()), 1)
    table = []
    for verb, count in verbs.most_common(top_verbs):
        objs = Counter({o or "(none)": c for (v, o), c in pairs.items() if v == verb})
        table.append({"verb": verb, "count": count, "objects": [[o, c] for o, c in objs.most_common(top_objects)]})
    return {
        "coverage": round(status["ok"] / n, 4),
        "questions": round(status["question"] / n, 4),
        "unique_verbs": len(verbs),
        "unique_pairs": sum(1 for v, o in pairs if o),
        "top": table,
        "method": "light rule-based (see docs/quality.md): first-word imperative verb + head noun",
    }


def verb_objects(items: list[Item], *, top_verbs: int, top_objects: int) -> dict:
    """The Self-Instruct verb-object table of ``items``' instructions."""
    pairs, status = verb_counts([it.instruction for it in items])
    return verb_table(pairs, status, top_verbs=top_verbs, top_objects=top_objects)


def signatures(texts: list[str]) -> np.ndarray:
    """The MinHash signatures ``near_duplicates`` compares (a chunk's, concatenated in order, equal the set's)."""
    from instructkit.dedupe.minhash import texts_signatures

    return texts_signatures(texts, NUM_PERM, 5, 3, 10, SEED)


def near_duplicates(texts: list[str], *, threshold: float, top: int, sigs: np.ndarray | None = None) -> dict:
    """Clusters of near-duplicate texts (MinHash LSH at ``threshold``), largest first; ``sigs``: the
    texts' ``signatures`` when the chunk tasks made them."""
    from instructkit.dedupe.minhash import candidate_pairs, estimate, optimal_bands
    from instructkit.dedupe.unionfind import UnionFind

    if len(texts) < 2:
        return {"threshold": threshold, "clusters": 0, "records_in_clusters": 0, "share": 0.0, "top": []}
    if sigs is None:
        sigs = signatures(texts)
    bands, rows = optimal_bands(threshold, NUM_PERM)
    pairs = candidate_pairs(sigs, bands, rows)
    if len(pairs):
        pairs = pairs[estimate(sigs, pairs) >= threshold]
    uf = UnionFind(len(texts))
    uf.union_pairs(pairs)
    groups: dict[int, list[int]] = {}
    for i in unique(pairs.ravel()).tolist() if len(pairs) else []:
        groups.setdefault(uf.find(i), []).append(i)
    clusters = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    in_clusters = sum(len(g) for g in clusters)
    return {
        "threshold": threshold,
        "clusters": len(clusters),
        "records_in_clusters": in_clusters,
        "share": round(in_clusters / len(texts), 4),
        "top": [{"size": len(g), "members": g[:10], "example": texts[g[0]][:160]} for g in clusters[:top]],
    }


def embedding_spread(texts: list[str], encoder: str, *, threshold: float, batch_size: int = 32) -> dict:
    """Spread (1 - mean pairwise cosine) and cluster count of the texts' embeddings (imports torch)."""
    from instructkit.dedupe.semantic import similar_pairs
    from instructkit.dedupe.unionfind import UnionFind
    from instructkit.models import load_encoder

    emb = load_encoder(encoder, batch_size=batch_size, device="auto")(texts)
    n = len(emb)
    if n < 2:
        return {"encoder": encoder, "spread": None, "clusters": n, "threshold": threshold}
    total = emb.sum(axis=0)
    # sum over i != j of cos(i, j) = |sum v|^2 - n for unit vectors.
    mean_cos = (float(total @ total) - n) / (n * (n - 1))
    idx = np.arange(n)
    pairs, _ = similar_pairs(emb, idx, idx, threshold, same=True)
    uf = UnionFind(n)
    uf.union_pairs(pairs)
    clusters = len({uf.find(i) for i in range(n)})
    return {
        "encoder": encoder,
        "spread": round(1.0 - mean_cos, 4),
        "mean_cosine": round(mean_cos, 4),
        "clusters": clusters,
        "clusters_per_100": round(100 * clusters / n, 2),
        "threshold": threshold,
    }


def measure(items: list[Item], p, *, grams: dict[str, NGrams], verbs: tuple[Counter, Counter], sigs) -> dict:
    """The diversity section of quality.json, from the merged chunk counts (``tasks.Merged``)."""
    instructions = [it.instruction for it in items]
    out = {
        "distinct": {"instructions": grams["instructions"].result(), "responses": grams["responses"].result()},
        "verbs": verb_table(*verbs, top_verbs=p.top_verbs, top_objects=p.top_objects),
        "near_duplicates": near_duplicates(instructions, threshold=p.near_threshold, top=p.top_clusters, sigs=sigs),
        "embedding": None,
    }
    for cluster in out["near_duplicates"]["top"]:
        cluster["ids"] = [items[i].id for i in cluster.pop("members")]
    if p.encoder:
        out["embedding"] = embedding_spread(instructions, p.encoder, threshold=p.cluster_threshold)
    return out
