"""annotate-export --select: scores, the task budget, the manifest, and the real reward-model path."""

from __future__ import annotations

import json

import pytest
from annotate_fixtures import feedback_set

import instructkit
from instructkit.annotate.select import choose, disagreement, item_score, uncertainty


def test_scores_by_hand():
    # one model: the closest pair decides; a tie is 1, far apart is near 0
    assert uncertainty([[1.0, 1.0, 5.0]]) == pytest.approx(1.0)
    assert uncertainty([[0.0, 10.0]]) == pytest.approx(4 * 0.9999546 * 0.0000454, rel=1e-3)
    # two models that order the pair the same way agree; opposite orders split evenly
    assert disagreement([[0.0, 1.0], [0.0, 2.0]]) == 0.0
    assert disagreement([[0.0, 1.0], [1.0, 0.0]]) == 1.0
    # three models, 2 against 1: 1 - |1 - 1 + 1| / 3
    assert disagreement([[0, 1], [0, 1], [1, 0]]) == pytest.approx(2 / 3)
    with pytest.raises(instructkit.ConfigError, match="two reward models"):
        item_score([[0.0, 1.0]], "disagreement")


def test_choose_spends_the_budget_best_first():
    costs = [3, 1, 1, 6, 1]
    scores = [0.9, 0.1, 0.8, 0.95, 0.5]
    chosen, spent = choose(costs, scores, by="uncertainty", budget=5)
    assert chosen == [0, 2, 4] and spent == 5  # 3 (0.95, cost 6) does not fit
    chosen_r, spent_r = choose(costs, scores, by="random", budget=5, seed=0)
    assert spent_r <= 5 and chosen_r == choose(costs, scores, by="random", budget=5, seed=0)[0]


@pytest.fixture(scope="module")
def reward_models(tiny_model, tmp_path_factory):
    """Two untrained reward models (the tiny trunk with a fresh one-output head, different seeds)."""
    import torch

    from instructkit.models import load_sequence_classifier, load_tokenizer

    out = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = load_sequence_classifier(tiny_model)
        path = tmp_path_factory.mktemp(f"rm{seed}")
        model.save_pretrained(path)
        load_tokenizer(tiny_model).save_pretrained(path)
        out.append(str(path))
    return out


@pytest.mark.parametrize("by", ["uncertainty", "disagreement", "random"])
def test_export_select_writes_choice_and_scores(tmp_path, reward_models, by):
    cand = feedback_set(tmp_path)  # items A (3 responses: 3 pairs), B (1 pair), C (4 responses: 6 pairs)
    rms = reward_models if by != "uncertainty" else reward_models[:1]
    out = instructkit.annotate_export(
        cand, tmp_path / "tasks", template="pairwise", select=4, by=by, reward_model=rms, seed=2
    )
    m = json.loads((out / "export_manifest.json").read_text())
    sel = m["selection"]
    assert sel["by"] == by and sel["budget"] == 4 and sel["reward_models"] == rms
    assert set(sel["scores"]) == {r["id"] for r in instructkit.read(cand)}
    assert all(0.0 <= v <= 1.01 for v in sel["scores"].values())
    assert m["tasks"] == sel["tasks"] <= 4
    tasks = json.loads((out / "tasks.json").read_text())
    assert {t["data"]["instructkit_id"] for t in tasks} == set(sel["chosen"])
    if by != "random":  # best first: no unchosen item that fits the budget scores higher than a chosen one
        chosen_scores = [sel["scores"][i] for i in sel["chosen"]]
        assert chosen_scores == sorted(chosen_scores, reverse=True)


def test_select_needs_reward_models(tmp_path):
    cand = feedback_set(tmp_path)
    with pytest.raises(instructkit.ConfigError, match="needs a reward model"):
        instructkit.annotate_export(cand, tmp_path / "t", template="pairwise", select=3, by="uncertainty")
    out = instructkit.annotate_export(cand, tmp_path / "t", template="ranking", select=2, by="random")
    assert json.loads((out / "export_manifest.json").read_text())["tasks"] == 2
