"""Semantic dedupe's all-pairs cosine search: ours (tiles of 2,048 x 16,384) against the untiled search
it replaced (each block of 2,048 rows against every column at once), same embeddings, same run.

    .venv/bin/python bench/semantic_pairs.py                 # 100,000 x 384, threshold 0.8
    .venv/bin/python bench/semantic_pairs.py --n 50000 --dim 768

Embeddings: seeded Gaussian vectors, L2-normalised, every 50th a near copy of the one before (0.01 noise),
so both sides find the same n/50 pairs. Each side runs in its own fresh process; the memory the search
added is the child's peak RSS minus its peak before the search (imports and embeddings); CPU is user +
sys of the child, both cores (numpy's BLAS threads).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def embeddings(n: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    emb = rng.standard_normal(size=(n, dim), dtype=np.float32)
    emb[1::50] = emb[0::50][: len(emb[1::50])] + 0.01
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def untiled(emb: np.ndarray, rows: np.ndarray, cols: np.ndarray, threshold: float, block: int = 2048):
    """The search before the tiles (instructkit up to 2026-12-01): a block of rows against all columns."""
    pairs, sims = [], []
    c_emb = emb[cols]
    for s in range(0, len(rows), block):
        r = rows[s : s + block]
        cos = emb[r] @ c_emb.T
        cos[np.arange(len(r))[:, None] >= (np.arange(len(cols))[None, :] - s)] = -1.0
        ii, jj = np.nonzero(cos >= threshold)
        pairs.append(np.stack((r[ii], cols[jj]), axis=1))
        sims.append(cos[ii, jj])
    return np.concatenate(pairs).astype(np.int64), np.concatenate(sims)


def child(side: str, n: int, dim: int, threshold: float) -> dict:
    emb = embeddings(n, dim)
    idx = np.arange(n)
    if side == "ours":
        from instructkit.dedupe.semantic import similar_pairs
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if side == "ours":
        pairs, _ = similar_pairs(emb, idx, idx, threshold, same=True)
    else:
        pairs, _ = untiled(emb, idx, idx, threshold)
    wall = time.perf_counter() - start
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall": wall,
        "cpu": ru.ru_utime + ru.ru_stime,
        "peak_mb": ru.ru_maxrss / 1024,
        "before_mb": before,  # imports and the embeddings
        "pairs": len(pairs),
        "pairs_sha": __import__("hashlib").sha256(pairs.tobytes()).hexdigest()[:16],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--child", choices=["ours", "untiled"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.n, a.dim, a.threshold)))
        return
    out = {}
    for side in ("ours", "untiled"):
        cmd = [sys.executable, __file__, "--child", side, "--n", str(a.n), "--dim", str(a.dim)]
        cmd += ["--threshold", str(a.threshold)]
        out[side] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        r = out[side]
        print(
            f"{side:8} {a.n:,} x {a.dim}: wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s, peak RSS {r['peak_mb']:,.0f} MB"
            f" (before the search {r['before_mb']:,.0f} MB), {r['pairs']:,} pairs, sha {r['pairs_sha']}"
        )
    o, u = out["ours"], out["untiled"]
    print(
        f"ours / untiled: {u['wall'] / o['wall']:.2f}x faster (wall); memory the search added: "
        f"{o['peak_mb'] - o['before_mb']:,.0f} MB vs {u['peak_mb'] - u['before_mb']:,.0f} MB; "
        f"same pairs: {o['pairs_sha'] == u['pairs_sha']}"
    )


if __name__ == "__main__":
    main()
