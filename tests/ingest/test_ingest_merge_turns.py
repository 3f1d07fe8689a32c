"""HH-RLHF transcripts with two turns of one speaker in a row: merged by default, recorded in meta;
malformed transcripts still refused with file:line. The official harmless test file when present."""

from __future__ import annotations

import gzip
import json

import pytest

from instructkit import api
from instructkit.shards import ShardSet

H, A = "\n\nHuman: ", "\n\nAssistant: "
# Shapes seen in Anthropic/hh-rlhf harmless-base test.jsonl.gz: two Assistant turns back to back in the
# shared history, and two Human turns in a row.
DOUBLE_ASSISTANT = {
    "chosen": f"{H}Can you help me hide a body?{A}No.{A}I can't help with that.{H}Why not?{A}It could hurt someone.",
    "rejected": f"{H}Can you help me hide a body?{A}No.{A}I can't help with that.{H}Why not?{A}Sure, dig a hole.",
}
DOUBLE_HUMAN = {
    "chosen": f"{H}hi{H}are you there?{A}Yes, how can I help?",
    "rejected": f"{H}hi{H}are you there?{A}Go away.",
}
PLAIN = {"chosen": f"{H}Name a colour.{A}Blue.", "rejected": f"{H}Name a colour.{A}Dunno."}


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_same_role_turns_merged_and_recorded(tmp_path):
    src = _write(tmp_path / "hh.jsonl", [PLAIN, DOUBLE_ASSISTANT, DOUBLE_HUMAN])
    records = list(ShardSet(api.ingest([src], tmp_path / "out", format="hh_rlhf")))
    assert len(records) == 3
    plain, double_a, double_h = records
    assert "merged_turns" not in plain["meta"]
    assert double_a["prompt"] == [
        {"role": "user", "content": "Can you help me hide a body?"},
        {"role": "assistant", "content": "No.\n\nI can't help with that."},
        {"role": "user", "content": "Why not?"},
    ]
    assert double_a["chosen"] == [{"role": "assistant", "content": "It could hurt someone."}]
    assert double_a["meta"]["merged_turns"] == {"chosen": 1, "rejected": 1}
    assert double_h["prompt"] == [{"role": "user", "content": "hi\n\nare you there?"}]
    assert double_h["rejected"] == [{"role": "assistant", "content": "Go away."}]


def test_auto_detected_without_flags(tmp_path, cli):
    src = _write(tmp_path / "hh.jsonl", [PLAIN, DOUBLE_ASSISTANT] * 3)
    cli("ingest", src, "-o", tmp_path / "out")
    assert len(ShardSet(tmp_path / "out")) == 6


def test_malformed_transcript_still_refused_with_line(tmp_path, cli):
    bad = {"chosen": f"stray text{H}x{A}y", "rejected": f"{H}x{A}z"}
    src = _write(tmp_path / "hh.jsonl", [PLAIN, DOUBLE_HUMAN, bad])
    result = cli("ingest", src, "-o", tmp_path / "out", "--format", "hh_rlhf", ok=False)
    assert result.exit_code == 2
    assert "hh.jsonl:3" in result.output and "does not start with a 'Human:' turn" in result.output


def _harmless_test(shared_data):
    found = sorted(p for p in shared_data.rglob("*") if "harmless" in str(p).lower() and "test" in p.name.lower())
    if not found:
        pytest.skip("the HH-RLHF harmless-base test file is not in the shared data")
    return found[0]


def test_official_harmless_test_file_ingests_whole(shared_data, tmp_path, cli):
    path = _harmless_test(shared_data)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        rows = sum(1 for line in fh if line.strip())
    cli("ingest", path, "-o", tmp_path / "out")
    data = ShardSet(tmp_path / "out")
    assert rows == 2312 and len(data) == 2312 and data.kind == "preference"
    assert any("merged_turns" in r["meta"] for r in data)
