"""Model-based rules (perplexity, reward, IFD) on the tiny offline model: mechanics, not quality."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from instructkit import filters
from instructkit.errors import ConfigError
from instructkit.records import make_record, message
from instructkit.stage import Filter, run_chain, run_chain_batch


def sft(user, assistant):
    return make_record("sft", messages=[message("user", user), message("assistant", assistant)])


def build(name, **params):
    return filters.build_chain(filters.effective(filters.resolve([(name, params)])))[0]


RECORDS = [
    sft("What is the capital of France?", "The capital of France is Paris."),
    sft("Count to five.", "one two three four five"),
    sft("你好吗？", "我很好，谢谢。"),
]


# Lengths from 1 to ~90 tokens so a batch mixes short and long rows (real padding), a reply that
# contacts an e-mail (for the pii mapper) and an empty reply (NaN score: kept both ways).
_WORDS = "the cat sat on a mat while 你好 world data model answer question why how 42 ok".split()
VARIED = [
    sft(" ".join(_WORDS[: 1 + i % 9] * (1 + i % 4)), " ".join(_WORDS[i % 7 :] * (1 + (i * 5) % 6))) for i in range(22)
] + [sft("Write to me.", "Mail bob@example.com today, ok."), sft("Say nothing.", "")]


def test_batched_scores_equal_one_at_a_time(tiny_model):
    for name, params in [("perplexity", {}), ("perplexity", {"on": "conversation"}), ("ifd", {"max_ifd": None})]:
        op = build(name, model=str(tiny_model), batch_size=4, max_length=48, **params)  # 48 cuts long rows
        one = [op.score(r) for r in VARIED]
        many = op.scores(VARIED)
        # the empty reply has no score (NaN) unless the conversation is scored
        assert math.isnan(one[-1]) == math.isnan(many[-1]) == (params.get("on") != "conversation")
        assert many == pytest.approx(one, rel=1e-4, abs=1e-4, nan_ok=True), (name, params)
        # thresholds at the median: the batched verdicts drop the same records for the same reasons
        mid = sorted(one[:-1])[len(one) // 2 - 1]
        key = "max_ifd" if name == "ifd" else "max_perplexity"
        op = build(name, model=str(tiny_model), batch_size=5, max_length=48, **{**params, key: mid})
        batched = op.check_batch(VARIED)
        assert [v and v.reason for v in batched] == [v and v.reason for v in (op.check(r) for r in VARIED)]
        assert 0 < sum(v is not None for v in batched) < len(VARIED)


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


def test_reward_batched_equals_one_at_a_time(reward_model):
    op = build("reward", model=str(reward_model), batch_size=3)
    one = [op.score(r) for r in VARIED]
    assert op.scores(VARIED) == pytest.approx(one, rel=1e-4, abs=1e-4)
    assert len(set(round(s, 4) for s in one)) > 3  # the scores differ, so the order of rows is tested
    ranked = sorted(one)
    # The threshold lies between two scores: at a score itself, batched padding (1e-7 apart) could flip it.
    mid = (ranked[len(ranked) // 2 - 1] + ranked[len(ranked) // 2]) / 2
    op = build("reward", model=str(reward_model), batch_size=3, min_score=mid)
    assert op.check_batch(VARIED) == [op.check(r) for r in VARIED]


class _Spy(Filter):
    """Wraps a filter and records what each check_batch call received."""

    def __init__(self, inner):
        super().__init__(inner.params)
        self.inner, self.calls = inner, []

    def check(self, record):
        return self.inner.check(record)

    def check_batch(self, records):
        self.calls.append([r["id"] for r in records])
        return self.inner.check_batch(records)


def test_chain_drops_before_a_batched_filter(tiny_model):
    chain = filters.build_chain(
        filters.effective(
            filters.resolve(
                [
                    ("pii", {"action": "mask"}),  # a mapper: runs per record before the filters
                    ("length", {"unit": "words", "min": {"assistant": 4}}),  # drops the short replies
                    ("ifd", {"model": str(tiny_model), "batch_size": 4, "max_ifd": 1.0}),
                ]
            )
        )
    )
    chain[-1] = spy = _Spy(chain[-1])
    unbatched = [run_chain(chain, r) for r in VARIED]
    batched = run_chain_batch(chain, VARIED)
    survivors = [r["id"] for r, v in unbatched if v is None or v.reason.startswith("ifd")]
    assert spy.calls == [survivors]  # only records that passed length, in input order, in one call
    assert 0 < len(survivors) < len(VARIED)
    assert [(r, v and v.reason) for r, v in batched] == [(r, v and v.reason) for r, v in unbatched]
    masked = next(r for r, _ in batched if "[EMAIL]" in r["messages"][1]["content"])
    assert masked["meta"]["pii"]["email"] == 1


def test_batched_filter_with_workers(tmp_path, tiny_model):
    from functools import partial

    from instructkit.shards import ShardSet, ShardWriter
    from instructkit.stage import apply

    scores = build("perplexity", model=str(tiny_model)).scores(VARIED)
    mid = sorted(scores[:-1])[len(scores) // 2]  # keeps about half of the records that pass length
    config = {
        "rules": [
            {"length": {"unit": "words", "min": {"assistant": 4}}},
            {"perplexity": {"model": str(tiny_model), "batch_size": 3, "max_perplexity": mid}},
        ]
    }
    factory = partial(filters.build_chain, filters.effective(filters.resolve(filters.parse(config))))
    runs = {}
    for workers in (1, 2):
        with ShardWriter(tmp_path / f"out{workers}", stage="filter") as writer:
            # 5 records per task: both workers get tasks, each a check_batch of up to 5 survivors
            apply(VARIED, factory, writer, workers=workers, batch_size=5)
        s = ShardSet(tmp_path / f"out{workers}")
        runs[workers] = ([r["id"] for r in s], [(r["id"], r["meta"]["reject"]["reason"]) for r in s.rejected])
    assert runs[1] == runs[2]
    reasons = {reason for _, reason in runs[1][1]}
    assert {"length.min_assistant", "perplexity.max"} <= reasons and runs[1][0]


def test_model_rules_need_a_model(tmp_path):
    with pytest.raises(ConfigError, match="needs 'model'"):
        filters.resolve([("ifd", {})])
    with pytest.raises(ConfigError, match="batch_size"):
        filters.resolve([("ifd", {"model": "x", "batch_size": 0})])
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
