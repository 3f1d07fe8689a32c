"""Labelled unpaired data (KTO): LLaMA-Factory's ``messages`` + ``label``/``kto_tag`` and TRL's unpaired
shape ingest, auto-detected, as ``prompt`` records with ``completion`` and a boolean ``label``; a
labelled-bad answer never becomes an sft record; ``rlhf --algo kto`` trains on the result."""

from __future__ import annotations

import json
from collections import Counter

from instructkit.shards import ShardSet

KTO_DEMO = "data/samples/kto/kto_en_demo.json"


def _ingest(cli, path, out, *args, ok=True):
    return cli("ingest", path, "-o", out, *args, ok=ok)


def test_kto_en_demo_ingests_to_150_good_150_bad(cli, samples, tmp_path):
    _ingest(cli, samples / "kto" / "kto_en_demo.json", tmp_path / "kto")
    s = ShardSet(tmp_path / "kto")
    recs = list(s)
    assert s.manifest["kinds"] == {"prompt": 300} and s.manifest["stats"]["formats"] == {"kto": 300}
    assert Counter(r["label"] for r in recs) == {True: 150, False: 150}
    assert all(type(r["label"]) is bool and r["completion"][-1]["role"] == "assistant" for r in recs)
    assert all(r["prompt"][-1]["role"] == "user" and "messages" not in r for r in recs)
    multi = [r for r in recs if len(r["prompt"]) == 3]  # an earlier exchange stays in the prompt
    assert multi and multi[0]["prompt"][1]["role"] == "assistant"
    raw = json.loads((samples / "kto" / "kto_en_demo.json").read_text())
    assert [r["completion"][0]["content"] for r in recs] == [row["messages"][-1]["content"] for row in raw]


def test_other_labelled_shapes_are_detected(cli, tmp_path):
    rows = [
        {"instruction": "2 + 2?", "input": "", "output": "4", "kto_tag": True},  # LLaMA-Factory alpaca
        {"instruction": "2 + 3?", "input": "", "output": "7", "kto_tag": False},
    ]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    sharegpt = [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Go away."}], "label": "false"}
    ]
    (tmp_path / "s.json").write_text(json.dumps(sharegpt))
    trl = [{"prompt": "Name a colour.", "completion": "Blue.", "kto_tag": 1}]
    (tmp_path / "t.jsonl").write_text("\n".join(map(json.dumps, trl)))
    _ingest(cli, tmp_path / "a.json", tmp_path / "a")
    _ingest(cli, tmp_path / "s.json", tmp_path / "s")
    _ingest(cli, tmp_path / "t.jsonl", tmp_path / "t")
    a = list(ShardSet(tmp_path / "a"))
    assert [(r["prompt"][0]["content"], r["completion"][0]["content"], r["label"]) for r in a] == [
        ("2 + 2?", "4", True),
        ("2 + 3?", "7", False),
    ]
    (s,) = ShardSet(tmp_path / "s")
    assert s["label"] is False and s["completion"] == [{"role": "assistant", "content": "Go away."}]
    (t,) = ShardSet(tmp_path / "t")
    assert t["label"] is True and t["prompt"][0]["content"] == "Name a colour."


def test_a_labelled_bad_answer_never_becomes_sft_unless_asked(cli, tmp_path):
    rows = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}], "label": True},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Shut up."}], "label": False},
    ]
    (tmp_path / "k.json").write_text(json.dumps(rows))
    forced = _ingest(cli, tmp_path / "k.json", tmp_path / "forced", "--format", "openai", ok=False)
    assert forced.exit_code == 2 and "labelled bad" in forced.output and "--map kept_label=label" in forced.output
    assert not list((tmp_path / "forced").glob("*/manifest.json"))  # no set was committed
    # Skipping bad rows keeps only the good answer as sft; the bad one is quarantined with its reason.
    _ingest(cli, tmp_path / "k.json", tmp_path / "skip", "--format", "openai", "--on-error", "skip")
    kept = list(ShardSet(tmp_path / "skip"))
    assert [r["messages"][-1]["content"] for r in kept] == ["Hello!"]
    # Renaming the label column is asking for it on purpose.
    _ingest(cli, tmp_path / "k.json", tmp_path / "asked", "--format", "openai", "--map", "kept_label=label")
    asked = list(ShardSet(tmp_path / "asked"))
    assert len(asked) == 2 and asked[1]["meta"]["extra"]["kept_label"] is False


def test_kto_trains_on_the_ingested_demo(cli, samples, tiny_model, tmp_path):
    _ingest(cli, samples / "kto" / "kto_en_demo.json", tmp_path / "kto")
    out = tmp_path / "model"
    cli(
        "rlhf",
        tmp_path / "kto",
        "--algo",
        "kto",
        "--policy",
        tiny_model,
        "-o",
        out,
        "--max-steps",
        2,
        "--set",
        "batch_size=4",
        "--set",
        "logging_steps=1",
        "--set",
        "max_length=64",
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "rlhf-kto" and manifest["data"]["train_rows"] == 300
    assert manifest["inputs"][0]["fingerprint"] == ShardSet(tmp_path / "kto").fingerprint
    assert any("rewards/margins" in h for h in manifest["log_history"])
    # An sft stage refuses the set: labelled answers are not supervised targets.
    refused = cli("sft", tmp_path / "kto", "--model", tiny_model, "-o", tmp_path / "sft", ok=False)
    assert refused.exit_code == 2 and "'prompt'" in refused.output
