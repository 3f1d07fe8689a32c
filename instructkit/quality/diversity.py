"""Diversity: distinct-n, verb-object coverage, near-duplicate clusters and embedding spread.

- distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation
  Models"): unique n-grams over all n-grams of a set's instructions (and of its responses), for n = 1,
  2, 3. Words are CJK-aware (a Chinese character is a word), case-folded. A set of paraphrases scores
  low; 1.0 means no n-gram repeats anywhere.
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

from collections import Counter

import numpy as np

from instructkit.filters._text import words
from instructkit.quality.common import Item
from instructkit.quality.verbs import verb_object


def distinct_n(texts: list[str], ns: tuple[int, ...] = (1, 2, 3)) -> dict[str, float | None]:
    """``{"distinct_N": unique N-grams / all N-grams}`` over ``texts`` (None when no text has N words)."""
    seen: dict[int, set] = {n: set() for n in ns}
    total = dict.fromkeys(ns, 0)
    for text in texts:
        toks = [t.casefold() for t in words(text)]
        for n in ns:
            grams = toks if n == 1 else list(zip(*(toks[k:] for k in range(n)), strict=False))
            total[n] += len(grams)
            seen[n].update(grams)
    return {f"distinct_{n}": round(len(seen[n]) / total[n], 4) if total[n] else None for n in ns}


def verb_objects(items: list[Item], *, top_verbs: int, top_objects: int) -> dict:
    """The Self-Instruct verb-object table: top verbs with counts and their top objects."""
    pairs: Counter[tuple[str, str | None]] = Counter()
    status: Counter[str] = Counter()
    for it in items:
        verb, obj, why = verb_object(it.instruction)
        status[why] += 1
        if verb:
            pairs[(verb, obj)] += 1
    verbs: Counter[str] = Counter()
    for (verb, _), c in pairs.items():
        verbs[verb] += c
    n = max(len(items), 1)
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


def near_duplicates(texts: list[str], *, threshold: float, top: int, seed: int = 1) -> dict:
    """Clusters of near-duplicate texts (MinHash LSH at ``threshold``), largest first."""
    from instructkit.dedupe.minhash import candidate_pairs, estimate, optimal_bands, texts_signatures
    from instructkit.dedupe.unionfind import UnionFind

    num_perm = 128
    if len(texts) < 2:
        return {"threshold": threshold, "clusters": 0, "records_in_clusters": 0, "share": 0.0, "top": []}
    sigs = texts_signatures(texts, num_perm, 5, 3, 10, seed)
    bands, rows = optimal_bands(threshold, num_perm)
    pairs = candidate_pairs(sigs, bands, rows)
    if len(pairs):
        pairs = pairs[estimate(sigs, pairs) >= threshold]
    uf = UnionFind(len(texts))
    uf.union_pairs(pairs)
    groups: dict[int, list[int]] = {}
    for i in np.unique(pairs).tolist() if len(pairs) else []:
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


def measure(items: list[Item], p) -> dict:
    """The diversity section of quality.json."""
    instructions = [it.instruction for it in items]
    responses = [it.response for it in items]
    out = {
        "distinct": {
            "instructions": distinct_n(instructions),
            "responses": distinct_n(responses),
        },
        "verbs": verb_objects(items, top_verbs=p.top_verbs, top_objects=p.top_objects),
        "near_duplicates": near_duplicates(instructions, threshold=p.near_threshold, top=p.top_clusters),
        "embedding": None,
    }
    for cluster in out["near_duplicates"]["top"]:
        cluster["ids"] = [items[i].id for i in cluster.pop("members")]
    if p.encoder:
        out["embedding"] = embedding_spread(instructions, p.encoder, threshold=p.cluster_threshold)
    return out
