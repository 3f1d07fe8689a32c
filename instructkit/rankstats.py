"""Correlation and rank statistics, in plain Python (no scipy on the data path), shared by the reward
model's held-out metrics, annotate-import's bias report and eval's length-bias metric.

Checked against ``scipy.stats`` in the tests (tests/eval/test_eval_length_bias.py).
"""

from __future__ import annotations

import itertools
import math


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they span (``[10, 20, 20] -> [1, 2.5, 2.5]``)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            out[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return out


def pearson(x: list[float], y: list[float]) -> float | None:
    """Pearson correlation of two equal-length lists; None with fewer than 2 points or no spread."""
    if len(x) != len(y):
        raise ValueError(f"{len(x)} x values but {len(y)} y values")
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman rank correlation: Pearson of the tie-averaged ranks (as scipy.stats.spearmanr)."""
    if len(x) != len(y):
        raise ValueError(f"{len(x)} x values but {len(y)} y values")
    return pearson(ranks(x), ranks(y))


def kendall(xs: list[float], ys: list[float]) -> float | None:
    """Kendall's tau-b (ties corrected, Kendall 1945); None when either side is constant."""
    conc = disc = tx = ty = 0
    for i, j in itertools.combinations(range(len(xs)), 2):
        dx, dy = xs[i] - xs[j], ys[i] - ys[j]
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            tx += 1
        elif dy == 0:
            ty += 1
        elif (dx > 0) == (dy > 0):
            conc += 1
        else:
            disc += 1
    denom = math.sqrt((conc + disc + tx) * (conc + disc + ty))
    return (conc - disc) / denom if denom > 0 else None
