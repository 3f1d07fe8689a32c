"""Length (verbosity) bias of annotators: how often the longer response wins, per annotator.

Longer answers win human and model preferences more often than their content earns (Singhal et al.
2023, "A Long Way to Go: Investigating Length Correlations in RLHF"; Dubois et al. 2024, length-controlled
AlpacaEval): a reward model trained on such labels learns length. Every template gives comparisons
``(response a, response b, winner)``:

- pairwise: each judgment; ranking: every pair of one annotator's ranking (the higher-placed wins);
- rating: every pair of responses of one item that the same annotator rated differently (the higher
  rating wins); ratings also give the Spearman correlation of rating and length per annotator.

Pairs of equal length are left out. The longer-wins rate is tested against 0.5 with an exact binomial
test. A rate above 0.5 is not proof of bias by itself (longer answers may be better): compare annotators
with each other, and with the rate of a careful annotator or of gold answers.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

from instructkit import rankstats
from instructkit.annotate.aggregate import rating_value
from instructkit.annotate.agreement import binomial_two_sided_p


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rho (tie-averaged ranks); None with fewer than 3 points (a bias from 2 is noise) or no spread."""
    return rankstats.spearman(xs, ys) if len(xs) >= 3 else None


def comparisons(template: str, judgments: list[dict]) -> list[tuple[str, int, int, int]]:
    """``(annotator, a, b, winner)`` for every comparison one item's judgments imply."""
    out = []
    ratings: dict[str, dict[int, float]] = defaultdict(dict)
    for j in judgments:
        if j["type"] == "pairwise":
            a, b = j["responses"]
            out.append((j["annotator"], a, b, j["choice"]))
        elif j["type"] == "ranking":
            for p, q in itertools.combinations(j["order"], 2):
                out.append((j["annotator"], p, q, p))
        elif j["type"] == "rating" and j.get("ratings"):
            ratings[j["annotator"]][j["response"]] = rating_value(j, None)
    for who, by_response in ratings.items():
        for a, b in itertools.combinations(sorted(by_response), 2):
            if by_response[a] != by_response[b]:
                out.append((who, a, b, a if by_response[a] > by_response[b] else b))
    return out


def _rate(wins: int, n: int) -> dict:
    return {
        "n": n,
        "longer_wins": wins,
        "longer_win_rate": round(wins / n, 4) if n else None,
        "p_value": round(binomial_two_sided_p(wins, n), 4) if n else None,
    }


def length_bias(template: str, by_item: dict[str, list[dict]], items: dict[str, dict]) -> dict:
    """Longer-wins rates overall and per annotator (and rating-length Spearman for ratings).

    Args:
        template: The template name.
        by_item: Active judgments per item id (response indices already undone from display order).
        items: The items (``responses: [{content}]``) by id.
    """
    per: dict[str, list[bool]] = defaultdict(list)
    points: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for item_id, js in by_item.items():
        lengths = [len(r.get("content") or "") for r in items[item_id]["responses"]]
        for who, a, b, winner in comparisons(template, js):
            if lengths[a] != lengths[b]:
                per[who].append(winner == (a if lengths[a] > lengths[b] else b))
        for j in js:
            if j["type"] == "rating" and j.get("ratings"):
                points[j["annotator"]][0].append(rating_value(j, None))
                points[j["annotator"]][1].append(float(lengths[j["response"]]))
    every = [w for ws in per.values() for w in ws]
    out = {"unit": "chars", **_rate(sum(every), len(every)), "per_annotator": {}}
    for who in sorted(set(per) | set(points)):
        row = _rate(sum(per[who]), len(per[who]))
        if who in points:
            row["rating_length_spearman"] = _round(spearman(*points[who]))
        out["per_annotator"][who] = row
    if points:
        xs = [x for p in points.values() for x in p[0]]
        ys = [y for p in points.values() for y in p[1]]
        out["rating_length_spearman"] = _round(spearman(xs, ys))
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def plot(section: dict, path: Path) -> bool:
    """A bar per annotator: the longer-wins rate, with 0.5 marked. False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # an optional extra (instructkit[eval]); the numbers are in the report anyway
        return False
    rows = [(who, r) for who, r in section["per_annotator"].items() if r["n"]]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(max(4, 1 + 0.8 * len(rows)), 3.5))
    ax.bar([w for w, _ in rows], [r["longer_win_rate"] for _, r in rows], color="tab:blue")
    for i, (_, r) in enumerate(rows):
        ax.text(i, r["longer_win_rate"] + 0.02, f"n={r['n']}", ha="center", fontsize=8)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set(ylim=(0, 1.1), xlabel="annotator", ylabel="longer response wins", title="Length bias per annotator")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
