"""``dedupe``: exact, near-duplicate (MinHash LSH) and semantic deduplication, and decontamination.

Two passes, so memory is bounded by the signatures, not by the text (about 0.7 KB per record at 128
permutations; see ``scan``; past ``--memory-budget`` the signatures, ids and candidate pairs are kept
on disk, ``spill``, and about 60 bytes per record remain): pass 1 computes digests, signatures and
embeddings keyed by record index and decides every removal; pass 2 re-reads the input and writes kept
and rejected records.
``--verify`` adds a pass that re-reads only the records in candidate pairs to compute their true
Jaccard similarity.

Stage order: ``--against`` contamination, then exact, then near (MinHash), then semantic; each sees
only the records that survived the previous ones.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instructkit.arrays import unique
from instructkit.dedupe.cluster import Plan, best_matches, cluster_stage, components, contamination
from instructkit.dedupe.keep import parse_keep
from instructkit.dedupe.normalize import FIELDS
from instructkit.dedupe.spill import Spill, maybe_spill, parse_size
from instructkit.dedupe.write import write_records
from instructkit.errors import ConfigError
from instructkit.params import Executor, SetOutput, Workers, recorded
from instructkit.registry import Result
from instructkit.shards import ShardSet, ShardWriter, dumps

MODES = ("exact", "minhash", "semantic")
# Band/row choice weights: every candidate is checked afterwards (estimate or --verify), so a false
# positive costs only time while a false negative is lost: weigh misses 19x (0.8 -> 16 bands x 8 rows).
FP_WEIGHT, FN_WEIGHT = 0.05, 0.95


def _help(text: str) -> dict:
    return {"help": text}


@dataclass(kw_only=True)
class DedupeParams(SetOutput, Workers, Executor):
    """Every knob of ``instructkit dedupe`` (YAML keys, ``--set`` keys and flags)."""

    mode: list[str] = field(
        default_factory=lambda: ["exact", "minhash"],
        metadata={"help": "exact, minhash, semantic; combined in that order", "flags": ("-m",)},
    )
    fields: str = field(default="conversation", metadata=_help("what is compared: prompt, response, conversation"))
    threshold: float = field(
        default=0.8,
        metadata={
            "help": "Jaccard similarity at or above which records are near duplicates (minhash)",
            "flags": ("-t",),
        },
    )
    num_perm: int = field(default=128, metadata=_help("MinHash permutations (4 bytes each per record)"))
    ngram: int = field(default=5, metadata=_help("words per shingle"))
    char_ngram: int = field(
        default=3, metadata=_help("characters per shingle for Chinese/Japanese and for texts shorter than ngram words")
    )
    min_words: int = field(default=10, metadata=_help("texts with fewer words are shingled by characters"))
    bands: int | None = field(default=None, metadata=_help("LSH bands (default: chosen from the threshold)"))
    rows: int | None = field(default=None, metadata=_help("rows per band (default: chosen with bands)"))
    verify: bool = field(
        default=True, metadata=_help("check candidates' true Jaccard similarity (off: trust the MinHash estimate)")
    )
    keep: str = field(default="first", metadata=_help("survivor: first, longest, highest:<meta key>"))
    fold_case: bool = field(default=True, metadata=_help("exact: fold case"))
    fold_whitespace: bool = field(default=True, metadata=_help("exact: collapse whitespace"))
    fold_punctuation: bool = field(default=True, metadata=_help("exact: fold punctuation and symbols"))
    seed: int = field(default=1, metadata=_help("seed of the MinHash permutations"))
    against: list[str] = field(
        default_factory=list, metadata=_help("sets whose near duplicates are removed from the input (decontamination)")
    )
    model: str | None = field(
        default=None,
        metadata=_help("semantic: encoder directory or hub id (default: all-MiniLM-L6-v2 from its package)"),
    )
    semantic_threshold: float = field(
        default=0.8, metadata=_help("semantic: cosine similarity threshold (0.8 is fitted to MiniLM: docs/dedupe.md)")
    )
    batch_size: int = field(default=32, metadata=_help("semantic: texts per forward pass"))
    max_length: int = field(default=256, metadata=_help("semantic: tokens per text"))
    memory_budget: str = field(
        default="4GB",
        metadata={
            "help": "above this estimate of pass-1 memory (ids and signatures: ~0.6 KB per record at 128 "
            "permutations), keep them and the candidate pairs on disk instead (0: always; same output)",
            "record": False,
        },
    )
    spill_dir: str | None = field(
        default=None,
        metadata={"help": "directory for the on-disk files (default: the output's staging directory)", "record": False},
    )

    def __post_init__(self) -> None:
        if isinstance(self.mode, str):
            self.mode = [m.strip() for m in self.mode.split(",") if m.strip()]
        bad = [m for m in self.mode if m not in MODES]
        if bad or not self.mode:
            raise ConfigError(
                f"unknown mode {', '.join(bad) or '(none)'}",
                hint=f"use one or more of {', '.join(MODES)}, comma-separated (e.g. --mode exact,minhash)",
            )
        self.mode = [m for m in MODES if m in self.mode]  # canonical order: exact, then near
        if self.fields not in FIELDS:
            raise ConfigError(f"unknown fields {self.fields!r}", hint=f"use one of {', '.join(FIELDS)}")
        for name, lo in (
            ("num_perm", 2),
            ("ngram", 1),
            ("char_ngram", 1),
            ("min_words", 0),
            ("batch_size", 1),
            ("max_length", 1),
        ):
            if getattr(self, name) < lo:
                raise ConfigError(f"{name} must be at least {lo}, got {getattr(self, name)}")
        for name in ("threshold", "semantic_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if (self.bands is None) != (self.rows is None):
            raise ConfigError("give both bands and rows, or neither", hint="e.g. --bands 16 --rows 8")
        if self.bands is not None and (self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm):
            raise ConfigError(
                f"bands x rows = {self.bands} x {self.rows} must be positive and at most num_perm ({self.num_perm})"
            )
        parse_keep(self.keep)
        parse_size(self.memory_budget)
        super().__post_init__()


def _bands_rows(p: DedupeParams) -> tuple[int, int]:
    from instructkit.dedupe.minhash import optimal_bands

    if p.bands is not None:
        return p.bands, p.rows
    return optimal_bands(p.threshold, p.num_perm, FP_WEIGHT, FN_WEIGHT)


def _ray_map_fn(p: DedupeParams):
    """``ordered_map`` on Ray tasks for ``--executor ray`` (banding, semantic row blocks); None: this process."""
    if p.executor != "ray":
        return None
    from functools import partial

    from instructkit.executors import ordered_map

    return partial(ordered_map, executor="ray", workers=p.workers, address=p.ray_address)


def _near_pairs(sc, src, against, p: DedupeParams, stats: dict, spill: Spill | None = None):
    """Candidate pairs at or above the threshold, their similarities, and a ``sim_to`` for keepers.

    With ``spill``, candidate pairs come back from disk in sorted chunks and only those whose estimate
    can reach the threshold are kept in memory (the same pairs, in the same order, as without).
    """
    from instructkit.dedupe.minhash import candidate_pairs, estimate
    from instructkit.dedupe.scan import load_shingles

    bands, rows = _bands_rows(p)
    # Under Ray each band is grouped by its keys in a task; the driver collects the pairs.
    found = candidate_pairs(sc.sigs, bands, rows, sc.nonempty, spill=spill, map_fn=_ray_map_fn(p))
    # With --verify, skip exact checks of pairs whose estimate is 4 standard errors below the threshold.
    slack = 4 * math.sqrt(p.threshold * (1 - p.threshold) / p.num_perm) if p.verify else 0.0
    total, kept, kept_est = 0, [np.empty((0, 2), dtype=np.int64)], [np.empty(0, dtype=np.float32)]
    for pairs in [found] if spill is None else found:
        pairs = pairs[pairs[:, 0] < sc.n_in]  # against x against pairs are never needed
        est = estimate(sc.sigs, pairs)
        total += len(pairs)
        near = est >= p.threshold - slack
        kept.append(pairs[near])
        kept_est.append(est[near])
    pairs, est = np.concatenate(kept), np.concatenate(kept_est)
    stats.update(bands=bands, rows=rows, candidate_pairs=total)
    if p.verify:
        sh = load_shingles(src, against, p, unique(pairs)) if len(pairs) else {}

        def jac(a: int, b: int) -> float:
            x, y = sh[a], sh[b]
            inter = len(np.intersect1d(x, y, assume_unique=True))
            union = len(x) + len(y) - inter
            return inter / union if union else 1.0

        sims = np.array([jac(a, b) for a, b in pairs.tolist()], dtype=np.float64)
        stats["verified_pairs"] = int(len(pairs))

        def sim_to(k: int, others: np.ndarray) -> np.ndarray:
            return np.array([jac(k, o) for o in others.tolist()], dtype=np.float64)
    else:
        sims = est

        def sim_to(k: int, others: np.ndarray) -> np.ndarray:
            return estimate(sc.sigs, np.stack((np.full(len(others), k), others), axis=1))

    ok = sims >= p.threshold
    stats["pairs_at_threshold"] = int(ok.sum())
    return pairs[ok], sims[ok], sim_to


def plan(src: ShardSet, against: list[ShardSet], p: DedupeParams, *, workers: int = 1, spill: Spill | None = None):
    """Pass 1 (and the --verify pass): decide every removal. Returns ``(scan, plan, stats)``.

    With ``spill`` (``spill.maybe_spill``), ids, signatures and candidate pairs are kept in files there.
    """
    from instructkit.dedupe.exact import exact_groups, matches
    from instructkit.dedupe.scan import scan

    embedder = None
    if "semantic" in p.mode and p.executor == "local":
        from instructkit.dedupe.semantic import Embedder

        embedder = Embedder(p.model, batch_size=p.batch_size, max_length=p.max_length)
    if embedder is None and (p.executor != "local" or workers > 1):
        # Parsing in the tasks too (pscan); local semantic mode embeds in this process, so it scans here.
        from instructkit.dedupe.pscan import scan_parallel

        sc = scan_parallel(src, against, p, executor=p.executor, workers=workers, address=p.ray_address, spill=spill)
        if "semantic" in p.mode:  # --executor ray: the embeddings come from model actors
            from instructkit.dedupe.semantic import embed_on_actors

            sc.emb = embed_on_actors([src, *against], p, sc.n, workers=workers, address=p.ray_address)
    else:
        sc = scan(src, against, p, workers=workers, embedder=embedder, spill=spill)
    n_in, n = sc.n_in, sc.n
    pl = Plan(n_in)
    policy, _ = parse_keep(p.keep)
    stats: dict = {}
    cross: dict[int, tuple[int, float]] = {}
    inner = np.empty((0, 2), dtype=np.int64)
    sim_to = None
    if "minhash" in p.mode:
        pairs, sims, sim_to = _near_pairs(sc, src, against, p, stats, spill)
        is_cross = pairs[:, 1] >= n_in
        best_matches(pairs[is_cross], sims[is_cross], n_in, cross)
        inner = pairs[~is_cross]
    if against and "exact" in p.mode:
        hi, lo = sc.digests.arrays()
        for i, j in matches(hi, lo, np.arange(n_in), np.arange(n_in, n)).items():
            cross[i] = (j, 1.0)
    if against and "semantic" in p.mode:
        from instructkit.dedupe.semantic import similar_pairs

        sp, ss = similar_pairs(sc.emb, np.arange(n_in), np.arange(n_in, n), p.semantic_threshold, map_fn=_ray_map_fn(p))
        best_matches(sp, ss, n_in, cross)
    contamination(pl, cross)
    if "exact" in p.mode:
        hi, lo = sc.digests.arrays()
        groups = exact_groups(hi, lo, np.flatnonzero(pl.alive))
        cluster_stage(pl, 2, groups, lambda k, o: np.ones(len(o)), 1.0, policy, sc.lengths, sc.values)
    if "minhash" in p.mode:
        alive = pl.alive
        inner = inner[alive[inner[:, 0]] & alive[inner[:, 1]]]
        cluster_stage(pl, 3, components(inner, n_in), sim_to, p.threshold, policy, sc.lengths, sc.values)
    if "semantic" in p.mode:
        from instructkit.dedupe.semantic import similar_pairs

        idx = np.flatnonzero(pl.alive)
        sp, _ = similar_pairs(sc.emb, idx, idx, p.semantic_threshold, same=True, map_fn=_ray_map_fn(p))
        cluster_stage(
            pl,
            4,
            components(sp, n_in),
            lambda k, o: sc.emb[o] @ sc.emb[k],
            p.semantic_threshold,
            policy,
            sc.lengths,
            sc.values,
        )
    pl.resolve_chains()
    return sc, pl, stats


def run(inputs: list[str], out: Path, p: DedupeParams) -> Result:
    """Deduplicate ``inputs[0]`` into a new version under ``out`` (the registered ``dedupe`` stage)."""
    writer = dedupe_set(inputs[0], out, p)
    st = writer.manifest.get("stats", {})
    sizes = st.get("cluster_sizes", {})
    summary = {
        "mode": ",".join(p.mode),
        "clusters": f"{st.get('dedupe', {}).get('clusters', 0):,}"
        + (f" (sizes {', '.join(f'{k}: {v}' for k, v in list(sizes.items())[:6])})" if sizes else ""),
    }
    if "bands" in st.get("dedupe", {}):
        d = st["dedupe"]
        summary["lsh"] = f"{d['bands']} bands x {d['rows']} rows, {d['candidate_pairs']:,} candidate pairs"
    return Result(writer.path, writer.manifest, summary)


def dedupe_set(inp: str | Path, output: str | Path, p: DedupeParams) -> ShardWriter:
    """Deduplicate the set ``inp`` into a new version under ``output``; returns the committed writer."""
    src = ShardSet(inp)
    against = [ShardSet(a) for a in p.against]
    n = len(src) + sum(len(a) for a in against)
    per_record = 100 + (4 * p.num_perm if "minhash" in p.mode else 0)  # id, length, plan; the signature
    with (
        _ray_session(p),
        ShardWriter(output, stage="dedupe", params=recorded(p), inputs=[src, *against], **p.writer_options()) as writer,
        maybe_spill(n * per_record, p.memory_budget, p.spill_dir or writer.tmp) as spill,
    ):
        sc, pl, stats = plan(src, against, p, workers=p.workers, spill=spill)
        # Pass 2 (dedupe.write) in tasks; local semantic mode holds a model here, so it writes in this process.
        workers = 1 if "semantic" in p.mode and p.executor == "local" else p.workers
        write_records(src, writer, sc, pl, executor=p.executor, workers=workers, address=p.ray_address)
        _write_clusters(writer, sc, pl)
        final = pl.final_sizes()
        writer.stats["cluster_sizes"] = {str(k): v for k, v in sorted(final.items())}
        by_mode: dict[str, Counter] = {}
        for c in pl.clusters:  # one stage's clusters, as in clusters.jsonl
            by_mode.setdefault(c["stage"], Counter())[1 + len(c["members"])] += 1
        writer.stats["cluster_sizes_by_mode"] = {
            mode: {str(k): v for k, v in sorted(sizes.items())} for mode, sizes in by_mode.items()
        }
        writer.stats["dedupe"] = {
            **stats,
            "clusters": sum(final.values()),  # final clusters, as counted by cluster_sizes
            "stage_clusters": len(pl.clusters),  # one per clusters.jsonl line of a stage (not "against")
            "contaminated": int((pl.reason == 1).sum()),
        }
    return writer


def _ray_session(p: DedupeParams):
    """Under ``--executor ray``, one Ray session for pass 1, banding and pass 2 (a local cluster starts once)."""
    from contextlib import nullcontext

    if p.executor != "ray":
        return nullcontext()
    from instructkit.executors.raytasks import session

    return session(p.ray_address, p.workers)


def _write_clusters(writer: ShardWriter, sc, pl: Plan) -> None:
    """``clusters.jsonl``: one line per cluster (kept id, members, similarity to the kept record)."""
    with open(writer.file("clusters.jsonl"), "wb") as fh:
        for cid, c in enumerate(pl.clusters):
            fh.write(
                dumps(
                    {
                        "cluster": cid,
                        "stage": c["stage"],
                        "kept": sc.ids[c["kept"]],
                        "members": [sc.ids[c["kept"]], *(sc.ids[m] for m in c["members"])],
                        "indices": [c["kept"], *c["members"]],
                        "similarity": [1.0, *c["similarity"]],
                    }
                )
            )
        by_match: dict[int, list[int]] = {}
        for i in np.flatnonzero(pl.reason == 1).tolist():
            by_match.setdefault(int(pl.target[i]), []).append(i)
        for k, (j, members) in enumerate(sorted(by_match.items()), len(pl.clusters)):
            fh.write(
                dumps(
                    {
                        "cluster": k,
                        "stage": "against",
                        "kept": None,
                        "matched": sc.ids[j],
                        "against": sc.against_path(j),
                        "members": [sc.ids[m] for m in members],
                        "indices": members,
                        "similarity": [round(float(pl.sim[m]), 4) for m in members],
                    }
                )
            )


# `instructkit.dedupe(...)` runs the stage; the package's names stay importable (api.py).
__import__("instructkit.api").api.callable_package(__name__, "dedupe")
