"""Helpers for the annotate tests: small shard sets and Label Studio exports in its documented formats.

The export writers follow Label Studio 1.23 (label_studio_sdk.converter): JSON is the task list with
``annotations``; JSON-MIN flattens one annotation per row with "prettified" values (a single TextArea
text or Choices choice becomes a string, everything else a list of value objects); CSV is JSON-MIN
with lists and objects as JSON strings.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from instructkit.records import make_record, message
from instructkit.shards import ShardWriter

PROMPTS = {
    "A": ("What is 2 + 2?", ["4", "Four, since 2 + 2 = 4.", "5"]),
    "B": ("Name a colour.", ["Blue.", "Table."]),
    "C": ("Say hi.", ["Hi!", "Hello there!", "Go away.", "hi"]),
}


def feedback_set(root: Path, names: str = "ABC") -> Path:
    """A feedback shard set with the items of PROMPTS (responses in the order listed)."""
    with ShardWriter(root / "cand", stage="test", conserving=False) as w:
        for name in names:
            prompt, responses = PROMPTS[name]
            w.write(
                make_record(
                    "feedback",
                    prompt=[message("user", prompt)],
                    responses=[{"content": r, "model": f"m{i}"} for i, r in enumerate(responses)],
                    judgments=[],
                    source={"file": "test", "line": name},
                )
            )
    return w.path


def sft_set(root: Path) -> Path:
    with ShardWriter(root / "sft", stage="test") as w:
        for q, a in (("Capital of France?", "Paris is the capital."), ("2 + 3?", "6")):
            w.write(make_record("sft", messages=[message("user", q), message("assistant", a)], source={"file": "t"}))
    return w.path


def load_tasks(tasks_dir: Path) -> list[dict]:
    return json.loads((tasks_dir / "tasks.json").read_text())


def pw(selected):
    return [{"from_name": "choice", "to_name": "left,right", "type": "pairwise", "value": {"selected": selected}}]


def rate(**ratings):
    return [
        {"from_name": c, "to_name": "response", "type": "rating", "value": {"rating": r}} for c, r in ratings.items()
    ]


def rank(ids, form="dict"):
    value = {"ranker": {"rank": list(ids)}} if form == "dict" else {"ranker": list(ids)}
    return [{"from_name": "rank", "to_name": "responses", "type": "ranker", "value": value}]


def text(name, *texts):
    return [{"from_name": name, "to_name": "response", "type": "textarea", "value": {"text": list(texts)}}]


def ls_json(tasks: list[dict], answer, annotators=(1, 2, 3)) -> list[dict]:
    """A Label Studio JSON export: ``answer(annotator, data)`` gives a result list, "cancel" or None (not annotated)."""
    out, ann_id = [], 0
    for task_id, task in enumerate(tasks, 1):
        anns = []
        for who in annotators:
            result = answer(who, task["data"])
            if result is None:
                continue
            ann_id += 1
            cancelled = result == "cancel"
            anns.append(
                {
                    "id": ann_id,
                    "completed_by": who,
                    "result": [] if cancelled else result,
                    "was_cancelled": cancelled,
                    "ground_truth": False,
                    "created_at": f"2026-11-20T09:{ann_id // 60:02d}:{ann_id % 60:02d}Z",
                    "updated_at": f"2026-11-20T09:{ann_id // 60:02d}:{ann_id % 60:02d}Z",
                    "lead_time": 10.0 + who,
                    "task": task_id,
                    "project": 1,
                }
            )
        out.append({"id": task_id, "annotations": anns, "predictions": [], "data": task["data"], "project": 1})
    return out


def _pretty(values: list[dict], rtype: str):
    if rtype == "textarea" and len(values) == 1 and len(values[0]["text"]) == 1:
        return values[0]["text"][0]
    if rtype == "choices" and len(values) == 1 and len(values[0]["choices"]) == 1:
        return values[0]["choices"][0]
    return values


def json_min(export: list[dict]) -> list[dict]:
    """Label Studio's JSON-MIN rows of a JSON export (cancelled annotations are left out, as it does)."""
    rows = []
    for task in export:
        for ann in task["annotations"]:
            if ann["was_cancelled"]:
                continue
            row = json.loads(json.dumps(task["data"]))
            row["id"] = task["id"]
            by_name: dict[str, list] = {}
            types = {}
            for r in ann["result"]:
                by_name.setdefault(r["from_name"], []).append(dict(r["value"]))
                types[r["from_name"]] = r["type"]
            for name, values in by_name.items():
                row[name] = _pretty(values, types[name])
            row.update(
                {
                    "annotator": ann["completed_by"],
                    "annotation_id": ann["id"],
                    "created_at": ann["created_at"],
                    "updated_at": ann["updated_at"],
                    "lead_time": ann["lead_time"],
                }
            )
            rows.append(row)
    return rows


def write_csv(export: list[dict], path: Path) -> Path:
    """Label Studio's CSV export: JSON-MIN columns, lists/objects as JSON strings."""
    rows = json_min(export)
    keys = sorted({k for r in rows for k in r})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=keys, quoting=csv.QUOTE_NONNUMERIC)
        w.writeheader()
        for r in rows:
            w.writerow({k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in r.items()})
    return path


def write(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj, indent=1))
    return path


def better(data: dict) -> str:
    """The side showing the lower response index (the better one in PROMPTS)."""
    left, right = data["instructkit_responses"]
    return "left" if left < right else "right"


def worse(data: dict) -> str:
    return "right" if better(data) == "left" else "left"


def setup(cli, tmp_path, template, *args, inp=None):
    """Export tasks of ``template`` for a small feedback set: (tasks directory, its tasks)."""
    tasks_dir = tmp_path / "tasks"
    cli("annotate-export", inp or feedback_set(tmp_path), "-o", tasks_dir, "--template", template, *args)
    return tasks_dir, load_tasks(tasks_dir)
