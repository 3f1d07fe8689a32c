"""Shard sets: versions, atomic commit, manifests, compression, crash safety, racing writers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from instructkit.errors import ShardError
from instructkit.records import make_record, message
from instructkit.shards import ShardSet, ShardWriter, verify


def _rec(i: int) -> dict:
    return make_record(
        "sft", messages=[message("user", f"q{i}"), message("assistant", f"a{i}")], source={"file": "t", "line": i}
    )


def _write(out, n=5, **kw):
    with ShardWriter(out, stage="test", params={"n": n}, **kw) as w:
        for i in range(n):
            w.count_in()
            w.write(_rec(i))
    return w


@pytest.mark.parametrize("compression", [None, "gz", "zst"])
def test_roundtrip_and_manifest(tmp_path, compression):
    w = _write(tmp_path / "set", n=7, shard_size=3, compression=compression)
    assert w.path.name == "v0001"
    s = ShardSet(tmp_path / "set")
    assert [r["messages"][0]["content"] for r in s] == [f"q{i}" for i in range(7)]
    m = s.manifest
    assert m["format"] == "instructkit.shards/1" and m["kind"] == "sft" and m["stage"] == "test"
    assert [p["records"] for p in m["parts"]] == [3, 3, 1]
    assert all(len(p["sha256"]) == 64 and p["bytes"] > 0 for p in m["parts"])
    assert m["counts"] == {"in": 7, "kept": 7, "rejected": {}, "quarantined": {}}
    assert verify(s.path) == []


def test_versions_never_overwrite(tmp_path):
    a = _write(tmp_path / "set", n=2)
    b = _write(tmp_path / "set", n=3)
    assert (a.path.name, b.path.name) == ("v0001", "v0002")
    assert len(ShardSet(tmp_path / "set")) == 3  # parent -> newest
    assert len(ShardSet(a.path)) == 2
    with pytest.raises(ShardError, match="already exists"):
        _write(tmp_path / "set" / "v0001")
    _write(tmp_path / "set" / "v0001", n=4, force=True)
    assert len(ShardSet(tmp_path / "set" / "v0001")) == 4


def test_fingerprint_is_content_addressed(tmp_path):
    a = _write(tmp_path / "a", n=4, compression="gz")
    b = _write(tmp_path / "b", n=4, compression="gz")
    c = _write(tmp_path / "c", n=5, compression="gz")
    assert a.manifest["fingerprint"] == b.manifest["fingerprint"] != c.manifest["fingerprint"]


def test_rejected_subset_and_conservation(tmp_path):
    with ShardWriter(tmp_path / "s", stage="test") as w:
        for i in range(6):
            w.count_in()
            if i % 3 == 0:
                w.reject(_rec(i), "too_short", value=1, threshold=2)
            else:
                w.write(_rec(i))
    s = ShardSet(w.path)
    assert s.manifest["counts"]["rejected"] == {"too_short": 2}
    rej = list(s.rejected)
    assert [r["meta"]["reject"] for r in rej] == [
        {"stage": "test", "reason": "too_short", "value": 1, "threshold": 2}
    ] * 2
    assert verify(s.path) == []
    # Tamper: a lost rejected record breaks conservation and the checksum.
    part = s.rejected.parts[0]
    part.write_text(part.read_text().splitlines()[0] + "\n")
    problems = verify(s.path)
    assert any("sha256" in p for p in problems)


def test_exception_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path / "s", stage="test") as w:
            w.write(_rec(0))
            raise RuntimeError("boom")
    assert list((tmp_path / "s").iterdir()) == []
    with pytest.raises(ShardError):
        ShardSet(tmp_path / "s")


_SLOW_WRITER = """
import sys, time
from instructkit.records import make_record, message
from instructkit.shards import ShardWriter
with ShardWriter(sys.argv[1], stage="test", shard_size=10) as w:
    for i in range(10**7):
        w.count_in()
        w.write(make_record("sft", messages=[message("user", f"q{i}"), message("assistant", "a")]))
        if i == 50:
            print("writing", flush=True)
        if i > 50:
            time.sleep(0.001)
"""


def test_kill_9_mid_write_leaves_no_complete_version(tmp_path):
    out = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not any(p.name.startswith("v") for p in out.iterdir())  # only the hidden temp dir
    with pytest.raises(ShardError):
        ShardSet(out)
    w = _write(out, n=3)  # the next run works and cleans the dead writer's temp dir
    assert w.path.name == "v0001" and len(ShardSet(out)) == 3
    assert [p.name for p in out.iterdir()] == ["v0001"]


_RACER = """
import sys
from instructkit.records import make_record, message
from instructkit.shards import ShardWriter
tag = sys.argv[2]
with ShardWriter(sys.argv[1], stage="test", shard_size=50) as w:
    for i in range(2000):
        w.count_in()
        w.write(make_record("sft", messages=[message("user", f"{tag}{i}"), message("assistant", tag)]))
"""


def test_racing_writers_get_distinct_versions(tmp_path):
    out = tmp_path / "s"
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(out), tag]) for tag in "abcd"]
    assert [p.wait() for p in procs] == [0, 0, 0, 0]
    versions = sorted(p.name for p in out.iterdir())
    assert versions == ["v0001", "v0002", "v0003", "v0004"]
    tags = set()
    for v in versions:
        s = ShardSet(out / v)
        assert verify(s.path) == []
        owners = {r["messages"][1]["content"] for r in s}
        assert len(owners) == 1 and len(s) == 2000  # never a mixed set
        tags |= owners
    assert tags == set("abcd")


def test_loads_with_datasets(tmp_path):
    from datasets import load_dataset

    w = _write(tmp_path / "s", n=5)
    ds = load_dataset("json", data_files=str(w.path / "part-*.jsonl"), split="train")
    assert ds.num_rows == 5 and ds[0]["messages"][0] == {"role": "user", "content": "q0"}
    assert json.loads((w.path / "manifest.json").read_text())["counts"]["kept"] == 5


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "sub/part-00000.jsonl", "part-0.jsonl", 7])
def test_manifest_part_paths_never_escape_the_set(tmp_path, bad):
    w = _write(tmp_path / "s", n=2)
    manifest = json.loads((w.path / "manifest.json").read_text())
    manifest["parts"][0]["file"] = bad
    (w.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="invalid part file"):
        ShardSet(w.path)
