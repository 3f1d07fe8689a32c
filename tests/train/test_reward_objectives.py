"""``reward --objective pairwise|pointwise|listwise``: hand-computed losses and rank statistics, the
prompt-grouped split, and a rating, a ranking and an edit export (Label Studio JSON, data/samples/annotate)
each training a reward model through the CLI with the held-out metric that fits it in the manifest."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from instructkit.records import make_record, message
from instructkit.train.reward_objectives import group_split, heldout_metrics, items_of, kendall, spearman

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "annotate"


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_rank_statistics_by_hand():
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(1 - 6 * 2 / 60)  # one swap: d^2 = 2
    assert kendall([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx((5 - 1) / 6)  # 5 concordant, 1 discordant
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert kendall([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(2 * 3))  # tau-b with one tie in x
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # constant: undefined, not 0


def test_listwise_and_pointwise_losses_by_hand():
    import torch

    from instructkit.train.reward_objectives import objective_loss

    rewards = torch.tensor([1.0, 0.0, 2.0, 0.5, 0.0])
    targets = torch.tensor([2.0, 1.0, 0.0, 0.0, 1.0])
    group = torch.tensor([0, 0, 0, 1, 1])
    # Item 0 ranks 0 > 1 > 2: pairs (0,1), (0,2), (1,2) with reward differences 1, -1, -2; item 1 ranks
    # 4 > 3 with difference -0.5. Each item's loss is the mean over its C(K, 2) pairs, then items average.
    item0 = (_softplus(-1) + _softplus(1) + _softplus(2)) / 3
    item1 = _softplus(0.5)
    loss = objective_loss(rewards, targets, group, "listwise")
    assert loss.item() == pytest.approx((item0 + item1) / 2, rel=1e-6)
    mse = objective_loss(rewards, targets, group, "pointwise")
    assert mse.item() == pytest.approx(
        sum((r - t) ** 2 for r, t in zip(rewards.tolist(), targets.tolist(), strict=True)) / 5
    )
    tied = objective_loss(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0]), torch.tensor([0, 0]), "listwise")
    assert tied.item() == 0.0  # a tie gives no pair


def _feedback(prompt: str, scores: list[float]) -> dict:
    return make_record(
        "feedback",
        prompt=[message("user", prompt)],
        responses=[{"content": f"answer {i}"} for i in range(len(scores))],
        judgments=[],
        meta={"annotate": {"scores": scores}},
    )


def test_items_and_metrics_from_scores():
    recs = [_feedback("a", [3.0, 1.0, None]), _feedback("b", [2.0, 2.0]), _feedback("c", [4.0])]
    point = items_of(recs, "pointwise")
    assert [it["scores"] for it in point] == [[3.0, 1.0], [2.0, 2.0], [4.0]]
    listwise = items_of(recs, "listwise")  # all-tied and single-response items teach no order
    assert [it["responses"] for it in listwise] == [["answer 0", "answer 1"]]
    m = heldout_metrics(point, [[1.0, 0.0], [0.3, 0.2], [2.0]], "pointwise", (2.5, 1.0))
    assert m["accuracy"] == 1.0 and m["pairs"] == 1 and m["responses"] == 5
    assert m["spearman"] == pytest.approx(spearman([1.0, 0.0, 0.3, 0.2, 2.0], [3.0, 1.0, 2.0, 2.0, 4.0]))


def test_group_split_keeps_one_prompts_pairs_together():
    recs = []
    for p in range(10):
        for k in range(3):  # all-pairs binarisation: three pairs per prompt
            rec = make_record(
                "preference",
                prompt=[message("user", f"q{p}")],
                chosen=[message("assistant", f"good {k}")],
                rejected=[message("assistant", f"bad {k}")],
                meta={"annotate": {"feedback_id": f"f{p}"}},
            )
            recs.append(rec)
    train, held = group_split(recs, 0.2, seed=0)
    held_prompts = {r["prompt"][0]["content"] for r in held}
    assert len(held) == 6 and len(held_prompts) == 2
    assert not held_prompts & {r["prompt"][0]["content"] for r in train}


@pytest.mark.parametrize(
    "export, objective, kind, metrics",
    [
        ("export-rating.json", "pointwise", "feedback",
         ("heldout_spearman", "heldout_kendall", "heldout_rmse", "heldout_accuracy")),
        ("export-ranking.json", "listwise", "feedback",
         ("heldout_kendall", "heldout_spearman", "heldout_accuracy")),
        ("export-edit.json", "pairwise", "preference", ("heldout_accuracy", "heldout_mean_margin")),
    ],
)  # fmt: skip
def test_each_export_trains_a_reward_model(cli, tiny_model, tmp_path, export, objective, kind, metrics):
    # Without --tasks the items come from the task data in the export itself (what a user with only the
    # Label Studio file has); the ratings are calibrated per annotator (z-scores) before training.
    cli("annotate-import", SAMPLE / export, "-o", tmp_path / "labels", "--calibrate")
    out = tmp_path / "rm"
    cli(
        "reward",
        tmp_path / "labels" / kind,
        "--objective",
        objective,
        "--model",
        tiny_model,
        "-o",
        out,
        "--max-steps",
        3,
        "--lr",
        1e-3,
        "--batch-size",
        4,
        "--eval-split",
        0.25,
        "--set",
        "max_length=96",
        "--set",
        "save_steps=null",
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["objective"] == objective and manifest["data"]["objective"] == objective
    assert manifest["config"]["params"]["objective"] == objective
    for key in metrics:
        assert isinstance(manifest["metrics"][key], float), (key, manifest["metrics"])
    if objective == "pointwise":  # the calibrated z-scores, standardised: their unit is recorded
        assert manifest["metrics"]["target_sd"] > 0
    from transformers import AutoModelForSequenceClassification

    assert AutoModelForSequenceClassification.from_pretrained(out).config.num_labels == 1


def test_objective_needs_the_right_kind(cli, tiny_model, tmp_path):
    from instructkit.shards import ShardWriter

    with ShardWriter(tmp_path / "fb", stage="test", conserving=False) as w:
        w.write(_feedback("a", [1.0, 2.0]))
    r = cli("reward", tmp_path / "fb", "--model", tiny_model, "-o", tmp_path / "rm", ok=False)
    assert r.exit_code == 2 and "'preference'" in r.output
    r = cli("reward", tmp_path / "fb", "--objective", "ranked", "--model", tiny_model, "-o", tmp_path / "x", ok=False)
    assert r.exit_code == 2 and "pairwise, pointwise, listwise" in r.output
