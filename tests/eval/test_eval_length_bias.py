"""The length_bias eval metric: hand-computed correlations and pair counts, and its report section."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from instructkit.eval.metrics.length_bias import LengthBias, pair_length_bias, pearson, ranks, spearman
from instructkit.records import make_record, message


def test_pearson_and_spearman_by_hand():
    # x = 1,2,3 and y = 2,4,7: means 2 and 13/3; sxy = 7/3 + 0 + 8/3 = 5, sxx = 2, syy = 114/9.
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / math.sqrt(2 * 114 / 9))
    assert pearson([1, 2], [5, 5]) is None and pearson([1], [2]) is None  # no spread, too few points
    assert ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1]  # ties share the mean rank
    # No ties: 1 - 6 * sum(d^2) / (n (n^2 - 1)) with rank differences 0, 1, 1, 0 -> 1 - 12 / 60.
    assert spearman([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [1, 8, 27]) == pytest.approx(1.0)  # monotone, not linear
    scipy_stats = pytest.importorskip("scipy.stats")
    x, y = [3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]
    assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
    assert pearson(x, y) == pytest.approx(scipy_stats.pearsonr(x, y).statistic)


def test_pair_length_bias_by_hand():
    # Pair 1: chosen longer (4 vs 2), RM agrees. Pair 2: chosen shorter (1 vs 3), RM prefers the longer
    # rejected one. Pair 3: equal lengths, left out. Pair 4: chosen shorter (1 vs 5), RM ties (half).
    got = pair_length_bias([4, 1, 2, 1], [2, 3, 2, 5], [1.0, 0.0, 9.0, 1.0], [0.0, 2.0, 0.0, 1.0])
    assert got == {
        "n": 4,
        "n_unequal": 3,
        "labels_prefer_longer": pytest.approx(1 / 3),
        "rm_prefers_longer": pytest.approx((1 + 1 + 0.5) / 3),
        "rm_accuracy_chosen_longer": 1.0,
        "rm_accuracy_chosen_shorter": 0.0,  # a tie is wrong, as in RewardBench
        "n_chosen_longer": 1,
        "n_chosen_shorter": 2,
    }
    empty = pair_length_bias([2], [2], [0.0], [1.0])
    assert empty["n_unequal"] == 0 and empty["rm_prefers_longer"] is None


def test_metric_fills_the_report_from_shared_scores():
    from instructkit.eval.base import EvalContext
    from instructkit.eval.metrics import all_metrics

    assert all_metrics()["length_bias"] is LengthBias  # discovered from its module
    records = [
        make_record(
            "preference",
            prompt=[message("user", f"q{i}")],
            chosen=[message("assistant", chosen)],
            rejected=[message("assistant", rejected)],
        )
        for i, (chosen, rejected) in enumerate([("long answer", "no"), ("ok", "a long reply")])
    ]
    ctx = EvalContext(
        params=SimpleNamespace(reward_model="rm"),
        items=[],
        conversations={},
        preferences={"pref": records},
        names=["a", "b"],
        paths=["a", "b"],
        reference=None,
        texts={"a": ["x", "xxx", "xx"], "b": ["yy", "y", "yyy"]},
        results={"a": {}, "b": {}},
    )
    # Scores as the reward model would give them (the context scores each thing once, for every metric).
    ctx._pref["pref"] = {"chosen_scores": [2.0, 0.0], "rejected_scores": [1.0, 1.0]}
    ctx._rewards = {"a": [1.0, 3.0, 2.0], "b": [3.0, 2.0, 1.0]}
    LengthBias().compute(ctx)
    pairs = ctx.sections["length_bias"]["preference_sets"]["pref"]
    assert pairs["labels_prefer_longer"] == 0.5 and pairs["rm_prefers_longer"] == 1.0
    assert ctx.results["a"]["length_bias"]["pearson"] == pytest.approx(1.0)
    assert ctx.results["b"]["length_bias"]["spearman"] == pytest.approx(-0.5)  # lengths 2,1,3 vs 3,2,1
    pooled = ctx.sections["length_bias"]["generations"]
    assert pooled["n"] == 6 and pooled["spearman"] == pytest.approx(spearman([1, 3, 2, 3, 2, 1], [1, 3, 2, 2, 1, 3]))
    report = {"models": ["a", "b"], "reference": None, "results": ctx.results, **ctx.sections}
    md = "\n".join(LengthBias().markdown(report))
    assert "## Length bias of the reward model" in md and "| `pref` | 2 of 2 | 0.500 | 1.000 |" in md
    assert "## Reward vs generation length" in md and "| Pearson r | 1.000 |" in md
    # Every reply of the set: lengths 11, 2, 2, 12 against rewards 2, 0, 1, 1.
    replies = pairs["reply_correlation"]
    assert replies["n"] == 4 and replies["spearman"] == pytest.approx(spearman([2.0, 0.0, 1.0, 1.0], [11, 2, 2, 12]))
    assert "reward~length Spearman (all replies)" in md
    saved = {}

    def save(fig, name):
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        saved[name] = (len(fig.axes), buf.getvalue()[:4])

    LengthBias().plots(ctx, save)
    assert saved == {"length_bias.png": (2, b"\x89PNG")}  # one panel for the pairs, one for the generations
