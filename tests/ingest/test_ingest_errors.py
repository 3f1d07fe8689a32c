"""Bad input through the CLI: exit 2, a message naming file and line, no output version; with
``--on-error skip`` the bad rows land in ``quarantine/`` and the set still verifies."""

from __future__ import annotations

import gzip
import json

import pytest

from instructkit.errors import InputError
from instructkit.shards import ShardSet, verify

GOOD = {"instruction": "Say hi.", "input": "", "output": "Hi!"}


def _jsonl(path, rows):
    with open(path, "wb") as fh:
        for r in rows:
            fh.write(r if isinstance(r, bytes) else (json.dumps(r, ensure_ascii=False) + "\n").encode())
    return path


def _cases(tmp_path):
    """name -> (file, text the error must contain, quarantine reason under skip or None for file-level)."""
    good = [GOOD, {**GOOD, "output": "Hello!"}]
    return {
        "malformed_jsonl": (
            _jsonl(tmp_path / "bad.jsonl", good + [b'{"instruction": "x", "output": \n'] + good),
            ":3: malformed JSON",
            "malformed_json",
        ),
        "invalid_utf8": (
            _jsonl(
                tmp_path / "latin1.jsonl", good + ['{"instruction": "caf\xe9", "output": "ok"}\n'.encode("latin-1")]
            ),
            ":3: invalid UTF-8 (byte 0xe9",
            "invalid_utf8",
        ),
        "missing_field": (
            _jsonl(tmp_path / "missing.jsonl", good * 3 + [{"instruction": "No answer here."}]),
            ":7: missing required field 'output'",
            "invalid_record",
        ),
        "unknown_role": (
            _jsonl(
                tmp_path / "role.jsonl",
                [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}] * 2
                + [{"messages": [{"role": "wizard", "content": "a"}, {"role": "assistant", "content": "b"}]}],
            ),
            ":3: 'messages[0]': unknown role 'wizard'",
            "invalid_record",
        ),
        "non_alternating": (
            _jsonl(
                tmp_path / "alt.jsonl",
                [
                    {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
                    {
                        "messages": [
                            {"role": "user", "content": "a"},
                            {"role": "user", "content": "again"},
                            {"role": "assistant", "content": "b"},
                        ]
                    },
                ],
            ),
            ":2: 'messages[1]' is a second 'user' turn in a row",
            "invalid_record",
        ),
    }


@pytest.mark.parametrize(
    "case", ["malformed_jsonl", "invalid_utf8", "missing_field", "unknown_role", "non_alternating"]
)
def test_bad_row_fails_then_skip_quarantines(cli, tmp_path, case):
    path, expected, reason = _cases(tmp_path)[case]
    out = tmp_path / "out"
    result = cli("ingest", path, "-o", out, ok=False)
    assert result.exit_code == 2, result.output
    assert str(path) in result.output.replace("\n", "") and expected in result.output.replace("\n", "")
    assert "Traceback" not in result.output
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".tmp")]
    cli("ingest", path, "-o", out, "--on-error", "skip")
    s = ShardSet(out)
    assert verify(s.path) == []
    counts = s.manifest["counts"]
    assert counts["quarantined"] == {reason: 1} and counts["in"] == counts["kept"] + 1
    (bad,) = list(s.sub("quarantine"))
    assert bad["meta"]["reject"]["reason"] == reason and bad["meta"]["reject"]["error"]
    bad_line = int(expected.split(":")[1])
    assert bad["meta"]["source"] == {"file": str(path), "line": bad_line}
    assert bad["raw"]  # the row as it was, to fix and re-ingest
    assert cli("verify", out).exit_code == 0


def test_malformed_json_array_names_the_line(cli, tmp_path):
    path = tmp_path / "arr.json"
    path.write_text('[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c", "output": }\n]\n')
    result = cli("ingest", path, "-o", tmp_path / "out", ok=False)
    assert result.exit_code == 2 and f"{path}:3: malformed JSON" in result.output.replace("\n", "")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("v*"))
    cli("ingest", path, "-o", tmp_path / "out", "--on-error", "skip")
    s = ShardSet(tmp_path / "out")
    assert s.manifest["counts"]["quarantined"] == {"unreadable_file": 1} and verify(s.path) == []


def test_json_array_row_error_names_the_row(cli, tmp_path):
    path = tmp_path / "arr.json"
    path.write_text(json.dumps([GOOD, GOOD, {"instruction": "no output"}]))
    result = cli("ingest", path, "-o", tmp_path / "out", ok=False)
    assert result.exit_code == 2 and "row 3: missing required field 'output'" in result.output.replace("\n", "")


def test_truncated_gzip(cli, tmp_path):
    blob = gzip.compress(b"".join((json.dumps({**GOOD, "output": f"Hi {i}"}) + "\n").encode() for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    result = cli("ingest", path, "-o", tmp_path / "out", ok=False)
    assert result.exit_code == 2 and str(path) in result.output.replace("\n", "")
    assert "truncated after" in result.output.replace("\n", "")  # exact counts: tests/test_faults.py
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("v*"))
    cli("ingest", path, "-o", tmp_path / "out", "--on-error", "skip")
    s = ShardSet(tmp_path / "out")
    assert s.manifest["counts"]["quarantined"] == {"truncated": 1}
    assert 0 < len(s) < 2000 and verify(s.path) == []  # rows before the break are kept


def test_empty_file(cli, tmp_path, samples):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    result = cli("ingest", path, "-o", tmp_path / "out", ok=False)
    assert result.exit_code == 2 and f"{path}: file is empty" in result.output.replace("\n", "")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("v*"))
    cli("ingest", path, samples / "alpaca.jsonl", "-o", tmp_path / "out", "--on-error", "skip")
    s = ShardSet(tmp_path / "out")
    assert len(s) == 22 and s.manifest["stats"]["empty_files"] == [str(path)] and verify(s.path) == []


def test_missing_file_and_unknown_suffix(cli, tmp_path):
    result = cli("ingest", tmp_path / "nope.jsonl", "-o", tmp_path / "out", ok=False)
    assert result.exit_code == 2 and "no such file" in result.output
    (tmp_path / "x.txt").write_text("hello")
    result = cli("ingest", tmp_path / "x.txt", "-o", tmp_path / "out", ok=False)
    assert result.exit_code == 2 and "unknown file type '.txt'" in result.output
    result = cli("ingest", str(tmp_path / "*.parquet"), "-o", tmp_path / "out", ok=False)
    assert result.exit_code == 2 and "no file matches" in result.output


def test_undetectable_format_lists_fields(cli, tmp_path):
    path = _jsonl(tmp_path / "odd.jsonl", [{"question": "a", "answer": "b"}])
    result = cli("ingest", path, "-o", tmp_path / "out", ok=False)
    assert result.exit_code == 2 and "cannot detect the format from the fields ['answer', 'question']" in result.output
    assert "--map" in result.output


def test_bad_options(cli, tmp_path, samples):
    result = cli("ingest", samples / "alpaca.jsonl", "-o", tmp_path / "o", "--on-error", "ignore", ok=False)
    assert result.exit_code == 2 and "--on-error must be fail or skip" in result.output
    result = cli("ingest", samples / "alpaca.jsonl", "-o", tmp_path / "o", "--map", "oops", ok=False)
    assert result.exit_code == 2 and "is not dst=src" in result.output


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_json_array_streams_across_chunk_boundaries(tmp_path, monkeypatch, chunk):
    """JSON arrays are parsed item by item from small chunks: values cut at a chunk's end (numbers,
    multi-byte UTF-8, strings) come out whole, rows keep their line, and errors name the right line."""
    from instructkit.ingest import json_array, sources

    monkeypatch.setattr(json_array, "_CHUNK", chunk)
    rows = [{"instruction": f"Q{i} 中文 é", "input": "", "output": f"A{i}", "n": 1234567 + i} for i in range(40)]
    path = tmp_path / "big.json"
    path.write_text("\ufeff[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n", "utf-8")
    got = list(sources.rows(path))
    assert [r for r, _ in got] == rows
    assert [s["line"] for _, s in got] == list(range(2, 42)) and got[5][1]["row"] == 5

    bad = tmp_path / "bad.json"
    text = "[\n" + ",\n".join(json.dumps(r) for r in rows[:30]) + ',\n{"instruction": "x" "output": 1}\n]'
    bad.write_text(text)
    with pytest.raises(InputError) as info:
        list(sources.rows(bad))
    assert info.value.line == 32 and "malformed JSON" in info.value.message

    for broken, needle in (
        ("[", "not closed"),
        ('[{"a": 1} {"b": 2}]', "expected ','"),
        ("[] x", "empty array"),
        ('[{"a": 1}] x', "extra data"),
    ):
        p = tmp_path / "broken.json"
        p.write_text(broken)
        with pytest.raises(InputError, match=needle):
            list(sources.rows(p))
