"""A local judge model (``eval --judge DIR``): ratings and verdicts read from next-token probabilities."""

from __future__ import annotations

import json
import math

import pytest

from instructkit.errors import ConfigError
from instructkit.eval.judge import Judge
from instructkit.records import make_record, message
from instructkit.shards import ShardWriter


class ProbsJudge:
    """A generator whose next-token probabilities are given per prefix, recording what it was asked."""

    def __init__(self, table):
        self.table, self.calls = table, []

    def next_token_probs(self, conversations, prefixes, tokens):
        self.calls.append((prefixes[0], list(tokens), len(conversations)))
        return [self.table(prefixes[i], conversations[i][-1]["content"], tokens) for i in range(len(conversations))]


def test_rating_is_the_expectation_over_digits_with_1_split_from_10():
    def table(prefix, user, tokens):
        if prefix == "Rating: [[1":  # P("0" | "1"): half of the "1" mass means 10
            return [0.5]
        probs = dict.fromkeys(tokens, 0.0)
        if "good" in user:
            probs["7"] = 0.8  # mass 0.8, all on 7
        else:
            probs["1"], probs["3"] = 0.4, 0.2  # 1 -> 0.2 on 1, 0.2 on 10; 0.2 on 3
        return [probs[t] for t in tokens]

    judge = Judge(ProbsJudge(table), mode="logprobs")
    graded = judge.grade(["q1", "q2"], ["a good answer", "a poor one"])
    assert graded["ratings"][0] == pytest.approx(7.0)
    assert graded["ratings"][1] == pytest.approx((1 * 0.2 + 10 * 0.2 + 3 * 0.2) / 0.6)
    assert graded["unparseable"] == 0 and graded["mode"] == "logprobs"
    assert graded["format_mass"] == pytest.approx((0.8 + 0.6) / 2)
    assert [c[0] for c in judge.generator.calls] == ["Rating: [[", "Rating: [[1"]


def test_pairwise_verdicts_are_the_most_probable_letter_in_both_orders():
    # The judge prefers whichever answer contains "right", wherever it is shown.
    def table(prefix, user, tokens):
        a_part = user.split("[The Start of Assistant B's Answer]")[0]
        return [0.6, 0.1, 0.2] if "right" in a_part else [0.1, 0.7, 0.1]

    judge = Judge(ProbsJudge(table), mode="logprobs")
    out = judge.pairwise(["q1", "q2"], ["right", "wrong"], ["wrong", "right"], n_boot=20)
    assert out["verdicts"] == ["A", "B"]
    assert out["first_order"] == ["A", "B"] and out["second_order"] == ["B", "A"]
    assert out["position_consistency"] == 1.0 and out["errors"] == 0
    assert out["format_mass"] == pytest.approx(0.9)


def test_logprobs_mode_refuses_a_judge_without_probabilities():
    class TextOnly:
        def generate(self, *a, **k):
            return []

    with pytest.raises(ConfigError, match="local judge"):
        Judge(TextOnly(), mode="logprobs")


def _sft_set(root):
    with ShardWriter(root, stage="test", kind="sft") as w:
        for i, (q, a) in enumerate([("What is 12 + 30?", "42."), ("Say yes.", "Yes."), ("Greet me.", "Hello!")]):
            w.count_in()
            w.write(make_record("sft", messages=[message("user", q), message("assistant", a)], source={"row": i}))
    return root


def test_eval_with_a_local_judge_directory(tiny_model, tmp_path, cli):
    data = _sft_set(tmp_path / "sft")
    out = tmp_path / "report"
    cli(
        "eval", "-m", tiny_model, "-m", tiny_model, "--data", data, "-o", out, "--max-new-tokens", 4,
        "--n-boot", 20, "--judge", tiny_model, "--metrics", "judge",
    )  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert report["judge"]["mode"] == "logprobs" and report["judge"]["backend"] == "local"
    for name in report["models"]:
        single = report["results"][name]["judge_single"]
        assert single["n"] == 3 and single["unparseable"] == 0
        assert 1.0 <= single["mean"] <= 10.0 and 0.0 < single["format_mass"] <= 1.0
    judgments = json.loads((out / "judgments.json").read_text())
    ratings = next(iter(judgments["single"].values()))["ratings"]
    assert len(ratings) == 3 and all(1.0 <= r <= 10.0 and not math.isnan(r) for r in ratings)
    assert "logprobs mode" in (out / "report.md").read_text()


def test_logprobs_mode_with_a_judge_url_is_refused(tiny_model, tmp_path, cli):
    data = _sft_set(tmp_path / "sft")
    result = cli(
        "eval", "-m", tiny_model, "--data", data, "-o", tmp_path / "r", "--judge", "http://127.0.0.1:9",
        "--judge-mode", "logprobs", ok=False,
    )  # fmt: skip
    assert result.exit_code == 2 and "needs a local judge model directory" in result.output
