"""dedupe out of core (``--memory-budget``): signatures, ids and candidate pairs on disk give exactly the
in-memory run's output (kept set, rejected set, clusters.jsonl, stats, fingerprints), and the on-disk
pieces (SigStore, IdStore, PairSink) behave like the arrays they replace."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from instructkit.dedupe import spill as spill_mod
from instructkit.dedupe.spill import IdStore, PairSink, SigStore, Spill, parse_size
from instructkit.records import make_record, message
from instructkit.shards import ShardSet, ShardWriter, verify

WORDS = "river stone cloud light paper glass water metal forest music number garden window alpha bravo".split()


def _rec(prompt: str, answer: str, **meta) -> dict:
    return make_record(
        "sft", messages=[message("user", prompt), message("assistant", answer)], source={"file": "t"}, meta=meta
    )


def _write(path, records) -> ShardSet:
    with ShardWriter(path, stage="test") as w:
        for r in records:
            w.count_in()
            w.write(r)
    return ShardSet(w.path)


@pytest.fixture
def small_parts(monkeypatch):
    """Tiny chunks and partitions, so a small set goes through every multi-chunk path on disk."""
    monkeypatch.setattr(spill_mod, "RECORDS_PER_PART", 40)
    monkeypatch.setattr(spill_mod, "CHUNK_BYTES", 512 * 33)
    made = []
    init = Spill.__init__

    def tracking_init(self, parent=None):
        init(self, parent)
        made.append(self.dir)

    monkeypatch.setattr(Spill, "__init__", tracking_init)
    return made


def _mixed_set(tmp_path, cli, samples) -> ShardSet:
    """The real samples (their exact and near duplicates) plus injected edits, a templated bucket larger
    than ``full_bucket`` (40 copies), empty answers and unicode ids."""
    cli("ingest", samples / "alpaca.json", "-o", tmp_path / "samples")
    recs = [dict(r) for r in ShardSet(tmp_path / "samples")]
    rng = random.Random(5)
    base = [" ".join(rng.choice(WORDS) for _ in range(50)) for _ in range(120)]
    recs += [_rec(f"q{i}", t, quality=rng.random()) for i, t in enumerate(base)]
    for t in base[:60]:
        words = t.split()
        words[rng.randrange(len(words))] = "edited"
        recs.append(_rec("q", " ".join(words), quality=rng.random()))
    recs += [_rec("template", "Sure! Here is the answer you asked for, in full, with every detail.")] * 40
    recs += [_rec("empty", "")] * 3
    for i, r in enumerate(recs[-10:]):
        r["id"] = f"ид-{i}-\u00e9"
    return _write(tmp_path / "in", recs)


def _same_output(a, b) -> None:
    one, two = ShardSet(a), ShardSet(b)
    assert verify(a) == [] and verify(b) == []
    assert one.fingerprint == two.fingerprint
    assert one.rejected is not None and one.rejected.fingerprint == two.rejected.fingerprint
    assert list(one.rejected) == list(two.rejected)
    assert (one.path / "clusters.jsonl").read_bytes() == (two.path / "clusters.jsonl").read_bytes()
    assert one.manifest["stats"] == two.manifest["stats"]


@pytest.mark.parametrize(
    "args",
    [
        (),  # exact, minhash, --verify
        ("--no-verify", "--keep", "longest"),
        ("--mode", "minhash", "--keep", "highest:quality", "--workers", "2"),
    ],
)
def test_spilled_run_equals_in_memory(cli, samples, tmp_path, small_parts, args):
    src = _mixed_set(tmp_path, cli, samples)
    cli("dedupe", src.path, "-o", tmp_path / "mem", *args)
    assert not small_parts  # 4 GB default budget: in memory
    cli("dedupe", src.path, "-o", tmp_path / "disk", *args, "--memory-budget", 0)
    assert len(small_parts) == 1 and not small_parts[0].exists()  # spilled, and removed at the end
    assert small_parts[0].parent.parent == tmp_path / "disk"  # in the output's staging directory
    assert small_parts[0].parent.name.startswith(".tmp-")
    _same_output(tmp_path / "mem", tmp_path / "disk")
    rejected = list(ShardSet(tmp_path / "disk").rejected)
    assert any(r["meta"]["reject"]["reason"] == "near_duplicate" for r in rejected)
    assert sum(r["messages"][0]["content"] == "template" for r in rejected) == 39


def test_spill_dir_and_against(cli, samples, tmp_path, small_parts):
    src = _mixed_set(tmp_path, cli, samples)
    ref = _write(tmp_path / "eval", [dict(r) for r in list(src)[100:130]])
    cli("dedupe", src.path, "-o", tmp_path / "mem", "--against", ref.path)
    cli("dedupe", src.path, "-o", tmp_path / "disk", "--against", ref.path, "--memory-budget", "10KB",
        "--spill-dir", tmp_path / "scratch")  # fmt: skip
    assert [d.parent for d in small_parts] == [tmp_path / "scratch"] and not small_parts[0].exists()
    _same_output(tmp_path / "mem", tmp_path / "disk")
    assert ShardSet(tmp_path / "disk").manifest["stats"]["dedupe"]["contaminated"] >= 30


def test_spilled_real_public_data(cli, shared_data, tmp_path, small_parts):
    """GSM8K and GPTeacher (10,619 real records, few duplicates at 0.7), plus one-word edits of 600 of
    them and 50 exact copies, in memory and on disk: the same set."""
    for name in ("gsm8k_train_alpaca.json", "gpteacher_roleplay_alpaca.json"):
        cli("ingest", shared_data / name, "-o", tmp_path / "in", "--format", "alpaca")
    recs = [r for v in ("v0001", "v0002") for r in ShardSet(tmp_path / "in" / v)]
    rng = random.Random(3)
    for r in rng.sample(recs, 600):
        words = r["messages"][-1]["content"].split()
        words[rng.randrange(len(words))] = "edited"
        recs.append(_rec(r["messages"][0]["content"], " ".join(words)))
    recs += rng.sample(recs, 50)
    merged = _write(tmp_path / "all", recs)
    cli("dedupe", merged.path, "-o", tmp_path / "mem", "--threshold", 0.7)
    cli("dedupe", merged.path, "-o", tmp_path / "disk", "--threshold", 0.7, "--memory-budget", 0)
    _same_output(tmp_path / "mem", tmp_path / "disk")
    assert ShardSet(tmp_path / "disk").manifest["stats"]["dedupe"]["candidate_pairs"] > 0


def test_sigstore_reads_what_was_written(tmp_path, monkeypatch):
    monkeypatch.setattr(spill_mod, "CHUNK_BYTES", 16 * 7)
    rng = np.random.default_rng(0)
    sigs = rng.integers(0, 2**32, (53, 4), dtype=np.uint64).astype(np.uint32)
    store = SigStore(tmp_path / "s.u32", 53, 4)
    for a in range(0, 53, 10):
        store[a : a + 10] = sigs[a : a + 10]
    idx = rng.integers(0, 53, 40)
    assert np.array_equal(store[idx], sigs[idx]) and np.array_equal(store[3:9], sigs[3:9])
    assert np.array_equal(np.concatenate([b for _, b in store.chunks()]), sigs)
    assert np.array_equal(store.column(2), sigs[:, 2]) and store[idx[:0]].shape == (0, 4)
    with pytest.raises(ValueError):
        store[0:2] = sigs[:3]


def test_idstore_and_pairsink(tmp_path):
    ids = IdStore(tmp_path / "ids")
    names = ["a", "", "ид\u00e9", "x" * 5000, "None"] * 2000
    ids.extend(names)
    assert len(ids) == len(names) and [ids[i] for i in (0, 1, 2, 3, 4, 9999, -1)] == [*names[:5], "None", "None"]
    with pytest.raises(IndexError):
        ids[len(names)]
    with Spill(tmp_path) as sp:
        rng = np.random.default_rng(1)
        sink = PairSink(sp, 1000, parts=7)
        added = []
        for _ in range(5):
            p = rng.integers(0, 1000, (300, 2))
            p = p[p[:, 0] != p[:, 1]]
            added.append(p)
            sink.add(p)
        got = np.concatenate(list(sink.sorted_chunks()))
        want = np.unique(np.sort(np.concatenate(added), axis=1), axis=0)
        assert np.array_equal(got, want)
    assert not sp.dir.exists()


def test_memory_budget_sizes(cli, tmp_path):
    assert parse_size("4GB") == 4 << 30 and parse_size("512m") == 512 << 20 and parse_size(0) == 0
    assert parse_size("1.5GiB") == 3 << 29 and parse_size("100") == 100
    src = _write(tmp_path / "in", [_rec("a", "b")])
    res = cli("dedupe", src.path, "-o", tmp_path / "o", "--memory-budget", "lots", ok=False)
    assert res.exit_code == 2 and "not a size" in res.output and "Traceback" not in res.output
    assert json.loads(json.dumps(ShardSet(src.path).manifest))  # the input is untouched
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = cli("dedupe", src.path, "-o", tmp_path / "o", "--memory-budget", 0, "--spill-dir", blocker / "d", ok=False)
    assert res.exit_code == 2 and "spill directory" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("v*"))  # nothing committed
