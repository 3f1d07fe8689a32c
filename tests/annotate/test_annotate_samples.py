"""The demo's annotation branch: the committed sample exports must still match ingest + export.

The exports in data/samples/annotate/ name our task keys (record ids) and the set fingerprint. Both
are content-addressed, so they only change when candidates.jsonl, the ultrafeedback reader, the
record schema or annotate-export change. This test catches that drift and says how to regenerate.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from instructkit.shards import ShardSet, verify

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "annotate"
CASES = [
    ("export.json", ["--template", "pairwise"]),
    ("export-rating.json", ["--template", "rating", "--criteria", "helpfulness,correctness"]),
    ("export-ranking.json", ["--template", "ranking"]),
    ("export-edit.json", ["--template", "edit"]),
]
REGENERATE = (
    "data/samples/annotate/{name} no longer matches what ingest + annotate-export produce ({why}). If the change "
    "is intended, regenerate it from the repository root:\n"
    "  instructkit ingest data/samples/annotate/candidates.jsonl -o W/cand\n"
    "  instructkit annotate-export W/cand -o W/tasks {args}\n"
    "  python data/samples/annotate/make_export.py W/tasks -o data/samples/annotate/{name}"
)


def _make_export():
    spec = importlib.util.spec_from_file_location("make_export", SAMPLE / "make_export.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def candidates(tmp_path_factory):
    """Ingest exactly as the demo does: from the repository root, with the relative path (the path
    is recorded in meta.source, so it is part of the set's content and fingerprint)."""
    from typer.testing import CliRunner

    from instructkit.cli.app import app

    out = tmp_path_factory.mktemp("annotate-demo") / "cand"
    cwd = Path.cwd()
    try:
        os.chdir(ROOT)
        r = CliRunner().invoke(app, ["ingest", "data/samples/annotate/candidates.jsonl", "-o", str(out)])
    finally:
        os.chdir(cwd)
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.parametrize("name,args", CASES)
def test_committed_export_matches_ingest_and_export(cli, tmp_path, candidates, name, args):
    tasks_dir = tmp_path / "tasks"
    cli("annotate-export", candidates, "-o", tasks_dir, *args)
    committed = json.loads((SAMPLE / name).read_text())
    ours = json.loads((tasks_dir / "tasks.json").read_text())
    fingerprint = ShardSet(candidates).fingerprint
    msg = REGENERATE.format(name=name, args=" ".join(args), why="{}")
    if committed[0]["data"]["instructkit_set"] != fingerprint:
        pytest.fail(msg.format(f"set fingerprint {committed[0]['data']['instructkit_set'][:12]} != {fingerprint[:12]}"))
    if [t["data"] for t in committed] != [t["data"] for t in ours]:
        pytest.fail(msg.format("task ids, texts or left/right order differ"))
    if _make_export().simulate(tasks_dir) != committed:
        pytest.fail(msg.format("make_export.py simulates different annotations"))
    out = tmp_path / "out"
    cli("annotate-import", SAMPLE / name, "--tasks", tasks_dir, "-o", out, "--calibrate")
    assert len(ShardSet(out / "feedback")) == 20 and len(ShardSet(out / "preference")) > 0
    for kind in ("feedback", "preference", "sft"):
        assert verify(out / kind) == []
        cli("stats", out / kind)
    agreement = json.loads((out / "agreement.json").read_text())
    assert agreement["annotations"]["cancelled"] == 1
    if "edit" not in name:  # edits have no agreement units
        assert set(agreement["annotators"]) == {"2", "3", "4"}
    if "rating" in name:  # annotator 4 is the lenient rater
        cal = agreement["calibration"]
        assert cal["4"]["mean"] > cal["2"]["mean"] and cal["4"]["mean"] > cal["3"]["mean"]
    elif name == "export.json":  # ... and the position-biased one
        per = agreement["position_bias"]["per_annotator"]
        assert per["4"]["left_rate"] > per["2"]["left_rate"]
