"""CPU seconds of ``instructkit quality`` in one process and with ``--workers N`` (docs/quality.md, Cost).

Each run is a fresh Python process (imports counted, as a CLI run pays them) that measures its own CPU
time (the driver) and its children's (the worker processes), plus the peak RSS of the driver; the
runs' quality.json files must be byte-identical. Wall time is printed too, but on a shared machine
the CPU seconds are the figures to compare.

Run: .venv/bin/python bench/quality_workers.py SET [--workers 1 2] [--out /tmp/quality-bench]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

CHILD = """
import resource, sys, time
t = time.time()
from instructkit import api
api.quality(sys.argv[1], sys.argv[2], force=True, workers=int(sys.argv[3]))
s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"wall {time.time() - t:.1f} s, driver {s.ru_utime + s.ru_stime:.2f} CPU-s, "
      f"workers {c.ru_utime + c.ru_stime:.2f} CPU-s, driver peak RSS {s.ru_maxrss // 1024} MB")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("set")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default="/tmp/quality-bench")
    args = ap.parse_args()
    reports = []
    for w in args.workers:
        out = Path(args.out) / f"w{w}"
        load = Path("/proc/loadavg").read_text().split()[:3]
        res = subprocess.run(
            [sys.executable, "-c", CHILD, args.set, str(out), str(w)], capture_output=True, text=True, check=True
        )
        print(f"--workers {w} (load {' '.join(load)}): {res.stdout.strip().splitlines()[-1]}")
        reports.append((out / "quality.json").read_bytes())
    same = all(r == reports[0] for r in reports)
    print("quality.json identical across runs:", same)
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
