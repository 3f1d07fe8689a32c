"""Fault injection and bad input (issue 16): truncated compressed inputs, tampered and symlinked parts,
disk full and read-only outputs, racing writers on one explicit version, YAML alias bombs.

Each case asserts the exit code, the one-line message, and exact conservation of what was kept or
counted. The table of cases is docs/reliability.md.
"""

from __future__ import annotations

import csv
import errno
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from instructkit.errors import ShardError
from instructkit.shards import ShardSet, ShardWriter, verify


def _row(i: int, width: int = 1) -> dict:
    return {"instruction": f"Say hi {i}.", "input": "", "output": f"Hi {i}! " * width}


def _jsonl(n: int, width: int = 1) -> bytes:
    return b"".join((json.dumps(_row(i, width)) + "\n").encode() for i in range(n))


def _zst(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3).compress(data)


def _readable_prefix(kind: str, blob: bytes) -> bytes:
    """What a decoder can get out of a cut stream: the reference the reader's row count must match."""
    if kind == "gz":
        return zlib.decompressobj(wbits=31).decompress(blob)
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj().decompress(blob)


def _no_version(out: Path) -> bool:
    return not out.exists() or not [p for p in out.iterdir() if p.name.startswith(("v", ".tmp"))]


def _one_line(result) -> str:
    text = result.output.strip()
    assert "Traceback" not in text and text.count("\n") == 0, text
    return text


# --- 1. truncated compressed input -------------------------------------------------------------

# (name, suffix, data, fraction kept): zstd single frame and one block (2,000 short rows, ~120 KB),
# zstd multi-block (4,000 rows of ~110 bytes, ~450 KB: several 128 KB blocks), gzip.
_TRUNCATED = [
    ("zst-1-block", ".jsonl.zst", lambda: _zst(_jsonl(2000)), [0.001, 0.5, 0.99]),
    ("zst-blocks", ".jsonl.zst", lambda: _zst(_jsonl(4000, width=10)), [0.2, 0.45, 0.9]),
    ("gz", ".jsonl.gz", lambda: gzip.compress(_jsonl(2000)), [0.002, 0.3, 0.5, 0.97]),
]


@pytest.mark.parametrize(
    "name,suffix,make,fraction",
    [(n, s, m, f) for n, s, m, fs in _TRUNCATED for f in fs],
    ids=[f"{n}-{f}" for n, _, _, fs in _TRUNCATED for f in fs],
)
def test_truncated_jsonl(cli, tmp_path, name, suffix, make, fraction):
    blob = make()
    cut = blob[: max(1, int(len(blob) * fraction))]
    rows = _readable_prefix(suffix[-3:].strip("."), cut).count(b"\n")  # complete lines only
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(cut)
    _check_truncated(cli, tmp_path, path, rows)


def _check_truncated(cli, tmp_path: Path, path: Path, rows: int) -> None:
    out = tmp_path / "out"
    result = cli("ingest", path, "-o", out, ok=False)
    line = _one_line(result)
    assert result.exit_code == 2
    assert line.startswith(f"error: {path}: truncated after {rows} rows (")
    assert "--on-error skip" in line and _no_version(out)

    result = cli("ingest", path, "-o", out, "--on-error", "skip")
    assert f"truncated after {rows} rows" in result.output  # in the summary table
    s = ShardSet(out)
    counts = s.manifest["counts"]
    # The unreadable rest counts as one lost row (its size cannot be known): in == kept + quarantined.
    assert counts == {"in": rows + 1, "kept": rows, "rejected": {}, "quarantined": {"truncated": 1}}
    assert s.manifest["stats"]["truncated"] == {str(path): rows}
    (lost,) = list(s.sub("quarantine"))
    assert lost["meta"]["source"] == {"file": str(path), "rows_read": rows}
    reject = lost["meta"]["reject"]
    assert reject["reason"] == "truncated" and reject["error"].startswith(f"truncated after {rows} rows (")
    assert [r["meta"]["source"]["line"] for r in s] == list(range(1, rows + 1))  # every row read is kept
    assert verify(s.path) == []


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_json_array_gz(cli, tmp_path, fraction):
    data = ("[\n" + ",\n".join(json.dumps(_row(i)) for i in range(3000)) + "\n]\n").encode()
    blob = gzip.compress(data)
    cut = blob[: int(len(blob) * fraction)]
    rows = _readable_prefix("gz", cut).count(b"},")  # an item is read once the comma after it is
    path = tmp_path / "cut.json.gz"
    path.write_bytes(cut)
    out = tmp_path / "out"
    result = cli("ingest", path, "-o", out, ok=False)
    assert result.exit_code == 2 and _one_line(result).startswith(f"error: {path}: truncated after {rows} rows (")
    cli("ingest", path, "-o", out, "--on-error", "skip")
    s = ShardSet(out)
    assert s.manifest["counts"]["quarantined"] == {"truncated": 1} and len(s) == rows
    assert s.manifest["counts"]["in"] == rows + 1 and verify(s.path) == []


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.95])
def test_truncated_csv_gz(cli, tmp_path, fraction):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, ["instruction", "input", "output"])
    writer.writeheader()
    writer.writerows(_row(i) for i in range(3000))
    blob = gzip.compress(buf.getvalue().encode())
    cut = blob[: int(len(blob) * fraction)]
    rows = _readable_prefix("gz", cut).count(b"\n") - 1  # less the header
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(cut)
    result = cli("ingest", path, "-o", tmp_path / "out", ok=False)
    assert result.exit_code == 2 and _one_line(result).startswith(f"error: {path}: truncated after {rows} rows (")
    cli("ingest", path, "-o", tmp_path / "out", "--on-error", "skip")
    s = ShardSet(tmp_path / "out")
    assert s.manifest["counts"] == {"in": rows + 1, "kept": rows, "rejected": {}, "quarantined": {"truncated": 1}}


@pytest.mark.parametrize("fraction", [0.1, 0.6, 0.999])
def test_truncated_parquet(cli, tmp_path, fraction):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.Table.from_pylist([_row(i) for i in range(3000)]), whole, row_group_size=500)
    blob = whole.read_bytes()
    path = tmp_path / "cut.parquet"
    path.write_bytes(blob[: int(len(blob) * fraction)])
    # The footer (schema and row-group offsets) is at the end: a cut file has no readable rows.
    _check_truncated_table(cli, tmp_path, path)


def _check_truncated_table(cli, tmp_path: Path, path: Path) -> None:
    result = cli("ingest", path, "-o", tmp_path / "out", ok=False)
    assert result.exit_code == 2 and _one_line(result).startswith(f"error: {path}: truncated after 0 rows (")
    result = cli("ingest", path, "-o", tmp_path / "out", "--on-error", "skip")
    assert "truncated after 0 rows" in result.output
    s = ShardSet(tmp_path / "out")
    assert s.manifest["counts"] == {"in": 1, "kept": 0, "rejected": {}, "quarantined": {"truncated": 1}}


def test_multi_frame_zstd_reads_every_frame(cli, tmp_path):
    """Several zstd frames back to back (``cat a.zst b.zst``) are one file, not a truncated one."""
    data = _jsonl(1000)
    path = tmp_path / "two.jsonl.zst"
    path.write_bytes(_zst(data[:30_001]) + _zst(data[30_001:]))  # the cut falls inside a line
    cli("ingest", path, "-o", tmp_path / "out")
    assert len(ShardSet(tmp_path / "out")) == 1000


# --- 2. integrity: tampered and symlinked parts ------------------------------------------------


def _set(cli, tmp_path: Path, samples: Path, compression: str = "none") -> ShardSet:
    cli("ingest", samples / "alpaca.jsonl", "-o", tmp_path / "in", "--compression", compression)
    return ShardSet(tmp_path / "in")


def _flip_one_byte(part: Path) -> None:
    """Change one letter of one record: same length, same line count, still valid JSON."""
    data = bytearray(part.read_bytes())
    at = data.index(b'"content":"') + len(b'"content":"')
    data[at] = ord("X") if data[at] != ord("X") else ord("Y")
    part.write_bytes(bytes(data))


@pytest.mark.parametrize("stage", ["dedupe", "filter"])
def test_tampered_part_is_refused_by_stages(cli, tmp_path, samples, stage):
    s = _set(cli, tmp_path, samples)
    part = s.parts[0]
    _flip_one_byte(part)
    out = tmp_path / stage
    result = cli(stage, s.path, "-o", out, ok=False)
    line = _one_line(result)
    assert result.exit_code == 2
    assert line.startswith(f"error: {part}: sha256 mismatch (manifest {s.manifest['parts'][0]['sha256'][:12]}")
    assert f"run: instructkit verify {s.path}" in line and _no_version(out)


def test_tampered_part_is_refused_when_training_data_loads(tmp_path, cli, samples):
    from instructkit.train.common import load_records

    s = _set(cli, tmp_path, samples)
    _flip_one_byte(s.parts[0])
    with pytest.raises(ShardError, match="sha256 mismatch"):
        load_records([s.path], {"sft"}, stage="sft")


def test_tampered_compressed_part(cli, tmp_path, samples):
    s = _set(cli, tmp_path, samples, compression="gz")
    part = s.parts[0]
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the deflate stream: a decompression or CRC error
    part.write_bytes(bytes(data))
    result = cli("dedupe", s.path, "-o", tmp_path / "d", ok=False)
    assert result.exit_code == 2 and _one_line(result).startswith(f"error: {part}: sha256 mismatch")


def test_untouched_set_reads_and_early_stop_is_fine(cli, tmp_path, samples):
    s = _set(cli, tmp_path, samples, compression="zst")
    assert len(list(s)) == len(s) == s.manifest["counts"]["kept"]
    it = iter(s)
    next(it)
    it.close()  # a reader that stops early is not a mismatch


@pytest.mark.parametrize("where", ["outside", "inside"])
def test_symlinked_part_is_refused(cli, tmp_path, samples, where):
    s = _set(cli, tmp_path, samples)
    part = s.parts[0]
    copy = (tmp_path / "elsewhere.jsonl") if where == "outside" else (s.path / "copy.jsonl")
    copy.write_bytes(part.read_bytes())  # the same bytes: the checksum alone would not catch it
    part.unlink()
    part.symlink_to(copy)
    result = cli("dedupe", s.path, "-o", tmp_path / "d", ok=False)
    line = _one_line(result)
    assert result.exit_code == 2 and line.startswith(f"error: {part}: part file is a symlink (to {str(copy)!r})")
    assert "regular files inside the set" in line and _no_version(tmp_path / "d")
    assert any("symlink" in p for p in verify(s.path))


def test_fifo_part_is_refused(cli, tmp_path, samples):
    s = _set(cli, tmp_path, samples)
    part = s.parts[0]
    part.unlink()
    os.mkfifo(part)
    signal.alarm(20)  # opening a FIFO for reading blocks until a writer comes: fail, do not hang
    try:
        with pytest.raises(ShardError, match="not a regular file"):
            list(s)
    finally:
        signal.alarm(0)


# --- 3. faults on write: disk full, read-only, racing writers ---------------------------------


def _mount(target: Path, options: str) -> str | None:
    """Mount a tmpfs; None if done, else the reason it could not be."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"mount failed: {exc}"
    return None if r.returncode == 0 else f"mount -t tmpfs -o {options} failed: {r.stderr.strip() or r.returncode}"


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    reason = _mount(mnt, "size=1m")
    if reason:
        print(f"skipped: {reason}")
        pytest.skip(f"no small tmpfs for a real ENOSPC: {reason} (the monkeypatched ENOSPC tests still run)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def read_only_dir(tmp_path):
    mnt = tmp_path / "ro"
    reason = _mount(mnt, "ro,size=1m")
    if reason is None:
        yield mnt
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        return
    if os.geteuid() == 0:
        print(f"skipped: {reason}")
        pytest.skip(f"root writes through chmod and {reason}")
    mnt.chmod(0o555)
    yield mnt
    mnt.chmod(0o755)


def test_disk_full_on_a_small_tmpfs(cli, tmp_path, small_tmpfs):
    src = tmp_path / "big.jsonl"
    src.write_bytes(_jsonl(20_000, width=10))  # ~3 MB of parts on a 1 MB disk
    out = small_tmpfs / "out"
    result = cli("ingest", src, "-o", out, ok=False)
    line = _one_line(result)
    assert result.exit_code == 2
    assert line == (
        f"error: {out}: cannot write the output: disk full (free space on that disk, or write elsewhere "
        "with -o; nothing was committed)"
    )
    assert list(out.iterdir()) == []  # no .tmp, no half version
    cli("ingest", tmp_path / "big.jsonl", "-o", tmp_path / "ok")  # and the same input fits elsewhere


def test_read_only_output(cli, tmp_path, samples, read_only_dir):
    out = read_only_dir / "out"
    result = cli("ingest", samples / "alpaca.json", "-o", out, ok=False)
    line = _one_line(result)
    assert result.exit_code == 2 and line.startswith(f"error: {out}: cannot write the output: ")
    assert "read-only file system" in line or "permission denied" in line
    assert list(read_only_dir.iterdir()) == []


def test_output_is_checked_before_heavy_work(tmp_path, read_only_dir):
    """check_writable is what stages call first; the model output dir calls it too (before loading)."""
    from instructkit.shards import check_writable

    with pytest.raises(ShardError, match="cannot write the output"):
        check_writable(read_only_dir / "a" / "b")
    with pytest.raises(ShardError, match="cannot write the output"):
        ShardWriter(read_only_dir / "set", stage="t")
    from instructkit.train.output import OutputDir

    with pytest.raises(ShardError, match="cannot write the output"):
        OutputDir(read_only_dir / "model")
    assert check_writable(tmp_path / "new" / "deeper") == tmp_path  # nothing is created


def test_sft_finds_a_read_only_output_before_loading_the_model(cli, tmp_path, tiny_model, read_only_dir, monkeypatch):
    """Was: the model loaded (13 s with SmolLM2) before the read-only output failed. The runner opens
    the output dir right after reading the records; any model or tokenizer load here fails the test."""
    import instructkit.models
    import instructkit.train.runner

    def loaded(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    for mod, name in ((instructkit.train.runner, "load_tokenizer"), (instructkit.models, "load_causal_lm")):
        monkeypatch.setattr(mod, name, loaded)
    data = tmp_path / "d"
    with ShardWriter(data, stage="t") as w:
        w.count_in()
        w.write({"id": "a", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    out = read_only_dir / "model"
    result = cli("sft", w.path, "--model", tiny_model, "-o", out, "--max-steps", "1", ok=False)
    line = _one_line(result)
    assert result.exit_code == 2 and line.startswith(f"error: {out}: cannot write the output: ")
    assert list(read_only_dir.iterdir()) == []


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_writing_parts(cli, tmp_path, samples, monkeypatch):
    import instructkit.jsonl

    monkeypatch.setattr(instructkit.jsonl._HashingWriter, "write", _enospc)
    out = tmp_path / "out"
    result = cli("ingest", samples / "alpaca.json", "-o", out, ok=False)
    assert result.exit_code == 2
    assert _one_line(result).startswith(f"error: {out}: cannot write the output: disk full (")
    assert list(out.iterdir()) == []


def test_disk_full_while_writing_the_manifest(cli, tmp_path, samples, monkeypatch):
    """The manifest is written last; a full disk there left a .tmp with a zero-byte manifest."""
    import instructkit.shards

    def full(path, obj):
        Path(path).write_bytes(b"")  # what a full disk leaves: the file, empty
        _enospc()

    monkeypatch.setattr(instructkit.shards, "_write_json", full)
    out = tmp_path / "out"
    result = cli("ingest", samples / "alpaca.json", "-o", out, ok=False)
    assert result.exit_code == 2
    assert _one_line(result).startswith(f"error: {out}: cannot write the output: disk full (")
    assert list(out.iterdir()) == []


_RACER = """
import os, sys, time
from pathlib import Path
import instructkit.shards as shards
commit, sync = shards.ShardWriter.commit, Path(sys.argv[2])
def racing_commit(self):  # everyone has written its parts; all commit at once
    (sync / f"ready-{os.getpid()}").touch()
    while not (sync / "go").exists():
        time.sleep(0.005)
    return commit(self)
shards.ShardWriter.commit = racing_commit
from instructkit.cli.app import app
app(["ingest", sys.argv[1], "-o", sys.argv[3]])
"""


def test_racing_writers_on_one_explicit_version(tmp_path, samples):
    n = 8
    sync = tmp_path / "sync"
    sync.mkdir()
    target = tmp_path / "out" / "v0003"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(samples / "alpaca.json"), str(sync), str(target)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    deadline = time.time() + 120
    while len(list(sync.glob("ready-*"))) < n and time.time() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    (sync / "go").touch()
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0] + [2] * (n - 1), results
    for code, err in results:
        if code == 2:
            assert f"error: {target}: this version" in err and "Traceback" not in err, err
    assert sorted(p.name for p in target.parent.iterdir()) == ["v0003"]  # no loser left a .tmp
    assert verify(target) == []


# --- 4. YAML alias bombs ------------------------------------------------------------------------


def _bomb(levels: int = 7, indent: str = "") -> str:
    """``levels`` nested lists of nine aliases: 9**levels strings when expanded (4.8 million for 7)."""
    lines = [f'{indent}l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"{indent}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


BOMB = "YAML aliases expand to more than 100,000 nodes (an alias bomb?)"


def test_alias_bomb_in_config(cli, tmp_path, samples):
    config = tmp_path / "bomb.yaml"
    config.write_text(_bomb())
    result = cli("ingest", samples / "alpaca.json", "-o", tmp_path / "out", "--config", config, ok=False)
    assert result.exit_code == 2 and _one_line(result).startswith(f"error: {config}: {BOMB}")


def test_alias_bomb_in_recipe_vars(cli, tmp_path, samples):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "vars:\n"
        + _bomb(indent="  ")
        + f"  samples: {samples}\n"
        + 'stages:\n  - name: in\n    run: ingest\n    inputs: ["{vars.l6}"]\n'
    )
    result = cli("run", recipe, ok=False)
    assert result.exit_code == 2 and _one_line(result).startswith(f"error: {recipe}: {BOMB}")


def test_alias_bomb_in_set_and_plain_aliases(tmp_path):
    from instructkit.config import load_yaml, parse_sets
    from instructkit.errors import ConfigError

    with pytest.raises(ConfigError, match="alias bomb"):
        parse_sets(["vars.x={" + _bomb().replace("\n", ", ").rstrip(", ") + "}"])
    cyclic = tmp_path / "cycle.yaml"
    cyclic.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match="recursive YAML alias"):
        load_yaml(cyclic)
    ok = tmp_path / "ok.yaml"  # ordinary aliases are fine
    ok.write_text("base: &base {lr: 0.001, epochs: 2}\nsft: *base\nreward: {<<: *base, epochs: 1}\n")
    assert load_yaml(ok)["reward"] == {"lr": 0.001, "epochs": 1}
