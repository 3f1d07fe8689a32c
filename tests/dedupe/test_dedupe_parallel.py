"""dedupe's parallel passes: pass 1 over blocks of raw bytes, pass 2 (writing) in tasks; the same bytes as the
serial record-by-record writer, for one worker and for two; the ASCII fast path of the shingler."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest

from instructkit.dedupe import DedupeParams, plan
from instructkit.dedupe.cluster import REASONS
from instructkit.dedupe.shingle import batch_shingles
from instructkit.executors.blocks import byte_chunks, count_records
from instructkit.records import make_record, message
from instructkit.shards import ShardSet, ShardWriter
from instructkit.stage import add_meta

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike oscar papa".split()


def _set(path, n: int = 900, seed: int = 3) -> ShardSet:
    """Near and exact duplicates, records with and without meta.source, a 30-digit meta value, several parts,
    and blank lines in one part (its sha256 fixed in the manifest, as if written that way)."""
    rng = random.Random(seed)
    recs = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(25)]
        src = {"file": "t"} if i % 3 else None
        recs.append(
            make_record(
                "sft",
                messages=[message("user", f"q{i % 5}"), message("assistant", " ".join(words))],
                source=src,
                meta={"quality": rng.random(), **({"big": 10**29 + i} if i % 97 == 0 else {})},
            )
        )
        if i % 7 == 0:
            words[rng.randrange(25)] = "zulu"
            recs.append(make_record("sft", messages=[message("user", "q"), message("assistant", " ".join(words))]))
        if i % 40 == 0:
            recs.append(dict(recs[-1]))
    with ShardWriter(path, stage="test", shard_size=150) as w:
        for r in recs:
            w.count_in()
            w.write(r)
    s = ShardSet(w.path)
    part = s.parts[1]
    data = part.read_bytes().replace(b"\n", b"\n\n \n", 2) + b"\t\n"
    part.write_bytes(data)
    manifest = json.loads((s.path / "manifest.json").read_text())
    manifest["parts"][1].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (s.path / "manifest.json").write_text(json.dumps(manifest))
    return ShardSet(s.path)


def _serial(src: ShardSet, against: list[ShardSet], out, p: DedupeParams) -> ShardSet:
    """The record-by-record writer pass 2 was before it ran in tasks (reference)."""
    sc, pl, _ = plan(src, against, p)
    clusters_of: dict[int, list[int]] = {}
    for cid, c in enumerate(pl.clusters):
        clusters_of.setdefault(c["kept"], []).append(cid)
    with ShardWriter(out, stage="dedupe", shard_size=p.shard_size, compression=p.writer_options()["compression"]) as w:
        for i, rec in enumerate(src):
            w.count_in()
            code = int(pl.reason[i])
            if code == 0:
                w.write(add_meta(rec, dedupe={"clusters": clusters_of[i]}) if i in clusters_of else rec)
                continue
            t = int(pl.target[i])
            details = {"duplicate_of": sc.ids[t], "similarity": round(float(pl.sim[i]), 4)}
            if code != 1:
                details["duplicate_of_index"] = t
            if pl.matched[i] >= 0:
                details["matched"] = sc.ids[int(pl.matched[i])]
            if code == 1:
                details["against"] = sc.against_path(t)
            w.reject(rec, REASONS[code], **details)
    return ShardSet(w.path)


def _files(s: ShardSet) -> dict[str, bytes]:
    return {str(f.relative_to(s.path)): f.read_bytes() for f in sorted(s.path.rglob("part-*"))}


@pytest.mark.parametrize("compression", ["none", "gz"])
def test_pass2_in_tasks_equals_the_serial_writer(cli, tmp_path, compression):
    src = _set(tmp_path / "in")
    with ShardWriter(tmp_path / "against", stage="test") as w:
        for rec in list(src)[100:160]:  # contamination: 60 of the input's records
            w.count_in()
            w.write(rec)
    against = ShardSet(w.path)
    opts = ("--mode", "exact,minhash", "--keep", "highest:quality", "--shard-size", "250", "--compression", compression)
    for name, workers in (("one", 1), ("two", 2)):
        cli("dedupe", src.path, "-o", tmp_path / name, *opts, "--against", against.path, "--workers", workers)
    one, two = ShardSet(tmp_path / "one"), ShardSet(tmp_path / "two")
    p = DedupeParams(mode=["exact", "minhash"], keep="highest:quality", shard_size=250, compression=compression)
    p.against = [str(against.path)]
    ref = _serial(src, [against], tmp_path / "ref", p)
    assert len(ref.parts) > 2 and ref.rejected is not None and len(ref.rejected) > 0
    for got in (one, two):
        assert got.fingerprint == ref.fingerprint and got.rejected.fingerprint == ref.rejected.fingerprint
        assert _files(got) == _files(ref)
        assert got.manifest["counts"] == ref.manifest["counts"] and got.manifest["kinds"] == ref.manifest["kinds"]
    assert (one.path / "clusters.jsonl").read_bytes() == (two.path / "clusters.jsonl").read_bytes()


def test_byte_chunks_count_and_number_every_non_blank_line(tmp_path):
    src = _set(tmp_path / "in", n=300)
    chunks = list(byte_chunks([src], size=4096))
    assert len(chunks) > 10
    assert sum(c[3] for c in chunks) == len(src) == sum(1 for _ in src.lines())
    assert [c[0] for c in chunks] == list(np.cumsum([0] + [c[3] for c in chunks[:-1]]))
    numbered = [(part, number) for part, number, _ in src.lines()]
    from instructkit.executors.blocks import block_lines

    got = [(part, n) for _, part, first, _, block in chunks for n, _ in block_lines(first, block)]
    assert got == [(str(p), n) for p, n in numbered]
    assert count_records(b'{"a":1}\n\n  \n{"b":2}') == 2 and count_records(b"") == 0


def test_changed_part_fails_before_commit(cli, tmp_path):
    src = _set(tmp_path / "in", n=200)
    part = src.parts[0]
    part.write_bytes(part.read_bytes().replace(b"alpha", b"ALPHA", 1))
    res = cli("dedupe", src.path, "-o", tmp_path / "out", "--workers", 2, ok=False)
    assert res.exit_code == 2 and "sha256 mismatch" in res.output
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("v*"))


def test_ascii_fast_path_gives_the_general_paths_hashes():
    rng = random.Random(1)
    texts = ["", "a b", "Don't stop_me now: 42 times!", "x" * 3]
    texts += [
        " ".join(rng.choice(WORDS + ["A1", "b-2", "C.D"]) for _ in range(rng.randrange(1, 40))) for _ in range(60)
    ]
    fast = batch_shingles(texts)  # all ASCII: the one-byte path
    general = batch_shingles([*texts, "é"])  # one non-ASCII text: every text takes the UTF-32 path
    n = int(fast[1].sum())
    assert np.array_equal(fast[0], general[0][:n]) and np.array_equal(fast[1], general[1][:-1])
    for args in ((3, 2, 4), (1, 1, 0)):
        a, b = batch_shingles(texts, *args), batch_shingles([*texts, "é"], *args)
        assert np.array_equal(a[0], b[0][: int(a[1].sum())])


def test_block_refs_read_the_same_bytes_and_refuse_a_changed_part(tmp_path):
    from instructkit.errors import ShardError
    from instructkit.executors.blocks import BlockRef, block_bytes

    src = _set(tmp_path / "in", n=300)
    for size in (4096, 100):  # 100: every line is longer than a block (the buffer grows)
        plain = list(byte_chunks([src], size=size))
        refs = list(byte_chunks([src], size=size, refs=True))
        assert all(isinstance(c[4], BlockRef) for c in refs)
        assert [c[:4] for c in refs] == [c[:4] for c in plain]
        assert [block_bytes(c[4]) for c in refs] == [c[4] for c in plain]
        assert b"".join(c[4] for c in plain) == b"".join(p.read_bytes() for p in src.parts)
    ref = refs[3][4]
    data = bytearray(open(ref.part, "rb").read())
    data[ref.start + 5] ^= 1
    open(ref.part, "wb").write(bytes(data))
    with pytest.raises(ShardError, match="changed while it was read"):
        block_bytes(ref)


def test_spooled_results_come_back_whole(tmp_path):
    from instructkit.executors.spool import Spooled, put, spool_dir, take

    assert take(put(None, b"a", b"")) == (b"a", b"")
    with spool_dir(True) as d:
        got = put(d, b"kept\n", b"", b"rejected\n" * 1000)
        assert isinstance(got, Spooled)
        assert [bytes(b) for b in take(got)] == [b"kept\n", b"", b"rejected\n" * 1000]
        assert not list(Path(d).iterdir())  # taken: removed
    assert not Path(d).exists()


def test_pass_two_reuses_pass_one_blocks_and_still_sees_a_changed_part(tmp_path, monkeypatch):
    """With local workers, pass 2 takes pass 1's block list (no second read and hash in the driver); a part
    changed between the passes is still refused (each task checks its block's CRC-32) and nothing is committed."""
    import instructkit.dedupe as dd
    from instructkit.errors import ShardError

    src = _set(tmp_path / "in", n=400)
    seen = []
    original = dd.write_records

    def spy(src_, writer, sc, pl, **kw):
        seen.append(len(sc.blocks))
        return original(src_, writer, sc, pl, **kw)

    monkeypatch.setattr(dd, "write_records", spy)
    p = DedupeParams(mode=["exact", "minhash"], workers=2, shard_size=150)
    got = ShardSet(dd.dedupe_set(src.path, tmp_path / "two", p).path)
    ref = _serial(src, [], tmp_path / "ref", DedupeParams(mode=["exact", "minhash"], shard_size=150))
    assert seen and seen[0] >= 1 and got.fingerprint == ref.fingerprint and _files(got) == _files(ref)

    def change_then_write(src_, writer, sc, pl, **kw):
        part = src.parts[-1]
        part.write_bytes(part.read_bytes().replace(b"alpha", b"ALPHA", 1))
        return original(src_, writer, sc, pl, **kw)

    monkeypatch.setattr(dd, "write_records", change_then_write)
    with pytest.raises(ShardError, match="changed while it was read"):
        dd.dedupe_set(src.path, tmp_path / "three", p)
    assert not list((tmp_path / "three").glob("v*"))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_corrupt_line_is_named_by_part_and_line_whoever_parses_it(tmp_path, workers):
    """With workers the driver no longer counts lines; the error still names the part and its line number."""
    from instructkit.dedupe import dedupe_set
    from instructkit.errors import ShardError

    src = _set(tmp_path / "in", n=3000)  # parts of several 1 MB blocks at the default block size
    part = src.parts[-1]
    lines = part.read_bytes().split(b"\n")
    bad_line = len(lines) - 5  # far into the part: a later block than the first
    lines[bad_line - 1] = b"{oops"
    blob = b"\n".join(lines)
    part.write_bytes(blob)
    manifest = json.loads((src.path / "manifest.json").read_text())
    manifest["parts"][-1].update(sha256=hashlib.sha256(blob).hexdigest(), bytes=len(blob))
    (src.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShardError) as err:
        dedupe_set(src.path, tmp_path / "out", DedupeParams(mode=["minhash"], workers=workers))
    assert "corrupt record" in str(err.value) and err.value.file == str(part) and err.value.line == bad_line
    assert not list((tmp_path / "out").glob("v*"))


def test_line_of_counts_the_lines_before_a_block_ref(tmp_path):
    from instructkit.executors.blocks import line_of, ref_blocks

    src = _set(tmp_path / "in", n=300)
    got = list(ref_blocks([src], size=4096))
    assert len(got) > 10 and all(number is None for _, number, _ in got)
    for part, _, ref in got[1::4]:
        before = open(part, "rb").read()[: ref.start]
        assert line_of(None, ref, 3) == before.count(b"\n") + 1 + 3
    assert line_of(7, b"", 2) == 9


def test_a_killed_stage_spool_is_removed_by_the_next_one(tmp_path):
    import os
    import subprocess
    import sys

    from instructkit.executors.spool import remove_stale, spool_dir

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"instructkit-spool-{int(dead.stdout)}-abc"
    live = tmp_path / f"instructkit-spool-{os.getpid()}-def"
    other = tmp_path / "instructkit-spool-notapid"
    for d in (stale, live, other):
        d.mkdir()
        (d / "result").write_bytes(b"x" * 10)
    assert remove_stale(str(tmp_path)) == [str(stale)]
    assert not stale.exists() and live.exists() and other.exists()
    with spool_dir(True) as path:  # the stage's own directory carries its pid
        assert os.path.basename(path).startswith(f"instructkit-spool-{os.getpid()}-")
    assert not os.path.exists(path)
