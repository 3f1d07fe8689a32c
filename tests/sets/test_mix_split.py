"""mix and split: conservation (verify passes), weights and caps, no prompt in two splits, splits as inputs."""

from __future__ import annotations

import json

import pytest

import instructkit
from instructkit.records import make_record, message
from instructkit.sets.mix import plan
from instructkit.sets.split import group_key
from instructkit.shards import ShardSet, ShardWriter, verify


def _sft_set(root, name, n, *, repeat=1, multi_turn=False):
    """n distinct prompts, each repeated ``repeat`` times with different answers (a leak if split apart)."""
    with ShardWriter(root / name, stage="test") as w:
        for i in range(n):
            for r in range(repeat):
                msgs = [message("user", f"{name} question {i}?"), message("assistant", f"answer {r}")]
                if multi_turn and r:
                    msgs += [message("user", f"follow-up {r}"), message("assistant", "more")]
                w.count_in()
                w.write(make_record("sft", messages=msgs, source={"file": name, "line": i * repeat + r}))
    return w.path


def test_mix_weights_caps_conserve(tmp_path, cli):
    a = _sft_set(tmp_path, "a", 40)
    b = _sft_set(tmp_path, "b", 20)
    out = instructkit.mix([a, b], tmp_path / "mix", weights=[0.5, 0.5], seed=3)
    s = ShardSet(out)
    assert verify(out) == []
    counts = s.manifest["counts"]
    assert counts["in"] == 60 and counts["kept"] == 40 and counts["rejected"] == {"not_sampled": 20}
    sources = [r["meta"]["mix"]["set"] for r in s]
    assert sources.count(str(ShardSet(a).path)) == 20 and sources.count(str(ShardSet(b).path)) == 20
    # interleaved, not concatenated
    assert sources[:20] != [str(ShardSet(a).path)] * 20
    assert all(r["meta"]["source"]["file"] in ("a", "b") for r in s)  # the user's meta is kept
    rejected = list(s.rejected)
    assert all(r["meta"]["reject"]["reason"] == "not_sampled" for r in rejected)
    assert {r["id"] for r in s} | {r["id"] for r in rejected} == {r["id"] for r in ShardSet(a)} | {
        r["id"] for r in ShardSet(b)
    }
    # same seed, same output; caps through the CLI
    again = instructkit.mix([a, b], tmp_path / "mix", weights=[0.5, 0.5], seed=3)
    assert ShardSet(again).fingerprint == s.fingerprint
    cli("mix", a, b, "-o", tmp_path / "capped", "--caps", "5", "--caps", "0")
    capped = ShardSet(tmp_path / "capped")
    assert len(capped) == 25 and verify(capped.path) == []
    assert cli("verify", capped.path).exit_code == 0
    # a comma list of numbers is the same as repeating the flag
    cli("mix", a, b, "-o", tmp_path / "capped-commas", "--caps", "5,0")
    assert ShardSet(tmp_path / "capped-commas").fingerprint == capped.fingerprint
    bad = cli("mix", a, b, "-o", tmp_path / "bad", "--caps", "5,x", ok=False)
    assert bad.exit_code == 2 and "caps" in bad.output


def test_mix_plan():
    assert plan([100, 50], weights=None, caps=None, size=None) == [100, 50]
    assert plan([100, 50], weights=[0.7, 0.3], caps=None, size=None) == [100, 42]
    assert plan([100, 50], weights=[0.5, 0.5], caps=[10, 0], size=None) == [10, 10]
    assert plan([100, 50], weights=None, caps=None, size=30) == [20, 10]
    assert plan([100, 50], weights=[1, 0], caps=None, size=31) == [31, 0]
    with pytest.raises(instructkit.ConfigError):
        plan([1, 2], weights=[1.0], caps=None, size=None)


def test_split_groups_prompts_and_conserves(tmp_path, cli):
    data = _sft_set(tmp_path, "d", 60, repeat=3, multi_turn=True)  # 180 records, 60 prompts
    out = instructkit.split(data, tmp_path / "split", val=0.1, test=0.1, seed=1)
    s = ShardSet(out)
    assert verify(out) == []
    assert cli("verify", out).exit_code == 0
    val, test = s.sub("val"), s.sub("test")
    assert len(s) + len(val) + len(test) == 180
    assert len(val) == 18 and len(test) == 18  # groups of 3 fill 10% exactly
    keys = [{group_key(r) for r in part} for part in (s, val, test)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert val.fingerprint != test.fingerprint != s.fingerprint
    assert s.manifest["counts"]["splits"] == {"test": 18, "val": 18}
    # a split is named as OUT/val (newest version) wherever a set is read
    assert ShardSet(tmp_path / "split" / "val").path == val.path
    assert sum(1 for _ in instructkit.read(tmp_path / "split" / "test")) == 18
    # seeded: the same split again; another seed, another split
    same = ShardSet(instructkit.split(data, tmp_path / "split", val=0.1, test=0.1, seed=1))
    assert same.sub("val").fingerprint == val.fingerprint
    other = ShardSet(instructkit.split(data, tmp_path / "split", val=0.1, test=0.1, seed=2))
    assert other.sub("val").fingerprint != val.fingerprint


def test_split_normalises_prompts_and_counts(tmp_path):
    with ShardWriter(tmp_path / "p", stage="test") as w:
        for i in range(20):
            for text in (f"Question  {i}", f"question {i} "):  # same prompt after normalisation
                w.write(make_record("prompt", prompt=[message("user", text)], source={"line": i}))
    out = instructkit.split(tmp_path / "p", tmp_path / "s", val=4, test=0)
    s = ShardSet(out)
    assert len(s.sub("val")) == 4 and s.sub("test") is None
    val_prompts = {r["prompt"][0]["content"].split()[-1] for r in s.sub("val")}
    train_prompts = {r["prompt"][0]["content"].split()[-1] for r in s}
    assert not val_prompts & train_prompts
    assert verify(out) == []


def test_verify_catches_a_missing_split(tmp_path):
    out = instructkit.split(_sft_set(tmp_path, "d", 20), tmp_path / "s", val=0.2, test=0)
    import shutil

    shutil.rmtree(out / "val")
    assert any("val/ is missing" in p for p in verify(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["in"] == 20


def test_training_and_eval_loaders_read_a_split(tmp_path):
    """sft, reward and rlhf read sets through train.common.load_records, eval through load_data: both take OUT/val."""
    from instructkit.eval.runner import load_data
    from instructkit.train.common import load_records

    instructkit.split(_sft_set(tmp_path, "d", 30), tmp_path / "split", val=0.2, test=0.2, seed=0)
    records, sets = load_records([tmp_path / "split" / "val"], {"sft"}, stage="sft")
    assert len(records) == 6 and sets[0].path.name == "val"
    train, _ = load_records([tmp_path / "split"], {"sft"}, stage="sft")
    assert len(train) == 18
    assert not {r["id"] for r in records} & {r["id"] for r in train}
    _, items, sft, _ = load_data([str(tmp_path / "split" / "test")], None)
    assert len(items) == 6 and sum(len(v) for v in sft.values()) == 6
