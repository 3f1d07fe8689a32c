"""Dedupe throughput against rensa and datasketch, whole process, and our memory at growing sizes.

    .venv/bin/python bench/dedupe_scale.py                      # 100k side by side + memory at 250k, 500k, 1M
    .venv/bin/python bench/dedupe_scale.py --sizes 100000        # side by side only
    .venv/bin/python bench/dedupe_scale.py --memory-only --sizes 100000 250000 1000000 2000000
                                             # ours only, in memory (default budget) and spilled (budget 0)

Corpus: bench/ingest.py's seeded Alpaca-style rows (about 730 bytes), every 20th row copied with a
few words changed (near duplicates), ingested with ``instructkit ingest`` into a shard set. Each
side runs in its own fresh process that starts from the shard set on disk and ends with the
decisions made (ours: the whole ``instructkit dedupe --mode minhash --no-verify`` stage, output set
written; baselines: read and parse the set, word 5-gram shingles, MinHash of 128 permutations, LSH at
threshold 0.8, query every record, union-find; no output written, so they do less than we do).
Whole-process CPU seconds (user + sys of the child and its workers, getrusage) and wall time are
reported with peak RSS (the child's ru_maxrss; workers separately). Baselines:

- rensa 0.5: ``RMinHash(num_perm=128, seed=42).update(shingles)``, ``RMinHashLSH(threshold=0.8,
  num_perm=128, num_bands=16)``: insert, then query;
- datasketch 2.0: ``MinHash.bulk`` with an xxhash hash function (its fastest documented path), then
  ``MinHashLSH(threshold=0.8, num_perm=128)`` insert and query.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).with_name("instructkit")


def make_corpus(path: Path, n: int, seed: int = 0) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from ingest import generate

    raw = path.with_suffix(".raw.jsonl")
    generate(raw, max(1, n * 730 // 1_000_000 + 1), seed)
    rng = random.Random(seed)
    with open(raw, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as dst:
        written = 0
        for line in src:
            if written >= n:
                break
            dst.write(line)
            written += 1
            if written % 20 == 0 and written < n:  # a near duplicate: two words changed
                row = json.loads(line)
                words = row["output"].split()
                for _ in range(2):
                    words[rng.randrange(len(words))] = rng.choice(["river", "garden", "coffee"])
                row["output"] = " ".join(words)
                dst.write(json.dumps(row) + "\n")
                written += 1
    raw.unlink()


def _texts(set_path: str) -> list[str]:
    from instructkit.dedupe.normalize import text_for
    from instructkit.shards import ShardSet

    return [text_for(r, "conversation") for r in ShardSet(set_path)]


def _shingles(text: str) -> list[str]:
    words = re.findall(r"\w+", text.lower())
    return [" ".join(words[k : k + 5]) for k in range(max(1, len(words) - 4))]


def child_rensa(set_path: str) -> dict:
    from rensa import RMinHash, RMinHashLSH

    from instructkit.dedupe.unionfind import UnionFind

    texts = _texts(set_path)
    lsh = RMinHashLSH(threshold=0.8, num_perm=128, num_bands=16)
    sigs = []
    for i, text in enumerate(texts):
        m = RMinHash(num_perm=128, seed=42)
        m.update(_shingles(text))
        lsh.insert(i, m)
        sigs.append(m)
    uf = UnionFind(len(texts))
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            if j != i:
                uf.union(i, j)
    return {"removed": sum(len(g) - 1 for g in uf.groups())}


def child_datasketch(set_path: str) -> dict:
    import xxhash
    from datasketch import MinHash, MinHashLSH

    from instructkit.dedupe.unionfind import UnionFind

    texts = _texts(set_path)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    sigs = MinHash.bulk(
        [[s.encode() for s in _shingles(t)] for t in texts], num_perm=128, hashfunc=lambda b: xxhash.xxh32_intdigest(b)
    )
    for i, m in enumerate(sigs):
        lsh.insert(i, m)
    uf = UnionFind(len(texts))
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            if j != i:
                uf.union(i, j)
    return {"removed": sum(len(g) - 1 for g in uf.groups())}


def run(cmd: list[str]) -> dict:
    """Run a child to the end: wall, CPU (user + sys, its workers included), peak RSS, its JSON line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode:
        raise SystemExit(f"{cmd} failed:\n{res.stderr[-2000:]}")
    out = {
        "wall_s": round(wall, 2),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
    }
    lines = [x for x in res.stdout.strip().splitlines() if x.startswith("{")]
    if lines:
        out.update(json.loads(lines[-1]))
    return out


def ours(set_path: Path, out: Path, workers: int, extra: tuple[str, ...] = ()) -> dict:
    """The CLI stage, as the console script runs it (``cli``), in a wrapper process that reports its own
    peak RSS and its workers' largest."""
    code = (
        "import json,resource,sys; from instructkit.cli.app import cli\n"
        f"argv = ['dedupe', {str(set_path)!r}, '-o', {str(out)!r}, '--mode', 'minhash', '--no-verify', "
        f"'--workers', '{workers}', *{list(extra)!r}]\n"
        "try:\n    cli(argv)\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "s=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; c=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps({'peak_rss_mb': round(s/1024,1), 'peak_rss_workers_mb': round(c/1024,1)}))"
    )
    return run([sys.executable, "-c", code])


def baseline(kind: str, set_path: Path) -> dict:
    code = (
        "import json,resource,sys; sys.path.insert(0, 'bench'); import dedupe_scale as d\n"
        f"r = d.child_{kind}({str(set_path)!r})\n"
        "r['peak_rss_mb'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024,1); print(json.dumps(r))"
    )
    return run([sys.executable, "-c", code])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 250_000, 500_000, 1_000_000])
    ap.add_argument("--skip-datasketch", action="store_true")
    ap.add_argument("--sets", type=Path, help="keep the generated sets here (set<N>) and reuse them on later runs")
    ap.add_argument(
        "--memory-only", action="store_true", help="ours only, --workers 1: default budget and --memory-budget 0"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-dedupe-scale-"))
    results = {}
    for n in args.sizes:
        s = (args.sets or tmp) / f"set{n}"
        if not s.exists():
            raw = tmp / f"corpus{n}.jsonl"
            make_corpus(raw, n)
            subprocess.run(
                [str(BIN), "ingest", str(raw), "-o", str(s), "--format", "alpaca"], check=True, capture_output=True
            )
            raw.unlink()
        row = {"ours_w1": ours(s, tmp / f"o1-{n}", 1)}
        if args.memory_only:
            row["ours_w1_spill"] = ours(s, tmp / f"o1s-{n}", 1, ("--memory-budget", "0"))
            a, b = (json.loads((tmp / d / "v0001" / "manifest.json").read_text()) for d in (f"o1-{n}", f"o1s-{n}"))
            assert a["fingerprint"] == b["fingerprint"], "spilled run differs from the in-memory run"
            row["removed"] = sum(a["counts"]["rejected"].values())
            for d in (f"o1-{n}", f"o1s-{n}"):
                shutil.rmtree(tmp / d)
        elif n == args.sizes[0]:  # side by side at the first size, interleaved under the same load
            row["ours_w2"] = ours(s, tmp / f"o2-{n}", 2)
            row["rensa"] = baseline("rensa", s)
            if not args.skip_datasketch:
                row["datasketch"] = baseline("datasketch", s)
        results[n] = row
        for name, r in row.items():
            if not isinstance(r, dict):
                continue
            print(
                f"{n:>9,} {name:11s} wall {r['wall_s']:7.1f} s  CPU {r['cpu_s']:7.1f} s  "
                f"{n / r['wall_s']:8,.0f} rec/s  peak RSS {r['peak_rss_mb']:7,.0f} MB"
                + (f" (+ workers {r['peak_rss_workers_mb']:,.0f} MB)" if r.get("peak_rss_workers_mb") else ""),
                flush=True,
            )
        if "rensa" in row:
            for name in ("ours_w1", "ours_w2"):
                print(
                    f"  {name} / rensa: {row['rensa']['wall_s'] / row[name]['wall_s']:.2f}x wall throughput, "
                    f"{row['rensa']['cpu_s'] / row[name]['cpu_s']:.2f}x less CPU"
                )
        if not args.sets:
            shutil.rmtree(s)
    (tmp / "results.json").write_text(json.dumps(results, indent=2))
    print(f"results: {tmp / 'results.json'}")


if __name__ == "__main__":
    main()
