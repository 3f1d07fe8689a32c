"""annotate-import on Label Studio exports written in its documented formats, for every template."""

from __future__ import annotations

import json

import pytest
from annotate_fixtures import (
    better,
    json_min,
    load_tasks,
    ls_json,
    pw,
    rank,
    rate,
    setup,
    sft_set,
    text,
    worse,
    write,
    write_csv,
)

from instructkit.shards import ShardSet, verify


def records(path):
    return list(ShardSet(path))


def item_b_answer(who, data):
    """Everyone picks the better side, except annotator 3 on item B (two responses: 'Blue.' vs 'Table.')."""
    if who == 3 and data["left"] in ("Table.", "Blue.") and data["right"] in ("Table.", "Blue."):
        return pw(worse(data))
    return pw(better(data))


@pytest.mark.parametrize("fmt", ["json", "json-min", "csv"])
def test_pairwise_round_trip_all_formats(cli, tmp_path, fmt):
    tasks_dir, tasks = setup(cli, tmp_path, "pairwise")
    export = ls_json(tasks, item_b_answer)
    path = {
        "json": lambda: write(tmp_path / "e.json", export),
        "json-min": lambda: write(tmp_path / "e.json", json_min(export)),
        "csv": lambda: write_csv(export, tmp_path / "e.csv"),
    }[fmt]()
    out = tmp_path / "out"
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", out)
    fb = records(out / "feedback")
    assert len(fb) == 3 and all(len(r["judgments"]) == 3 * len(r["meta"]["annotate"]["votes"]) for r in fb)
    j = fb[0]["judgments"][0]
    assert j["type"] == "pairwise" and j["annotator"] in ("1", "2", "3") and j["lead_time"] >= 11
    assert j["choice"] == min(j["responses"])  # the better side maps back to the lower index
    prefs = {r["prompt"][0]["content"]: r for r in records(out / "preference")}
    assert set(prefs) == {"What is 2 + 2?", "Name a colour.", "Say hi."}
    assert (prefs["What is 2 + 2?"]["chosen"][0]["content"], prefs["What is 2 + 2?"]["rejected"][0]["content"]) == (
        "4",
        "5",
    )
    b = prefs["Name a colour."]
    assert b["chosen"][0]["content"] == "Blue." and b["meta"]["annotate"]["margin"] == pytest.approx(1 / 3, abs=1e-4)
    assert prefs["Say hi."]["rejected"][0]["content"] == "hi"
    agreement = json.loads((out / "agreement.json").read_text())
    # 10 tasks x 3 annotators; only task B split 2-1: percent agreement = (9 * 1 + 1/3) / 10
    assert agreement["agreement"]["winner"]["percent_agreement"] == pytest.approx((9 + 1 / 3) / 10, abs=1e-4)
    assert agreement["position_bias"]["n"] == 30
    for kind in ("feedback", "preference", "sft"):
        assert verify(out / kind) == []
        cli("stats", out / kind)
    assert "## Agreement" in (out / "report.md").read_text()


def test_all_pairs_min_margin_and_ties(cli, tmp_path):
    tasks_dir, tasks = setup(cli, tmp_path, "pairwise")
    path = write(tmp_path / "e.json", ls_json(tasks, item_b_answer))
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "all", "--binarize", "all-pairs")
    assert len(records(tmp_path / "all" / "preference")) == 3 + 1 + 6
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "m", "--min-margin", "0.5")
    prefs = records(tmp_path / "m" / "preference")
    assert len(prefs) == 2 and "Name a colour." not in {p["prompt"][0]["content"] for p in prefs}
    assert ShardSet(tmp_path / "m" / "preference").manifest["stats"]["below min-margin"] == 1
    # two annotators who disagree on everything: every pair is a tie, so no pairs at all
    tie = write(tmp_path / "t.json", ls_json(tasks, lambda who, d: pw(better(d) if who == 1 else worse(d)), (1, 2)))
    cli("annotate-import", tie, "--tasks", tasks_dir, "-o", tmp_path / "tie", "--binarize", "all-pairs")
    assert records(tmp_path / "tie" / "preference") == []
    assert ShardSet(tmp_path / "tie" / "preference").manifest["stats"]["tie"] == 10


def test_cancelled_skipped_and_counted_and_duplicates(cli, tmp_path):
    tasks_dir, tasks = setup(cli, tmp_path, "pairwise")
    export = ls_json(tasks, lambda who, d: "cancel" if who == 2 and d is tasks[0]["data"] else pw(better(d)))
    # the same annotator annotating one task twice: the newer annotation wins
    old = export[1]["annotations"][0]["id"]
    export[1]["annotations"].append(
        dict(export[1]["annotations"][0], id=999, created_at="2026-12-01T00:00:00Z", result=pw(worse(tasks[1]["data"])))
    )
    cli("annotate-import", write(tmp_path / "e.json", export), "--tasks", tasks_dir, "-o", tmp_path / "o")
    a = json.loads((tmp_path / "o" / "agreement.json").read_text())["annotations"]
    assert a["cancelled"] == 1 and a["duplicates replaced"] == 1 and a["judgments kept"] == 29
    js = [j for r in records(tmp_path / "o" / "feedback") for j in r["judgments"]]
    assert any(j["annotation_id"] == 999 for j in js) and not any(j["annotation_id"] == old for j in js)


def test_rating_mean_and_calibration(cli, tmp_path):
    tasks_dir, tasks = setup(cli, tmp_path, "rating", "--criteria", "helpfulness,correctness")

    def answer(who, d):  # truth 4 - index (1..4); annotator 3 is a lenient copy of annotator 1 (+1)
        base = max(1, 4 - d["instructkit_responses"][0])
        r = base + (1 if who == 3 else 0) if who != 2 else min(5, base + (d["instructkit_responses"][0] % 2))
        return rate(helpfulness=r, correctness=r)

    path = write(tmp_path / "e.json", ls_json(tasks, answer))
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "raw")
    fb = {r["prompt"][0]["content"]: r for r in records(tmp_path / "raw" / "feedback")}
    j = fb["Name a colour."]["judgments"][0]
    assert j["type"] == "rating" and set(j["ratings"]) == {"helpfulness", "correctness"}
    # item B: response 0 rated 4, 4, 5 -> mean 13/3; response 1 rated 3, 4, 4 -> 11/3
    assert fb["Name a colour."]["meta"]["annotate"]["scores"] == pytest.approx([13 / 3, 11 / 3], abs=1e-3)
    a = json.loads((tmp_path / "raw" / "agreement.json").read_text())
    assert set(a["agreement"]) == {"rating:helpfulness", "rating:correctness", "rating:all"}
    cal = a["calibration"]
    assert cal["3"]["mean"] == pytest.approx(cal["1"]["mean"] + 1) and cal["3"]["sd"] == pytest.approx(cal["1"]["sd"])
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "cal", "--calibrate")
    for r in records(tmp_path / "cal" / "feedback"):
        for i in range(len(r["responses"])):
            z1 = [x for x in r["judgments"] if x["annotator"] == "1" and x["response"] == i]
            z3 = [x for x in r["judgments"] if x["annotator"] == "3" and x["response"] == i]
            assert z1[0]["ratings"]["helpfulness"] + 1 == z3[0]["ratings"]["helpfulness"]
        assert r["meta"]["annotate"]["calibrated"] is True
    assert records(tmp_path / "cal" / "preference")[0]["meta"]["annotate"]["calibrated"] is True


@pytest.mark.parametrize("form", ["dict", "list"])
def test_ranking_borda_both_result_forms(cli, tmp_path, form):
    tasks_dir, tasks = setup(cli, tmp_path, "ranking")

    def answer(who, d):
        order = sorted(d["instructkit_responses"])
        if who == 3:
            order[0], order[1] = order[1], order[0]
        return rank([f"r{i}" for i in order], form)

    cli(
        "annotate-import",
        write(tmp_path / "e.json", ls_json(tasks, answer)),
        "--tasks",
        tasks_dir,
        "-o",
        tmp_path / "o",
    )
    fb = {r["prompt"][0]["content"]: r for r in records(tmp_path / "o" / "feedback")}
    # item A: orders 012, 012, 102 -> Borda r0 (1 + 1 + .5) / 3, r1 (.5 + .5 + 1) / 3, r2 0
    assert fb["What is 2 + 2?"]["meta"]["annotate"]["scores"] == pytest.approx([2.5 / 3, 2 / 3, 0.0], abs=1e-3)
    prefs = {p["prompt"][0]["content"]: p for p in records(tmp_path / "o" / "preference")}
    assert prefs["What is 2 + 2?"]["rejected"][0]["content"] == "5"
    a = json.loads((tmp_path / "o" / "agreement.json").read_text())["agreement"]
    assert a["top choice"]["units_with_2plus"] == 3 and a["positions"]["level"] == "ordinal"


def test_edit_and_demonstration_become_sft(cli, tmp_path):
    s = sft_set(tmp_path)
    tasks_dir, tasks = setup(cli, tmp_path, "edit", inp=s)

    def answer(who, d):
        fixed = "5" if d["response"] == "6" else d["response"]
        return text("edit", d["response"], fixed) if who != 3 else text("edit", d["response"])

    cli(
        "annotate-import",
        write(tmp_path / "e.json", ls_json(tasks, answer)),
        "--tasks",
        tasks_dir,
        "-o",
        tmp_path / "o",
    )
    sft = {r["messages"][-1]["content"]: r for r in records(tmp_path / "o" / "sft")}
    assert set(sft) == {"Paris is the capital.", "5", "6"}
    assert sft["5"]["meta"]["annotate"]["changed"] is True and sorted(sft["5"]["meta"]["annotate"]["annotators"]) == [
        "1",
        "2",
    ]
    assert sft["6"]["meta"]["annotate"]["changed"] is False
    # The correction is also a pair (edited over original); unchanged edits give none and are counted.
    (pair,) = records(tmp_path / "o" / "preference")
    assert (pair["chosen"][0]["content"], pair["rejected"][0]["content"]) == ("5", "6")
    assert pair["prompt"][0]["content"] == "2 + 3?" and sorted(pair["meta"]["annotate"]["annotators"]) == ["1", "2"]
    binarize = json.loads((tmp_path / "o" / "agreement.json").read_text())["binarize"]
    assert binarize["pairs"] == 1 and binarize["unchanged edit"] == 4  # 2 by annotators 1-2, 2 by annotator 3
    d_dir = tmp_path / "d"
    cli("annotate-export", s, "-o", d_dir, "--template", "demonstration")
    export = ls_json(load_tasks(d_dir), lambda who, d: text("demonstration", f"answer {who}") if who == 1 else None)
    cli("annotate-import", write(tmp_path / "d.json", json_min(export)), "--tasks", d_dir, "-o", tmp_path / "od")
    sft = records(tmp_path / "od" / "sft")
    assert [r["messages"][-1]["content"] for r in sft] == ["answer 1", "answer 1"]
    assert sft[0]["meta"]["annotate"]["kind"] == "demonstration"


BAD = [
    ("rating", lambda d: rate(overall=7), "rating out of range", "not an integer in 1..5"),
    ("rating", lambda d: rate(overall=3, style=2), "unknown control", "unknown control name(s) ['style']"),
    ("pairwise", lambda d: pw("middle"), "bad value", "'left' or 'right'"),
    ("ranking", lambda d: rank(["r0", "r9"]), "bad value", "ranking must order exactly"),
    ("pairwise", lambda d: [], "empty annotation", "has no result"),
]


@pytest.mark.parametrize("template,result,reason,message", BAD)
def test_malformed_values_fail_or_quarantine(cli, tmp_path, template, result, reason, message):
    tasks_dir, tasks = setup(cli, tmp_path, template)
    export = ls_json(
        tasks,
        lambda who, d: (
            result(d)
            if (who == 2 and d is tasks[1]["data"])
            else {
                "rating": rate(overall=3),
                "pairwise": pw("left"),
                "ranking": rank([f"r{i}" for i in d["instructkit_responses"]]),
            }[template]
        ),
    )
    path = write(tmp_path / "e.json", export)
    r = cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "o", ok=False)
    assert r.exit_code == 2 and message in r.output and "e.json" in r.output and "task 2" in r.output
    assert "Traceback" not in r.output and not list((tmp_path / "o" / "feedback").glob("v*"))  # nothing committed
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "o", "--on-error", "skip")
    m = ShardSet(tmp_path / "o" / "feedback").manifest
    assert m["counts"]["quarantined"] == {reason: 1} and verify(tmp_path / "o" / "feedback") == []
    (q,) = records(tmp_path / "o" / "feedback" / ShardSet(tmp_path / "o" / "feedback").path.name / "quarantine")
    assert q["meta"]["reject"]["reason"] == reason and q["meta"]["source"]["task"] == 2


def test_unknown_task_and_fingerprint_mismatch(cli, tmp_path):
    tasks_dir, tasks = setup(cli, tmp_path, "pairwise")
    export = ls_json(tasks, lambda who, d: pw("left"))
    export[0]["data"] = dict(export[0]["data"], instructkit_task="ffffffffffffffff/p0-1")
    export[1]["data"] = dict(export[1]["data"], instructkit_set="0" * 64)
    path = write(tmp_path / "e.json", export)
    r = cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "o", ok=False)
    assert r.exit_code == 2 and "matches no exported task" in r.output
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "o", "--on-error", "skip")
    q = ShardSet(tmp_path / "o" / "feedback").manifest["counts"]["quarantined"]
    assert q == {"unknown task": 3, "fingerprint mismatch": 3}


@pytest.mark.parametrize(
    "content,message",
    [
        ("{not json", "not a Label Studio JSON export"),
        ('{"a": 1}', "a JSON list of tasks"),
        ('[{"id": 1, "data": {"text": "x"}, "annotations": [{"id": 1, "result": []}]}]', "cannot tell the template"),
    ],
)
def test_not_an_export(cli, tmp_path, content, message):
    (tmp_path / "x.json").write_text(content)
    r = cli("annotate-import", tmp_path / "x.json", "-o", tmp_path / "o", ok=False)
    assert r.exit_code == 2 and message in r.output


def test_without_tasks_dir_items_rebuilt_from_task_data(cli, tmp_path):
    tasks_dir, tasks = setup(cli, tmp_path, "pairwise")
    cli("annotate-import", write(tmp_path / "e.json", ls_json(tasks, item_b_answer)), "-o", tmp_path / "o")
    prefs = {p["prompt"][0]["content"]: p for p in records(tmp_path / "o" / "preference")}
    assert prefs["Say hi."]["chosen"][0]["content"] == "Hi!" and prefs["Say hi."]["rejected"][0]["content"] == "hi"
    assert ShardSet(tmp_path / "o" / "feedback").manifest["inputs"] == []


def test_csv_edit_text_that_looks_like_json_stays_text(cli, tmp_path):
    tasks_dir, tasks = setup(cli, tmp_path, "edit", inp=sft_set(tmp_path))
    export = ls_json(tasks, lambda who, d: text("edit", "[1, 2]") if who == 1 else None)
    cli("annotate-import", write_csv(export, tmp_path / "e.csv"), "--tasks", tasks_dir, "-o", tmp_path / "o")
    assert {r["messages"][-1]["content"] for r in records(tmp_path / "o" / "sft")} == {"[1, 2]"}


def test_lineage_and_a_moved_input_set(cli, tmp_path):
    import shutil

    tasks_dir, tasks = setup(cli, tmp_path, "pairwise")
    path = write(tmp_path / "e.json", ls_json(tasks, item_b_answer))
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "o")
    fb = ShardSet(tmp_path / "o" / "feedback")
    assert [i["path"] for i in fb.manifest["inputs"]] == [str(ShardSet(tmp_path / "cand").path)]
    assert ShardSet(tmp_path / "o" / "preference").manifest["inputs"][0]["path"] == str(fb.path)
    shutil.rmtree(tmp_path / "cand")  # the candidates are gone: the import still works from items.jsonl
    cli("annotate-import", path, "--tasks", tasks_dir, "-o", tmp_path / "o2")
    assert ShardSet(tmp_path / "o2" / "feedback").manifest["inputs"] == []
    assert len(records(tmp_path / "o2" / "preference")) == 3
