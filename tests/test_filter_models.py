"""Model-based rules (perplexity, reward, IFD) on the tiny offline model: mechanics, not quality."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from instructkit import filters
from instructkit.errors import ConfigError
from instructkit.records import make_record, message
from instructkit.stage import run_chain


def sft(user, assistant):
    return make_record("sft", messages=[message("user", user), message("assistant", assistant)])


def build(name, **params):
    return filters.build_chain(filters.effective(filters.resolve([(name, params)])))[0]


RECORDS = [
    sft("What is the capital of France?", "The capital of France is Paris."),
    sft("Count to five.", "one two three four five"),
    sft("你好吗？", "我很好，谢谢。"),
]


def test_perplexity_scores_and_thresholds(tiny_model):
    op = build("perplexity", model=str(tiny_model))
    scores = [op.score(r) for r in RECORDS]
    assert all(math.isfinite(s) and s > 1.0 for s in scores)
    assert op.score(RECORDS[0]) == pytest.approx(scores[0])  # deterministic (eval mode, no dropout)
    assert all(op.check(r) is None for r in RECORDS)  # no bounds: keeps everything
    low = min(scores)
    drop = build("perplexity", model=str(tiny_model), max_perplexity=low * 0.5).check(RECORDS[0])
    assert drop.reason == "perplexity.max" and drop.details["value"] > drop.details["threshold"]
    drop = build("perplexity", model=str(tiny_model), min_perplexity=max(scores) * 2).check(RECORDS[0])
    assert drop.reason == "perplexity.min"
    conv = build("perplexity", model=str(tiny_model), on="conversation")
    assert math.isfinite(conv.score(RECORDS[0])) and conv.score(RECORDS[0]) != pytest.approx(scores[0])


def test_ifd_is_the_loss_ratio(tiny_model):
    op = build("ifd", model=str(tiny_model), max_ifd=None)
    record = RECORDS[0]
    prefix = op.tok.apply_chat_template(record["messages"][:1], tokenize=False, add_generation_prompt=True)
    conditioned = op.answer_loss(prefix, record["messages"][1]["content"])
    direct = op.answer_loss(None, record["messages"][1]["content"])
    assert op.score(record) == pytest.approx(conditioned / direct)
    assert op.check(record) is None
    ifd = op.score(record)
    drop = build("ifd", model=str(tiny_model), max_ifd=ifd * 0.9).check(record)
    assert drop.reason == "ifd.max" and drop.details["value"] == pytest.approx(ifd, rel=1e-3)
    assert build("ifd", model=str(tiny_model), min_ifd=ifd * 1.1, max_ifd=None).check(record).reason == "ifd.min"


@pytest.fixture(scope="module")
def reward_model(tiny_model, tmp_path_factory):
    """A one-label sequence classifier saved to disk, as the reward stage writes it (fixed score head)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("rm") / "model"
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(out)
    return out


def test_reward_threshold_and_chain(reward_model):
    tiny_model = reward_model
    op = build("reward", model=str(tiny_model))
    scores = [op.score(r) for r in RECORDS]
    assert all(math.isfinite(s) for s in scores)
    threshold = sorted(scores)[1]
    ops = filters.build_chain(
        filters.effective(filters.resolve([("reward", {"model": str(tiny_model), "min_score": threshold})]))
    )
    verdicts = [run_chain(ops, r)[1] for r in RECORDS]
    assert [v is None for v in verdicts] == [s >= threshold for s in scores]
    dropped = [v for v in verdicts if v is not None]
    assert dropped and all(v.reason == "reward.min_score" and v.details["value"] < threshold for v in dropped)


def test_model_rules_need_a_model(tmp_path):
    with pytest.raises(ConfigError, match="needs 'model'"):
        filters.resolve([("ifd", {})])
    with pytest.raises(ConfigError, match="cannot load model"):
        build("perplexity", model=str(tmp_path / "nope"))


def test_filters_package_does_not_import_torch():
    code = (
        "import sys, instructkit.filters as f; f.rules(); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_filter_cli_with_ifd(tmp_path, cli, tiny_model):
    from instructkit.shards import ShardSet, ShardWriter

    with ShardWriter(tmp_path / "in", stage="test") as w:
        for r in RECORDS:
            w.count_in()
            w.write(r)
    cfg = tmp_path / "f.yaml"
    cfg.write_text(f"rules:\n  - ifd: {{model: {tiny_model}, max_ifd: 0.0}}\n", encoding="utf-8")
    cli("filter", tmp_path / "in", "-o", tmp_path / "out", "--config", cfg)
    s = ShardSet(tmp_path / "out")
    assert s.manifest["counts"]["rejected"] == {"ifd.max": 3}
    assert all(r["meta"]["reject"]["rule"] == "ifd" for r in s.rejected)
