"""`instructkit reward` on the tiny model: a learnable signal reaches >= 0.9 held-out pairwise accuracy,
margins from meta reach the loss, the output loads as a 1-label sequence classifier, clear errors."""

from __future__ import annotations

import json
import random

import pytest

from instructkit.errors import ConfigError
from instructkit.records import make_record, message
from instructkit.shards import ShardWriter
from instructkit.train.data import preference_rows
from instructkit.train.reward import RewardParams, pair_metrics, run_reward

WORDS = "apple river stone cloud green quick light music paper table window garden".split()


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on a shared 2-core machine two threads oversubscribe (see test_train_sft)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _marker_set(path, n=160, seed=0, margin=False):
    """Chosen ends with 'thank you', rejected with 'no': random words otherwise, so only the marker is learnable."""
    rng = random.Random(seed)
    with ShardWriter(path, stage="test") as w:
        for i in range(n):
            words = lambda k: " ".join(rng.choice(WORDS) for _ in range(k))  # noqa: E731
            meta = {"margin": 2.0} if margin and i % 2 else None
            w.count_in()
            w.write(
                make_record(
                    "preference",
                    prompt=[message("user", f"{words(4)} {i}")],
                    chosen=[message("assistant", words(5) + " thank you")],
                    rejected=[message("assistant", words(5) + " no")],
                    meta=meta,
                )
            )
    return path


@pytest.fixture(scope="module")
def trained_rm(tmp_path_factory, tiny_model):
    """The fast reward run of the default suite: 30 steps, 20% of 160 pairs held out."""
    root = tmp_path_factory.mktemp("rm")
    params = RewardParams(
        max_steps=30, learning_rate=3e-3, batch_size=8, eval_split=0.2, logging_steps=10, save_steps=None, seed=0
    )
    return run_reward([_marker_set(root / "prefs")], model=str(tiny_model), out=root / "rm", params=params)


def test_reward_model_learns_a_marker_signal(trained_rm):
    m = trained_rm["metrics"]
    assert m["heldout_pairs"] == 32
    assert m["heldout_accuracy"] >= 0.9, m
    assert m["heldout_mean_margin"] > 0.5


def test_reward_output_is_a_one_label_classifier_with_manifest(trained_rm):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = trained_rm["path"]
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    assert model.config.num_labels == 1 and model.config.pad_token_id == tok.pad_token_id

    def score(answer):
        text = tok.apply_chat_template(
            [{"role": "user", "content": "river stone"}, {"role": "assistant", "content": answer}], tokenize=False
        )
        with torch.no_grad():
            return model(**tok(text, return_tensors="pt", add_special_tokens=False)).logits[0, 0].item()

    assert score("cloud paper thank you") > score("cloud paper no")
    manifest = json.loads(trained_rm["manifest"].read_text())
    assert manifest["stage"] == "reward" and manifest["data"] == {
        "objective": "pairwise",
        "train_pairs": 128,
        "eval_pairs": 32,
        "dropped": {"identical_pair": 0},
    }
    assert manifest["metrics"]["heldout_accuracy"] == trained_rm["metrics"]["heldout_accuracy"]
    assert manifest["config"]["trainer"]["disable_dropout"] is True


def test_margins_from_meta_reach_the_dataset(tmp_path):
    from instructkit.train.common import load_records

    records, _ = load_records([_marker_set(tmp_path / "p", n=4, margin=True)], {"preference"})
    rows = preference_rows(records, margins="meta", margin_scale=0.5)
    assert [r["margin"] for r in rows] == [0.0, 1.0, 0.0, 1.0]
    annotated = dict(records[0], meta={"annotate": {"margin": 3}})
    assert preference_rows([annotated], margins="meta")[0]["margin"] == 3.0
    assert "margin" not in preference_rows(records)[0]
    with pytest.raises(ConfigError, match="no record carries"):
        preference_rows([records[0]], margins="meta")


def test_pair_metrics_counts_ties_as_wrong():
    assert pair_metrics([(1.0, 0.0), (0.0, 0.0), (0.0, 2.0), (3.0, 1.0)]) == {
        "accuracy": 0.5,
        "mean_margin": 0.25,
        "pairs": 4,
    }


def test_reward_cli_with_margins_and_errors(tmp_path, tiny_model, cli):
    prefs = _marker_set(tmp_path / "p", n=16, margin=True)
    r = cli(
        "reward",
        prefs,
        "--model",
        tiny_model,
        "-o",
        tmp_path / "rm",
        "--max-steps",
        "2",
        "--margins",
        "meta",
        "--eval-split",
        "0.25",
        "--set",
        "save_steps=null",
        "--batch-size",
        "4",
    )
    assert "held-out accuracy" in r.output
    m = json.loads((tmp_path / "rm" / "manifest.json").read_text())
    assert m["config"]["params"]["margins"] == "meta" and m["metrics"]["heldout_pairs"] == 4

    with ShardWriter(tmp_path / "sft", stage="test") as w:
        w.count_in()
        w.write(make_record("sft", messages=[message("user", "q"), message("assistant", "a")]))
    for args, expected in [
        (["reward", tmp_path / "sft", "--model", tiny_model, "-o", tmp_path / "x"], "reward needs 'preference'"),
        (["reward", prefs, "--model", tiny_model, "-o", tmp_path / "x", "--margins", "rating"], "margins"),
        (["reward", prefs, "--model", tiny_model, "-o", tmp_path / "x", "--set", "bogus=1"], "valid keys"),
        (["reward", prefs, "--model", tiny_model, "-o", tmp_path / "rm"], "not empty"),
    ]:
        r = cli(*args, ok=False)
        assert r.exit_code == 2 and expected in r.output and "Traceback" not in r.output, (expected, r.output)


@pytest.mark.slow
def test_reward_lora_reaches_accuracy(tmp_path, tiny_model):
    params = RewardParams(
        max_steps=120,
        learning_rate=5e-3,
        batch_size=8,
        eval_split=0.2,
        lora=True,
        lora_r=8,
        lora_alpha=16,
        save_steps=None,
        seed=0,
    )
    res = run_reward([_marker_set(tmp_path / "p", n=200)], model=str(tiny_model), out=tmp_path / "rm", params=params)
    assert res["metrics"]["heldout_accuracy"] >= 0.9
