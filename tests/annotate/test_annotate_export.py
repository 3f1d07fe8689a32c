"""annotate-export: every template, options, gold items, pre-annotations, bad input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from annotate_fixtures import feedback_set, load_tasks, sft_set

from instructkit.shards import ShardSet, ShardWriter


def export(cli, inp, out, *args):
    cli("annotate-export", inp, "-o", out, *args)
    return json.loads((out / "export_manifest.json").read_text()), load_tasks(out)


def controls(config: str) -> dict[str, str]:
    root = ET.fromstring(config)
    return {el.get("name"): el.tag for el in root.iter() if el.get("toName")}


def test_pairwise_every_pair_random_sides_recorded(cli, tmp_path):
    fb = feedback_set(tmp_path)
    m, tasks = export(cli, fb, tmp_path / "t", "--template", "pairwise", "--seed", "3")
    assert m["template"] == "pairwise" and m["set"]["fingerprint"] == ShardSet(fb).fingerprint
    assert len(tasks) == 3 + 1 + 6 == m["tasks"]  # C(3,2) + C(2,2) + C(4,2)
    assert controls((tmp_path / "t" / "config.xml").read_text()) == {"choice": "Pairwise"}
    sides = []
    for t in tasks:
        d = t["data"]
        assert d["instructkit_set"] == m["set"]["fingerprint"] and d["instructkit_template"] == "pairwise"
        assert d["instructkit_task"].startswith(d["instructkit_id"] + "/p")
        assert m["order"][d["instructkit_task"]] == d["instructkit_responses"]
        item = next(
            json.loads(x)
            for x in (tmp_path / "t" / "items.jsonl").read_text().splitlines()
            if json.loads(x)["id"] == d["instructkit_id"]
        )
        left, right = d["instructkit_responses"]
        assert d["left"] == item["responses"][left]["content"] and d["right"] == item["responses"][right]["content"]
        sides.append(left < right)
    assert 0 < sum(sides) < len(sides)  # both orders occur
    # the same seed gives the same tasks, byte for byte
    export(cli, fb, tmp_path / "t2", "--template", "pairwise", "--seed", "3")
    assert (tmp_path / "t2" / "tasks.json").read_bytes() == (tmp_path / "t" / "tasks.json").read_bytes()
    project = json.loads((tmp_path / "t" / "project.json").read_text())
    assert project["label_config"] == (tmp_path / "t" / "config.xml").read_text()


def test_rating_criteria_one_task_per_response(cli, tmp_path):
    fb = feedback_set(tmp_path)
    m, tasks = export(
        cli, fb, tmp_path / "t", "--template", "rating", "--criteria", "helpfulness,harmlessness", "--overlap", "3"
    )
    assert len(tasks) == 9 and m["criteria"] == ["helpfulness", "harmlessness"] and m["max_rating"] == 5
    assert controls((tmp_path / "t" / "config.xml").read_text()) == {"helpfulness": "Rating", "harmlessness": "Rating"}
    assert all(len(t["data"]["instructkit_responses"]) == 1 and "response" in t["data"] for t in tasks)
    assert json.loads((tmp_path / "t" / "project.json").read_text())["maximum_annotations"] == 3


def test_ranking_items_list(cli, tmp_path):
    m, tasks = export(cli, feedback_set(tmp_path), tmp_path / "t", "--template", "ranking")
    assert len(tasks) == 3
    assert controls((tmp_path / "t" / "config.xml").read_text()) == {"rank": "Ranker"}
    for t in tasks:
        ids = [x["id"] for x in t["data"]["items"]]
        assert ids == [f"r{i}" for i in t["data"]["instructkit_responses"]]
        assert sorted(t["data"]["instructkit_responses"]) == list(range(len(ids)))


def test_edit_and_demonstration_from_sft(cli, tmp_path):
    s = sft_set(tmp_path)
    _, tasks = export(cli, s, tmp_path / "e", "--template", "edit")
    assert [t["data"]["response"] for t in tasks] == ["Paris is the capital.", "6"]
    assert controls((tmp_path / "e" / "config.xml").read_text()) == {"edit": "TextArea"}
    _, tasks = export(cli, s, tmp_path / "d", "--template", "demonstration")
    assert [t["data"]["prompt"] for t in tasks] == ["Capital of France?", "2 + 3?"]
    assert all(t["data"]["instructkit_responses"] == [] for t in tasks)


def test_pairwise_needs_two_responses(cli, tmp_path):
    r = cli("annotate-export", sft_set(tmp_path), "-o", tmp_path / "t", "--template", "pairwise", ok=False)
    assert r.exit_code == 2 and "fewer than 2 responses" in r.output
    r = cli("annotate-export", sft_set(tmp_path), "-o", tmp_path / "t", "--template", "vote", ok=False)
    assert r.exit_code == 2 and "unknown template" in r.output
    r = cli(
        "annotate-export",
        sft_set(tmp_path),
        "-o",
        tmp_path / "t",
        "--template",
        "rating",
        "--criteria",
        "bad name",
        ok=False,
    )
    assert r.exit_code == 2 and "bad criterion" in r.output


def test_batches(cli, tmp_path):
    m, tasks = export(cli, feedback_set(tmp_path), tmp_path / "t", "--template", "pairwise", "--batch-size", "4")
    batches = sorted((tmp_path / "t" / "batches").glob("tasks-*.json"))
    assert [len(json.loads(b.read_text())) for b in batches] == [4, 4, 2]
    assert [t for b in batches for t in json.loads(b.read_text())] == tasks


def test_gold_items_mixed_in_and_kept_out_of_task_data(cli, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        '{"prompt": "Is water wet?", "responses": ["Yes.", "Water is a rock."], "answer": 0}\n'
        '{"prompt": "1 + 1?", "responses": ["3", "2"], "answer": 1}\n'
    )
    m, tasks = export(
        cli, feedback_set(tmp_path), tmp_path / "t", "--template", "pairwise", "--gold", gold, "--gold-rate", "0.2"
    )
    assert m["gold_tasks"] == 2 == len(m["gold"]) and len(tasks) == 12
    gold_tasks = [t for t in tasks if t["data"]["instructkit_task"] in m["gold"]]
    assert {t["data"]["prompt"] for t in gold_tasks} == {"Is water wet?", "1 + 1?"}
    assert all("answer" not in json.dumps(t) and "gold" not in json.dumps(t["data"]) for t in tasks)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "responses": ["a", "b"], "answer": 2}\n')
    r = cli("annotate-export", feedback_set(tmp_path), "-o", tmp_path / "t3", "--gold", bad, ok=False)
    assert r.exit_code == 2 and "bad.jsonl:1" in r.output


def test_predictions_from_meta_scores(cli, tmp_path):
    from instructkit.records import make_record, message

    with ShardWriter(tmp_path / "s", stage="test") as w:
        w.write(
            make_record(
                "feedback",
                prompt=[message("user", "q")],
                responses=[{"content": "a"}, {"content": "b"}],
                judgments=[],
                meta={"scores": [1.0, 4.0]},
            )
        )
    _, tasks = export(cli, w.path, tmp_path / "t", "--template", "pairwise", "--predictions", "meta.scores")
    (task,) = tasks
    want = "right" if task["data"]["instructkit_responses"] == [0, 1] else "left"
    assert task["predictions"][0]["result"][0]["value"] == {"selected": want}
    _, tasks = export(cli, w.path, tmp_path / "r", "--template", "rating", "--predictions", "meta.scores")
    assert [t["predictions"][0]["result"][0]["value"]["rating"] for t in tasks] == [1, 4]


def test_help_explains_options_with_example(cli):
    for command, option in (("annotate-export", "--gold-rate"), ("annotate-import", "--min-gold-accuracy")):
        r = cli(command, "--help")
        assert "Example:" in r.output and option in r.output
