"""Per-annotator rating calibration by z-scoring.

A lenient rater's 4 and a harsh rater's 2 may mean the same thing. Each rating is replaced by
``(r - mean_a) / sd_a`` with the annotator's own mean and standard deviation on that criterion, the
normalisation used for direct-assessment scores in machine-translation evaluation (Graham, Baldwin,
Moffat and Zobel 2013, "Continuous measurement scales in human evaluation of machine translation";
WMT since 2017).
"""

from __future__ import annotations

import math
from collections import defaultdict

MIN_RATINGS = 3  # fewer ratings give a mean/sd too noisy to correct with: fall back to pooled criteria


def _mean_sd(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return mean, math.sqrt(var)


class Calibration:
    """Mean and standard deviation of each annotator's ratings, per criterion and pooled.

    Args:
        judgments: Rating judgments ``{"annotator", "ratings": {criterion: n}}``.
    """

    def __init__(self, judgments: list[dict]):
        per: dict[tuple[str, str], list[float]] = defaultdict(list)
        pooled: dict[str, list[float]] = defaultdict(list)
        for j in judgments:
            for criterion, r in (j.get("ratings") or {}).items():
                per[j["annotator"], criterion].append(float(r))
                pooled[j["annotator"]].append(float(r))
        self.per = {k: _mean_sd(v) + (len(v),) for k, v in per.items()}
        self.pooled = {k: _mean_sd(v) + (len(v),) for k, v in pooled.items()}

    def z(self, annotator: str, criterion: str, rating: float) -> float:
        """The calibrated rating; 0.0 (the annotator's average) when their ratings never vary."""
        mean, sd, n = self.per.get((annotator, criterion), (0.0, 0.0, 0))
        if n < MIN_RATINGS or sd == 0:
            mean, sd, n = self.pooled.get(annotator, (rating, 0.0, 0))
        return (rating - mean) / sd if sd > 0 else 0.0

    def table(self) -> dict[str, dict]:
        """``{annotator: {"n", "mean", "sd"}}`` over all criteria (for the report)."""
        return {a: {"n": n, "mean": round(m, 3), "sd": round(s, 3)} for a, (m, s, n) in sorted(self.pooled.items())}
