"""Dataset cards: every version directory loads with datasets.load_dataset(dir) and (dir, "rejected")."""

from __future__ import annotations

import pytest

from instructkit.shards import ShardSet, ShardWriter, fingerprint_of, verify


def _msgs(i: int) -> list[dict]:
    return [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]


def _write(out, *, splits: bool = False, shard_size: int = 3):
    with ShardWriter(out, stage="filter", params={"x": 1}, shard_size=shard_size) as w:
        for i in range(8):
            w.count_in()
            rec = {"id": f"r{i}", "messages": _msgs(i), "meta": {"source": {"file": "a.jsonl", "line": i}}}
            if i % 4 == 3:
                w.reject(rec, "too_short", words=1)
            elif splits and i == 0:
                w.write_split("val", rec)
            else:
                w.write(rec)
        w.count_in()
        w.quarantine("{not json", "parse_error", source={"file": "a.jsonl", "line": 9}, error="bad")
    return w.path


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def test_load_dataset_default_rejected_quarantine(tmp_path):
    datasets = pytest.importorskip("datasets")
    path = _write(tmp_path / "filter")
    card = (path / "README.md").read_text()
    assert "config_name: rejected" in card and "config_name: quarantine" in card
    cache = str(tmp_path / "hf-cache")

    kept = datasets.load_dataset(str(path), split="train", cache_dir=cache)
    assert sorted(kept["id"]) == ["r0", "r1", "r2", "r4", "r5", "r6"]  # three parts of <= 3 records
    assert kept[0]["messages"][0]["role"] == "user"

    rejected = datasets.load_dataset(str(path), "rejected", split="train", cache_dir=cache)
    assert sorted(rejected["id"]) == ["r3", "r7"]
    assert {r["meta"]["reject"]["reason"] for r in rejected} == {"too_short"}

    quarantine = datasets.load_dataset(str(path), "quarantine", split="train", cache_dir=cache)
    assert quarantine[0]["raw"] == "{not json"


def test_splits_become_dataset_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    path = _write(tmp_path / "split", splits=True)
    ds = datasets.load_dataset(str(path), cache_dir=str(tmp_path / "hf-cache"))
    assert set(ds) == {"train", "validation"}
    assert ds["validation"]["id"] == ["r0"]
    assert len(ds["train"]) == 5


def test_card_leaves_fingerprint_and_verify_alone(tmp_path):
    path = _write(tmp_path / "filter")
    s = ShardSet(path)
    assert (path / "README.md").is_file()
    assert "README.md" not in [p["file"] for p in s.manifest["parts"]]
    assert fingerprint_of(s.manifest["parts"]) == s.fingerprint
    assert verify(path) == []
    # Editing the card (a user adding a description before a push) is not a change to the data.
    (path / "README.md").write_text((path / "README.md").read_text() + "\nMore words.\n")
    assert verify(path) == []
    # Same records, written again: same fingerprint although the card holds a creation time.
    assert ShardSet(_write(tmp_path / "again")).fingerprint == s.fingerprint


def test_empty_set_has_a_card_without_default_config(tmp_path):
    with ShardWriter(tmp_path / "empty", stage="filter") as w:
        w.count_in()
        w.reject({"id": "x", "messages": _msgs(0)}, "dup")
    card = (w.path / "README.md").read_text()
    assert "config_name: default" not in card and "config_name: rejected" in card
    assert verify(w.path) == []
