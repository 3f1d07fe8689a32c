"""Per-item aggregation of judgments: scores per response and a margin for every pair.

- rating: mean rating over annotators (the mean of the criteria), or the mean z-score with
  calibration; the margin of a pair is the difference of the means.
- ranking: Borda count (Borda 1781; de Borda scores as used for LLM response ranking by e.g.
  Chatbot Arena's early leaderboards): a response in position ``p`` of ``n`` earns
  ``(n - 1 - p) / (n - 1)``; the score is the mean, so 1.0 means "always first".
- pairwise: majority vote per compared pair; margin ``(wins_a - wins_b) / votes`` in ``[-1, 1]``;
  a response's score is its win rate over all its comparisons.

Positions are undone before this point: pairwise judgments already name response indices.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

from instructkit.annotate.calibrate import Calibration


def rating_value(j: dict, calib: Calibration | None) -> float:
    """One rating judgment as one number: the mean over its criteria (calibrated if asked)."""
    ratings = j["ratings"]
    if calib is None:
        return sum(ratings.values()) / len(ratings)
    return sum(calib.z(j["annotator"], c, r) for c, r in ratings.items()) / len(ratings)


def aggregate(n: int, judgments: list[dict], template: str, calib: Calibration | None = None) -> dict:
    """Scores and pair margins of one item.

    Args:
        n: Number of responses of the item.
        judgments: Its active (not excluded) judgments.
        template: The template name.
        calib: Rating calibration, or None for raw ratings.

    Returns:
        ``{"scores": [float | None] * n, "margins": {(a, b): margin}, "votes": {...}}`` where a
        positive margin means response ``a`` is preferred to ``b``; only pairs with evidence appear.
    """
    scores: list[float | None] = [None] * n
    margins: dict[tuple[int, int], float] = {}
    votes: dict[str, list[int]] = {}
    if template == "pairwise":
        pair_votes: dict[tuple[int, int], Counter] = defaultdict(Counter)
        for j in judgments:
            a, b = sorted(j["responses"])
            pair_votes[a, b][j["choice"]] += 1
        wins, games = Counter(), Counter()
        for (a, b), c in pair_votes.items():
            total = c[a] + c[b]
            margins[a, b] = (c[a] - c[b]) / total
            votes[f"{a}-{b}"] = [c[a], c[b]]
            wins[a] += c[a]
            wins[b] += c[b]
            games[a] += total
            games[b] += total
        for i in games:
            scores[i] = wins[i] / games[i]
        return {"scores": scores, "margins": margins, "votes": votes}
    per_response: dict[int, list[float]] = defaultdict(list)
    if template == "rating":
        for j in judgments:
            per_response[j["response"]].append(rating_value(j, calib))
    elif template == "ranking":
        for j in judgments:
            m = len(j["order"])
            for pos, i in enumerate(j["order"]):
                per_response[i].append((m - 1 - pos) / (m - 1) if m > 1 else 0.0)
    for i, values in per_response.items():
        if 0 <= i < n:
            scores[i] = sum(values) / len(values)
    for a, b in itertools.combinations(range(n), 2):
        if scores[a] is not None and scores[b] is not None:
            margins[a, b] = scores[a] - scores[b]
    return {"scores": scores, "margins": margins, "votes": votes}


def gold_correct(j: dict, answer, template: str) -> bool:
    """Whether a judgment on a gold task matches its known answer.

    Pairwise: the same winner. Rating: every criterion within 1 point of the answer (a 1-5 scale
    has no exact truth; +-1 is the usual tolerance). Ranking: the same response ranked first.
    """
    if template == "pairwise":
        return j["choice"] == answer
    if template == "rating":
        want = answer if isinstance(answer, dict) else {c: answer for c in j["ratings"]}
        return all(c in want and abs(r - int(want[c])) <= 1 for c, r in j["ratings"].items())
    if template == "ranking":
        return bool(j["order"]) and j["order"][0] == answer[0]
    return False
