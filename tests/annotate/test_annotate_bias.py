"""Length bias of annotators in annotate-import's report: longer-wins rates per annotator, a plot."""

from __future__ import annotations

import json

from annotate_fixtures import feedback_set, load_tasks, ls_json, pw, write

from instructkit.annotate.bias import comparisons, length_bias


def test_comparisons_of_each_template_by_hand():
    ranking = [{"type": "ranking", "annotator": "1", "order": [2, 0, 1]}]
    assert comparisons("ranking", ranking) == [("1", 2, 0, 2), ("1", 2, 1, 2), ("1", 0, 1, 0)]
    ratings = [
        {"type": "rating", "annotator": "1", "response": 0, "ratings": {"q": 2}},
        {"type": "rating", "annotator": "1", "response": 1, "ratings": {"q": 4}},
        {"type": "rating", "annotator": "1", "response": 2, "ratings": {"q": 4}},  # ties with 1: no comparison
        {"type": "rating", "annotator": "2", "response": 0, "ratings": {"q": 5}},  # alone: nothing to compare
    ]
    assert comparisons("rating", ratings) == [("1", 0, 1, 1), ("1", 0, 2, 2)]
    items = {"x": {"responses": [{"content": "a"}, {"content": "bbb"}, {"content": "cc"}]}}
    lb = length_bias("rating", {"x": ratings}, items)
    assert lb["n"] == 2 and lb["longer_win_rate"] == 1.0  # 'bbb' and 'cc' beat 'a'
    assert lb["per_annotator"]["1"]["rating_length_spearman"] is not None
    assert lb["per_annotator"]["2"]["n"] == 0


def test_import_report_measures_length_bias_per_annotator(cli, tmp_path):
    tasks_dir = tmp_path / "tasks"
    cli("annotate-export", feedback_set(tmp_path), "-o", tasks_dir, "--template", "pairwise")
    tasks = load_tasks(tasks_dir)

    def answer(who, d):
        longer = "left" if len(d["left"]) > len(d["right"]) else "right"
        shorter = "right" if longer == "left" else "left"
        return pw({1: longer, 2: shorter, 3: "left"}[who])

    out = tmp_path / "out"
    cli("annotate-import", write(tmp_path / "e.json", ls_json(tasks, answer)), "--tasks", tasks_dir, "-o", out)
    lb = json.loads((out / "agreement.json").read_text())["length_bias"]
    per = lb["per_annotator"]
    n = len([t for t in tasks if len(t["data"]["left"]) != len(t["data"]["right"])])
    assert per["1"] == {"n": n, "longer_wins": n, "longer_win_rate": 1.0, "p_value": per["1"]["p_value"]}
    assert per["2"]["longer_win_rate"] == 0.0 and lb["n"] == 3 * n
    report = (out / "report.md").read_text()
    assert "## Length bias" in report and report.index("## Position bias") < report.index("## Length bias")
    assert "![length bias per annotator](length_bias.png)" in report
    assert (out / "length_bias.png").read_bytes()[:4] == b"\x89PNG"
