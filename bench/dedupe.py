"""Benchmark of `instructkit dedupe --mode minhash`: quality against exact ground truth, and speed and
peak memory against datasketch used the plain way, on the same records in the same run.

Corpus: GSM8K (7,473) and GPTeacher role-play (3,146) records from ../shared/data (real text), plus
injected near duplicates made by random word edits (replace, delete, insert) at known rates of
0-12% of words, some of them copies of copies. Ground truth: every pair whose true Jaccard similarity
of the same shingles (word 5-grams, character 3-grams for short texts) is at or above the threshold,
found exactly with a sparse matrix product (no sampling, no LSH).

Metrics (pairs of record indices):
- precision: share of removals (record, duplicate_of) whose true Jaccard >= threshold;
- recall: share of true pairs whose two records end in the same cluster (same surviving record);
- F1 of the two. Also reported: precision over all within-cluster pairs (stricter, transitive).

Speed: the same corpus replicated with 25% of words replaced per copy (new, distinct records) up to
--records (default 100k). Ours: the whole stage (read the shard set twice, signatures with
--workers processes, banding, clustering, write the output set). Baseline: `datasketch.MinHash`
per-shingle `update` (its default SHA-1 hash) and `MinHashLSH` insert + query at the same threshold
and permutations, over texts already in memory (reading not timed), then union-find. Each side runs
in its own process so peak memory (max RSS) is its own.

Run: .venv/bin/python bench/dedupe.py            (about 4-6 minutes on 2 cores)
     .venv/bin/python bench/dedupe.py --baseline-records 20000   (time the baseline on a subset)
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from instructkit.records import conversation_text, make_record, message  # noqa: E402
from instructkit.shards import ShardSet, ShardWriter  # noqa: E402

RATES = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12)


def load_originals(data: Path) -> list[tuple[str, str]]:
    out = []
    for name in ("gsm8k_train_alpaca.json", "gpteacher_roleplay_alpaca.json"):
        for row in json.loads((data / name).read_text("utf-8")):
            prompt = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
            out.append((prompt, row["output"]))
    return out


def edit(text: str, rate: float, rng: random.Random, vocab: list[str]) -> str:
    """Each word is replaced, deleted, or followed by an inserted word with probability ``rate``."""
    out = []
    for w in text.split(" "):
        if rng.random() >= rate:
            out.append(w)
            continue
        op = rng.randrange(3)
        if op == 0:
            out.append(rng.choice(vocab))
        elif op == 2:
            out += [w, rng.choice(vocab)]
    return " ".join(out)


def build_quality(originals, rng: random.Random, n_inject: int) -> tuple[list[tuple[str, str]], list[float]]:
    vocab = sorted({w for p, r in originals[:2000] for w in (p + " " + r).split()})
    corpus = list(originals)
    rates = [-1.0] * len(corpus)
    for _ in range(n_inject):
        k = rng.randrange(len(corpus))  # may pick an injected copy: copies of copies
        rate = rng.choice(RATES)
        p, r = corpus[k]
        corpus.append((edit(p, rate, rng, vocab), edit(r, rate, rng, vocab)))
        rates.append(rate)
    return corpus, rates


def write_set(path: Path, corpus) -> ShardSet:
    with ShardWriter(path, stage="bench") as w:
        for i, (p, r) in enumerate(corpus):
            w.count_in()
            w.write(
                make_record(
                    "sft", id=f"r{i}", messages=[message("user", p), message("assistant", r)], source={"bench": i}
                )
            )
    return ShardSet(w.path)


def true_pairs(texts: list[str], threshold: float) -> set[tuple[int, int]]:
    """All pairs with Jaccard >= threshold, exactly: sparse (docs x shingles) times its transpose."""
    import scipy.sparse as sp

    from instructkit.dedupe.shingle import shingle_hashes

    sets = [np.unique(shingle_hashes(t)) for t in texts]
    sizes = np.array([len(s) for s in sets])
    allh = np.concatenate(sets)
    _, col = np.unique(allh, return_inverse=True)
    row = np.repeat(np.arange(len(sets)), sizes)
    x = sp.csr_matrix((np.ones(len(col), dtype=np.int32), (row, col)), shape=(len(sets), col.max() + 1))
    out = set()
    for s in range(0, len(sets), 2000):
        inter = (x[s : s + 2000] @ x.T).tocoo()
        i, j, v = inter.row + s, inter.col, inter.data
        keep = i < j
        i, j, v = i[keep], j[keep], v[keep]
        jac = v / (sizes[i] + sizes[j] - v)
        out.update(zip(i[jac >= threshold].tolist(), j[jac >= threshold].tolist(), strict=True))
    return out


def evaluate(out_path: Path, n: int, truth: set[tuple[int, int]]) -> dict:
    s = ShardSet(out_path)
    survivor = np.arange(n)
    removals = []
    for r in s.rejected or []:
        i, k = int(r["id"][1:]), int(r["meta"]["reject"]["duplicate_of"][1:])
        survivor[i] = k
        removals.append((min(i, k), max(i, k)))
    tp_removal = sum(1 for p in removals if p in truth)
    precision = tp_removal / len(removals) if removals else 1.0
    recall = sum(1 for a, b in truth if survivor[a] == survivor[b]) / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    clusters: dict[int, list[int]] = {}
    for i, k in enumerate(survivor.tolist()):
        clusters.setdefault(k, []).append(i)
    within = [(a, b) for m in clusters.values() if len(m) > 1 for x, a in enumerate(m) for b in m[x + 1 :]]
    strict = sum(1 for p in within if p in truth) / len(within) if within else 1.0
    return {
        "removed": len(removals),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "within_cluster_precision": round(strict, 4),
    }


# --- child processes (each measures its own peak memory) ---------------------------------------


def _peak_mb() -> dict:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would report the RSS of
    # the forked copy of this (corpus-holding) parent. Workers: ru_maxrss of the largest one, which
    # includes pages shared with the process that forked it.
    hwm = next(
        int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:")
    )
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "peak_rss_mb": round(hwm / 1024, 1),
        "peak_rss_workers_mb": round(kids.ru_maxrss / 1024, 1),
        "cpu_s": round(own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime, 2),
    }


def child_ours(path: str, out: str, threshold: float, workers: int, verify: bool, num_perm: int = 128) -> dict:
    from instructkit.dedupe import DedupeParams, dedupe_set

    t0 = time.perf_counter()
    p = DedupeParams(mode=["minhash"], threshold=threshold, verify=verify, num_perm=num_perm, workers=workers)
    w = dedupe_set(path, out, p)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "stats": w.manifest["stats"]["dedupe"], **_peak_mb()}


def child_baseline(path: str, threshold: float, limit: int) -> dict:
    from datasketch import MinHash, MinHashLSH

    from instructkit.dedupe.unionfind import UnionFind

    texts = [conversation_text(r) for _, r in zip(range(limit), ShardSet(path), strict=False)]
    t0, c0 = time.perf_counter(), time.process_time()
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    sigs = []
    for i, text in enumerate(texts):
        words = re.findall(r"\w+", text.lower())
        grams = [" ".join(words[k : k + 5]) for k in range(max(1, len(words) - 4))]
        m = MinHash(num_perm=128)
        for g in grams:  # the plain way: one shingle at a time
            m.update(g.encode("utf-8"))
        lsh.insert(i, m)
        sigs.append(m)
    uf = UnionFind(len(texts))
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            if j != i:
                uf.union(i, j)
    removed = sum(len(g) - 1 for g in uf.groups())
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "records": len(texts), "removed": removed, **_peak_mb(), "cpu_s": round(cpu, 2)}


def _child(kind: str, *args) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode:
        raise SystemExit(f"child {kind} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--records", type=int, default=100_000, help="records of the speed corpus")
    ap.add_argument(
        "--baseline-records",
        type=int,
        default=None,
        help="time the baseline on this many (default: all) and extrapolate, clearly labelled",
    )
    ap.add_argument("--inject", type=int, default=4000, help="near duplicates injected in the quality corpus")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "ours":
            res = child_ours(rest[0], rest[1], float(rest[2]), int(rest[3]), rest[4] == "1", int(rest[5]))
        else:
            res = child_baseline(rest[0], float(rest[1]), int(rest[2]))
        print(json.dumps(res))
        return

    rng = random.Random(args.seed)
    originals = load_originals(args.data)
    corpus, rates = build_quality(originals, rng, args.inject)
    tmp = Path(tempfile.mkdtemp(prefix="bench-dedupe-"))
    print(
        f"quality corpus: {len(originals):,} real records + {args.inject:,} injected near duplicates "
        f"(word edit rates {', '.join(f'{r:.0%}' for r in RATES)})"
    )
    qset = write_set(tmp / "quality", corpus)
    t0 = time.perf_counter()
    truth = true_pairs([conversation_text(r) for r in qset], args.threshold)
    print(
        f"ground truth: {len(truth):,} pairs with true Jaccard >= {args.threshold} "
        f"(exact all-pairs, {time.perf_counter() - t0:.1f}s)"
    )
    results = {"quality": {}, "speed": {}}
    for verify, num_perm in ((False, 128), (True, 128), (False, 256)):
        tag = f"q{int(verify)}-{num_perm}"
        res = _child("ours", qset.path, tmp / tag, args.threshold, args.workers, int(verify), num_perm)
        q = evaluate(tmp / tag, len(corpus), truth)
        name = ("minhash --verify" if verify else "minhash") + (f" --num-perm {num_perm}" if num_perm != 128 else "")
        results["quality"][name] = q
        print(
            f"  {name:28s} removed {q['removed']:,}  precision {q['precision']:.4f}  recall {q['recall']:.4f}  "
            f"F1 {q['f1']:.4f}  (within-cluster precision {q['within_cluster_precision']:.4f}; "
            f"{res['stats']['bands']}x{res['stats']['rows']} bands, {res['seconds']:.1f}s)"
        )

    # Speed corpus: the quality corpus, then perturbed replicas up to --records.
    vocab = sorted({w for p, r in originals[:2000] for w in (p + " " + r).split()})
    big = list(corpus)
    while len(big) < args.records:
        p, r = originals[len(big) % len(originals)]
        big.append((edit(p, 0.25, rng, vocab), edit(r, 0.25, rng, vocab)))
    big = big[: args.records]
    sset = write_set(tmp / "speed", big)
    n = len(big)
    nb = min(n, args.baseline_records or n)
    print(f"speed corpus: {n:,} records ({sset.manifest['parts'][0]['bytes'] / 1e6:.0f} MB of JSONL)")
    ours = _child("ours", sset.path, tmp / "s", args.threshold, args.workers, 0, 128)
    ours1 = _child("ours", sset.path, tmp / "s1", args.threshold, 1, 0, 128)
    ours_v = _child("ours", sset.path, tmp / "sv", args.threshold, args.workers, 1, 128)  # the default: --verify
    half = write_set(tmp / "half", big[: n // 2])
    ours_half = _child("ours", half.path, tmp / "h1", args.threshold, 1, 0, 128)
    base = _child("baseline", sset.path, args.threshold, nb)
    base_rate = base["records"] / base["seconds"]
    label = "" if nb == n else f" (timed on {nb:,}, extrapolated to {n:,}: {n / base_rate:.0f}s)"
    for name, r, recs in (
        (f"ours, {args.workers} workers, --no-verify", ours, n),
        ("ours, 1 worker, --no-verify", ours1, n),
        (f"ours, {args.workers} workers, --verify (default)", ours_v, n),
        ("datasketch per-shingle update + MinHashLSH", base, base["records"]),
    ):
        print(
            f"  {name:44s} {r['seconds']:7.1f}s  {recs / r['seconds']:9,.0f} records/s  CPU {r['cpu_s']:6.1f}s  "
            f"peak RSS {r['peak_rss_mb']:,.0f} MB (+ workers {r['peak_rss_workers_mb']:,.0f} MB)"
        )
    print(f"  baseline records: {base['records']:,}{label}")
    ratio = (n / ours["seconds"]) / base_rate
    per_record = (ours1["peak_rss_mb"] - ours_half["peak_rss_mb"]) * 2**20 / (n - n // 2)
    print(
        f"memory: ours {ours1['peak_rss_mb']:,.0f} MB at {n:,} records, {ours_half['peak_rss_mb']:,.0f} MB at "
        f"{n // 2:,}: {per_record:,.0f} bytes per additional record (1 worker)"
    )
    cpu_ratio = (base["cpu_s"] / base["records"]) / (ours1["cpu_s"] / n)
    print(
        f"speed-up: {ratio:.1f}x with {args.workers} workers, {(n / ours1['seconds']) / base_rate:.1f}x with 1 "
        f"(records/s, whole stage incl. shard I/O vs baseline compute only); CPU seconds per record: "
        f"{cpu_ratio:.1f}x fewer (1 worker)"
    )
    print(
        f"speed-up with --verify (the default): {(n / ours_v['seconds']) / base_rate:.1f}x with {args.workers} workers"
    )
    results["speed"] = {
        "records": n,
        "ours": ours,
        "ours_verify": ours_v,
        "ours_1_worker": ours1,
        "ours_half": ours_half,
        "baseline": base,
        "ratio": ratio,
        "cpu_ratio": cpu_ratio,
        "bytes_per_record": per_record,
    }
    (tmp / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {tmp / 'results.json'}")


if __name__ == "__main__":
    main()
