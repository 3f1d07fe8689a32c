"""Benchmark: ``instructkit ingest`` against ``datasets.load_dataset("json")`` + ``map`` to the same schema.

    .venv/bin/python bench/ingest.py            # 20 MB and 200 MB inputs (generated into bench/out/)
    .venv/bin/python bench/ingest.py --sizes 20  # quicker

For each input size it generates an Alpaca-style JSONL file (seeded, so every run sees the same bytes),
then times, each in its own fresh subprocess (peak memory is that process's max RSS, from ``wait4``):

- ours: the ingest CLI in-process (``instructkit ingest FILE -o OUT --format alpaca``): parse, NFC and
  control-character clean-up, validation, content-hash ids, ``meta.source``, JSONL parts + manifest;
- baseline: ``load_dataset("json", data_files=FILE)`` into a fresh cache, then ``map`` to
  ``{id, messages, meta}`` (sha256 id, user/assistant messages; no normalisation or validation, so
  the baseline does less work than we do).

It prints records/s and MB/s (over the work time, imports excluded), wall and CPU time of each process,
peak RSS and the ratios, then one JSON line with everything. On a shared, loaded machine the wall-time
ratio moves with the load; the CPU-time ratio is the steadier number.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"

WORDS = (
    "the a model answer data train question explain list write short story about city river music "
    "history science python function value result reason because however example first second third "
    "summary paragraph sentence translate simple clear friendly number people water energy light "
    "garden kitchen travel weather market school health sleep coffee bread window mountain ocean"
).split()
TASKS = [
    "Explain {w} in simple terms.",
    "Write a short poem about {w}.",
    "Give three tips about {w}.",
    "Summarize the following text about {w}.",
    "Translate this sentence about {w} into French.",
    "List five facts about {w}.",
    "What is the difference between {w} and {v}?",
]


def generate(path: Path, megabytes: int, seed: int = 0) -> int:
    """Write about ``megabytes`` MB of Alpaca rows; return the row count."""
    rng = random.Random(seed)
    target, size, n = megabytes * 1_000_000, 0, 0
    with open(path, "w", encoding="utf-8") as fh:
        while size < target:
            w, v = rng.choice(WORDS), rng.choice(WORDS)
            row = {
                "instruction": rng.choice(TASKS).format(w=w, v=v),
                "input": "" if rng.random() < 0.6 else " ".join(rng.choices(WORDS, k=rng.randint(10, 60))),
                "output": " ".join(rng.choices(WORDS, k=rng.randint(20, 140))).capitalize() + ".",
            }
            line = json.dumps(row, ensure_ascii=False) + "\n"
            fh.write(line)
            size += len(line.encode("utf-8"))
            n += 1
    return n


def child_ours(path: str, out: str) -> float:
    from instructkit.cli.app import app

    start = time.perf_counter()
    app(["ingest", path, "-o", out, "--format", "alpaca"], standalone_mode=False)
    return time.perf_counter() - start


def child_baseline(path: str, out: str) -> float:
    import hashlib

    from datasets import disable_progress_bars, load_dataset

    disable_progress_bars()

    def to_canonical(row: dict, idx: int) -> dict:
        user = row["instruction"] if not row["input"] else f"{row['instruction']}\n\n{row['input']}"
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]
        blob = json.dumps({"messages": messages}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return {
            "id": hashlib.sha256(blob.encode()).hexdigest()[:16],
            "messages": messages,
            "meta": {"source": {"file": path, "line": idx + 1}, "format": "alpaca"},
        }

    start = time.perf_counter()
    ds = load_dataset("json", data_files=path, split="train", cache_dir=out)
    ds = ds.map(to_canonical, with_indices=True, remove_columns=ds.column_names)
    assert len(ds) > 0
    return time.perf_counter() - start


def measure(which: str, path: Path, rows: int) -> dict:
    """Run one side in a fresh process; return its work time (imports excluded), wall time (process
    start to exit), rates over the work time, and the process's peak RSS."""
    out = OUT / f"run-{which}"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    log = OUT / f"run-{which}.log"
    start = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", which, str(path), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        stdout = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{which} failed on {path}:\n{log.read_text()[-2000:]}")
    seconds = json.loads(stdout.strip().splitlines()[-1])["seconds"]
    shutil.rmtree(out, ignore_errors=True)
    mb = path.stat().st_size / 1e6
    return {
        "side": which,
        "input_mb": round(mb, 1),
        "rows": rows,
        "seconds": round(seconds, 2),
        "wall_s": round(wall, 2),
        "records_per_s": round(rows / seconds),
        "mb_per_s": round(mb / seconds, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),  # whole process, imports included
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20,200", help="input sizes in MB, comma-separated")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        which, path, out = args.child
        seconds = (child_ours if which == "ours" else child_baseline)(path, out)
        print(json.dumps({"seconds": seconds}))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    results = []
    for mb in (int(s) for s in args.sizes.split(",")):
        path = OUT / f"alpaca-{mb}mb.jsonl"
        t = time.perf_counter()
        rows = generate(path, mb)
        print(
            f"generated {path} ({rows:,} rows, {path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f}s",
            flush=True,
        )
        ours, base = measure("ours", path, rows), measure("baseline", path, rows)
        ratio = ours["records_per_s"] / base["records_per_s"]
        for r in (ours, base):
            print(
                f"  {r['side']:>8}: {r['seconds']:7.2f}s (wall {r['wall_s']:6.2f}s, CPU {r['cpu_s']:6.2f}s)  "
                f"{r['records_per_s']:>9,} records/s  {r['mb_per_s']:6.1f} MB/s  peak RSS {r['peak_rss_mb']:7.1f} MB",
                flush=True,
            )
        cpu_ratio = base["cpu_s"] / ours["cpu_s"]
        print(
            f"  ratio (ours / baseline records/s): {ratio:.2f}x; process CPU time baseline / ours: {cpu_ratio:.2f}x",
            flush=True,
        )
        results.append(
            {"input_mb": mb, "ours": ours, "baseline": base, "ratio": round(ratio, 2), "cpu_ratio": round(cpu_ratio, 2)}
        )
    if len(results) > 1:
        small, big = results[0], results[-1]
        for side in ("ours", "baseline"):
            print(
                f"peak RSS {side}: {small[side]['peak_rss_mb']} MB at {small['input_mb']} MB input -> "
                f"{big[side]['peak_rss_mb']} MB at {big['input_mb']} MB input"
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
