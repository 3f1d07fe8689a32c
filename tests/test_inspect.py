"""stats, log and verify through the CLI."""

from __future__ import annotations

import json

from instructkit.shards import ShardSet


def _ingest(cli, tmp_path, samples):
    out = tmp_path / "ingest"
    cli(
        "ingest",
        samples / "alpaca.json",
        samples / "hh_rlhf.jsonl.gz",
        samples / "ultrafeedback.jsonl",
        "-o",
        out,
        "--shard-size",
        "20",
    )
    return ShardSet(out)


def test_stats_json_and_tables(cli, tmp_path, samples):
    s = _ingest(cli, tmp_path, samples)
    result = cli("stats", s.path, "--json")
    stats = json.loads(result.output)
    assert stats["records"] == 62 and stats["kind"] == "mixed"
    assert stats["kinds"] == {"sft": 40, "preference": 12, "feedback": 10}
    assert stats["turns"]["max"] == 7  # the tour-guide row: system + 2 history pairs + the turn
    assert stats["lengths"]["assistant"]["max"] == len("Drink water regularly. " * 120) - 1
    assert stats["lengths"]["response"]["n"] == 24
    assert stats["funnel"] == [["in", 62], ["kept", 62]]
    tables = cli("stats", tmp_path / "ingest").output
    assert "characters per role" in tables and "funnel" in tables


def test_stats_shows_quarantine_in_the_funnel(cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c"}\nnot json\n', encoding="utf-8")
    cli("ingest", bad, "-o", tmp_path / "q", "--on-error", "skip")
    stats = json.loads(cli("stats", tmp_path / "q", "--json").output)
    assert stats["funnel"][0] == ["in", 3] and stats["funnel"][-1] == ["kept", 1]
    assert ["- quarantined: invalid_record", 1] in stats["funnel"]
    assert ["- quarantined: malformed_json", 1] in stats["funnel"]


def test_log_shows_params_and_lineage(cli, tmp_path, samples):
    s = _ingest(cli, tmp_path, samples)
    second = tmp_path / "again"
    cli("ingest", *s.parts, "-o", second)
    output = cli("log", second).output.replace("\n", "")
    assert "format: auto" in output and "on_error: fail" in output
    # the re-ingest names the first set as its input, whose params name the raw files
    assert str(s.path) in output and "hh_rlhf.jsonl.gz" in output
    assert ShardSet(second).manifest["inputs"] == [{"path": str(s.path), "fingerprint": s.fingerprint}]


def test_verify_passes_then_fails_on_tampering(cli, tmp_path, samples):
    s = _ingest(cli, tmp_path, samples)
    assert len(s.parts) == 4
    assert cli("verify", s.path).exit_code == 0
    part = s.parts[0]
    data = part.read_bytes()
    assert b"Canberra" in data
    part.write_bytes(data.replace(b"Canberra", b"Sydney!!", 1))
    result = cli("verify", s.path, ok=False)
    output = result.output.replace("\n", "")
    assert result.exit_code != 0 and "sha256 mismatch" in output and part.name in output


def test_verify_fails_on_a_missing_part_and_broken_counts(cli, tmp_path, samples):
    s = _ingest(cli, tmp_path, samples)
    s.parts[-1].unlink()
    result = cli("verify", s.path, ok=False)
    assert result.exit_code != 0 and "missing" in result.output.replace("\n", "")
    s2 = _ingest(cli, tmp_path / "two", samples)
    manifest = json.loads((s2.path / "manifest.json").read_text())
    manifest["counts"]["in"] += 1
    (s2.path / "manifest.json").write_text(json.dumps(manifest))
    result = cli("verify", s2.path, ok=False)
    assert result.exit_code != 0 and "conservation broken" in result.output.replace("\n", "")


def test_stats_and_verify_on_a_missing_set(cli, tmp_path):
    for cmd in ("stats", "verify"):
        result = cli(cmd, tmp_path / "nothing", ok=False)
        assert result.exit_code == 2 and "no such shard set" in result.output


def test_log_on_a_missing_set_fails(cli, tmp_path):
    result = cli("log", tmp_path / "nothing", ok=False)
    assert result.exit_code == 2 and "no such shard set" in result.output
