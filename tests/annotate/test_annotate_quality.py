"""Gold accuracy and exclusion, disputed re-export, position bias, per-annotator agreement."""

from __future__ import annotations

import json

import pytest
from annotate_fixtures import better, feedback_set, load_tasks, ls_json, pw, worse, write

from instructkit.annotate.aggregate import aggregate
from instructkit.annotate.binarize import pairs_of
from instructkit.shards import ShardSet


def test_gold_accuracy_and_exclusion(cli, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        '{"prompt": "Is water wet?", "responses": ["Yes.", "Water is a rock."], "answer": 0}\n'
        '{"prompt": "1 + 1?", "responses": ["3", "2"], "answer": 1}\n'
    )
    tasks_dir = tmp_path / "tasks"
    cli(
        "annotate-export",
        feedback_set(tmp_path),
        "-o",
        tasks_dir,
        "--template",
        "pairwise",
        "--gold",
        gold,
        "--gold-rate",
        "0.2",
    )
    manifest = json.loads((tasks_dir / "export_manifest.json").read_text())

    def answer(who, d):
        key = d["instructkit_task"]
        if key in manifest["gold"]:  # annotator 3 gets every gold item wrong
            right = manifest["gold"][key]["answer"]
            side = "left" if d["instructkit_responses"][0] == right else "right"
            return pw(side if who != 3 else ("right" if side == "left" else "left"))
        return pw(worse(d) if who == 3 else better(d))  # ... and every real item

    path = write(tmp_path / "e.json", ls_json(load_tasks(tasks_dir), answer))
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "keep")
    a = json.loads((tmp_path / "keep" / "agreement.json").read_text())
    assert a["gold"] == {
        "1": {"n": 2, "correct": 2, "accuracy": 1.0},
        "2": {"n": 2, "correct": 2, "accuracy": 1.0},
        "3": {"n": 2, "correct": 0, "accuracy": 0.0},
    }
    assert a["excluded"] == {}
    # gold tasks never become feedback records
    assert {r["prompt"][0]["content"] for r in ShardSet(tmp_path / "keep" / "feedback")} == {
        "What is 2 + 2?",
        "Name a colour.",
        "Say hi.",
    }
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "drop", "--min-gold-accuracy", "0.5")
    a = json.loads((tmp_path / "drop" / "agreement.json").read_text())
    assert list(a["excluded"]) == ["3"]
    fb = list(ShardSet(tmp_path / "drop" / "feedback"))
    excluded = [j for r in fb for j in r["judgments"] if j.get("excluded")]
    assert len(excluded) == 10 and {j["annotator"] for j in excluded} == {"3"}  # kept, marked, not used
    # with annotator 3 out, item B is unanimous: margin 1.0 instead of 1/3
    b = next(p for p in ShardSet(tmp_path / "drop" / "preference") if p["prompt"][0]["content"] == "Name a colour.")
    assert b["meta"]["annotate"]["margin"] == 1.0 and b["meta"]["annotate"]["annotators"] == ["1", "2"]
    assert a["agreement"]["winner"]["percent_agreement"] == 1.0


def test_disputed_tasks_reexported_and_reimportable(cli, tmp_path):
    tasks_dir = tmp_path / "tasks"
    cli("annotate-export", feedback_set(tmp_path), "-o", tasks_dir, "--template", "pairwise")
    tasks = load_tasks(tasks_dir)
    split = {tasks[0]["data"]["instructkit_task"], tasks[4]["data"]["instructkit_task"]}

    def answer(who, d):
        return pw(worse(d) if who == 3 and d["instructkit_task"] in split else better(d))

    path = write(tmp_path / "e.json", ls_json(tasks, answer))
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "o", "--disputed", tmp_path / "round2")
    re_tasks = load_tasks(tmp_path / "round2")
    assert {t["data"]["instructkit_task"] for t in re_tasks} == split
    assert (tmp_path / "round2" / "config.xml").read_text() == (tmp_path / "tasks" / "config.xml").read_text()
    a = json.loads((tmp_path / "o" / "agreement.json").read_text())
    assert sorted(a["disputed"]) == sorted(split)
    fb = {r["id"]: r for r in ShardSet(tmp_path / "o" / "feedback")}
    assert fb[tasks[0]["data"]["instructkit_id"]]["meta"]["annotate"]["disputed"] is True
    # the second round imports against the re-exported directory
    round2 = write(tmp_path / "e2.json", ls_json(re_tasks, lambda who, d: pw(better(d))))
    cli("annotate-import", round2, "--tasks", tmp_path / "round2", "-o", tmp_path / "o2")
    assert len(list(ShardSet(tmp_path / "o2" / "preference"))) == len({t["data"]["instructkit_id"] for t in re_tasks})
    assert "## Disputed tasks" in (tmp_path / "o" / "report.md").read_text()


def test_position_bias_measured_and_undone(cli, tmp_path):
    tasks_dir = tmp_path / "tasks"
    cli("annotate-export", feedback_set(tmp_path), "-o", tasks_dir, "--template", "pairwise")
    tasks = load_tasks(tasks_dir)
    # annotator 9 always clicks 'left'; the others judge correctly
    path = write(
        tmp_path / "e.json", ls_json(tasks, lambda who, d: pw("left") if who == 9 else pw(better(d)), (1, 2, 9))
    )
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "o", "--report", tmp_path / "r.md")
    pb = json.loads((tmp_path / "o" / "agreement.json").read_text())["position_bias"]
    n_left_better = sum(better(t["data"]) == "left" for t in tasks)
    assert pb["per_annotator"]["9"] == {"n": 10, "left_rate": 1.0, "p_value": pytest.approx(2 / 1024, abs=1e-4)}
    assert pb["per_annotator"]["1"]["left_rate"] == pytest.approx(n_left_better / 10)
    assert pb["left"] == 10 + 2 * n_left_better
    # the majority is still right on every task: the bias does not reach the pairs
    for p in ShardSet(tmp_path / "o" / "preference"):
        assert p["chosen"][0]["content"] in ("4", "Blue.", "Hi!")
    assert "## Position bias" in (tmp_path / "r.md").read_text()


def test_best_worst_never_pairs_a_tie():
    agg = aggregate(3, [{"annotator": "a", "response": i, "ratings": {"x": 3}} for i in range(3)], "rating")
    pairs, skipped = pairs_of(agg, "best-worst", 0.0)
    assert pairs == [] and skipped["tie"] == 1
    agg = aggregate(
        2,
        [
            {"annotator": "a", "response": 0, "ratings": {"x": 4}},
            {"annotator": "a", "response": 1, "ratings": {"x": 2}},
        ],
        "rating",
    )
    assert pairs_of(agg, "best-worst", 2.5)[0] == [] and pairs_of(agg, "best-worst", 2.0)[0] == [(0, 1, 2.0)]


def test_gold_tasks_without_tasks_dir_are_ignored_not_records(cli, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"prompt": "1 + 1?", "responses": ["3", "2"], "answer": 1}\n')
    tasks_dir = tmp_path / "tasks"
    cli("annotate-export", feedback_set(tmp_path), "-o", tasks_dir, "--gold", gold, "--gold-rate", "0.2")
    cli(
        "annotate-import",
        write(tmp_path / "e.json", ls_json(load_tasks(tasks_dir), lambda who, d: pw(better(d)))),
        "-o",
        tmp_path / "o",
    )
    a = json.loads((tmp_path / "o" / "agreement.json").read_text())["annotations"]
    assert a["gold judgments without --tasks (ignored)"] == 2 * 3 and a["judgments kept"] == 30
    assert len(ShardSet(tmp_path / "o" / "feedback")) == 3


def test_label_studio_url_needs_an_api_key(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    r = cli(
        "annotate-export",
        feedback_set(tmp_path),
        "-o",
        tmp_path / "t",
        "--label-studio-url",
        "http://127.0.0.1:9",
        ok=False,
    )
    assert r.exit_code == 2 and "LABEL_STUDIO_API_KEY" in r.output
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret-key-123")
    r = cli(
        "annotate-import", "-o", tmp_path / "o", "--label-studio-url", "http://127.0.0.1:9", "--project", "1", ok=False
    )
    assert r.exit_code == 2 and "cannot reach Label Studio" in r.output and "secret-key-123" not in r.output
