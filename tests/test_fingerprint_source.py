"""A set's fingerprint is its content without meta.source: the same file ingested by another path (absolute
from one directory, relative from another) gives one fingerprint; verify still checks every byte."""

from __future__ import annotations

import hashlib
import json
import shutil

from instructkit.shards import ShardSet, fingerprint_of, verify

ROWS = [{"instruction": f"Say the number {i}.", "output": str(i)} for i in range(5)]


def test_same_file_by_absolute_and_relative_path_one_fingerprint(cli, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere" / "deep"
    elsewhere.mkdir(parents=True)

    monkeypatch.chdir(data)
    cli("ingest", (data / "a.jsonl").resolve(), "-o", tmp_path / "abs")
    monkeypatch.chdir(elsewhere)
    cli("ingest", "../../data/a.jsonl", "-o", tmp_path / "rel")

    a, b = ShardSet(tmp_path / "abs"), ShardSet(tmp_path / "rel")
    assert next(iter(a))["meta"]["source"]["file"] != next(iter(b))["meta"]["source"]["file"]  # provenance kept
    assert a.manifest["parts"][0]["sha256"] != b.manifest["parts"][0]["sha256"]  # the bytes differ
    assert a.fingerprint == b.fingerprint
    assert verify(a.path) == [] and verify(b.path) == []


def test_fingerprint_still_covers_the_content(cli, tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    cli("ingest", src, "-o", tmp_path / "one")
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS[:4] + [{"instruction": "x y z", "output": "9"}]))
    cli("ingest", src, "-o", tmp_path / "two")
    assert ShardSet(tmp_path / "one").fingerprint != ShardSet(tmp_path / "two").fingerprint


def test_verify_checks_content_hash_and_reads_old_manifests(cli, tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    cli("ingest", src, "-o", tmp_path / "set")
    path = ShardSet(tmp_path / "set").path
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())

    bad = tmp_path / "bad"
    shutil.copytree(path, bad)
    tampered = json.loads(manifest_path.read_text())
    tampered["parts"][0]["content_sha256"] = "0" * 64
    (bad / "manifest.json").write_text(json.dumps(tampered))
    problems = verify(bad)
    assert any("content sha256 mismatch" in p for p in problems)

    old = tmp_path / "old"  # a set written before content sha256s: the parts' file sha256s are its id
    shutil.copytree(path, old)
    for part in manifest["parts"]:
        del part["content_sha256"]
    manifest["fingerprint"] = hashlib.sha256("\n".join(p["sha256"] for p in manifest["parts"]).encode()).hexdigest()
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert verify(old) == [] and fingerprint_of(manifest["parts"]) == manifest["fingerprint"]


def test_annotate_import_mismatch_says_cause_and_fix(cli, tmp_path):
    from annotate_fixtures import ls_json, pw, setup, write

    tasks_dir, tasks = setup(cli, tmp_path, "pairwise")
    export = ls_json(tasks, lambda who, d: pw("left"))
    export[0]["data"] = dict(export[0]["data"], instructkit_set="0" * 64)
    r = cli("annotate-import", write(tmp_path / "e.json", export), "--tasks", tasks_dir, "-o", tmp_path / "o", ok=False)
    assert r.exit_code == 2
    out = " ".join(r.output.split())
    assert "exported from another set" in out and "pass --tasks" in out and "Label Studio" not in out
