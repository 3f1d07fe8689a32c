"""Simulate three annotators on an exported tasks directory and write a Label Studio JSON export.

The committed ``export.json`` (pairwise) and ``export-rating.json`` (rating) were made with:

    instructkit ingest data/samples/annotate/candidates.jsonl -o W/cand
    instructkit annotate-export W/cand -o W/tasks --template pairwise
    python data/samples/annotate/make_export.py W/tasks -o data/samples/annotate/export.json
    instructkit annotate-export W/cand -o W/tasks-rating --template rating --criteria helpfulness,correctness
    python data/samples/annotate/make_export.py W/tasks-rating -o data/samples/annotate/export-rating.json
    instructkit annotate-export W/cand -o W/tasks-ranking --template ranking
    python data/samples/annotate/make_export.py W/tasks-ranking -o data/samples/annotate/export-ranking.json
    instructkit annotate-export W/cand -o W/tasks-edit --template edit
    python data/samples/annotate/make_export.py W/tasks-edit -o data/samples/annotate/export-edit.json

The hidden truth: ``candidates.jsonl`` lists each prompt's completions best first, so a lower
response index is better. The simulated annotators (Label Studio user ids, as its quick export
writes them in ``completed_by``):

- 2 (careful): right 95% of the time on pairs; ratings within +-0.5 of the truth.
- 3 (noisier): right 85% of the time; ratings within +-1.2; cancels (skips) one task.
- 4 (lenient and position-biased): picks 'left' on 30% of pairs without reading, otherwise right
  90% of the time; rates everything 1 point higher than the truth (capped at the top).
- Rankings order the responses by the truth plus noise (+-0.5, +-1.5, +-0.8 points for 2, 3, 4);
  edits correct a worse response into the best one (3 leaves half unchanged; 4 appends a remark).

Output mimics Label Studio 1.23's JSON export (checked against a real server's export).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path

ANNOTATORS = (2, 3, 4)
BASE_TIME = dt.datetime(2026, 11, 20, 9, 0, 0, tzinfo=dt.UTC)


def truth(i: int, top: int) -> float:
    """Quality of response ``i`` on a 1..top scale: the first is best, each next 1.5 lower."""
    return max(1.0, top - 1.5 * i)


def pairwise(rng: random.Random, who: int, shown: list[int]) -> dict:
    better = "left" if shown[0] < shown[1] else "right"
    worse = "right" if better == "left" else "left"
    if who == 4 and rng.random() < 0.3:
        selected = "left"
    else:
        p = {2: 0.95, 3: 0.85, 4: 0.9}[who]
        selected = better if rng.random() < p else worse
    return {"from_name": "choice", "to_name": "left,right", "type": "pairwise", "value": {"selected": selected}}


def ratings(rng: random.Random, who: int, i: int, criteria: list[str], top: int) -> list[dict]:
    out = []
    for c in criteria:
        noise = {2: 0.5, 3: 1.2, 4: 0.5}[who]
        value = truth(i, top) + rng.uniform(-noise, noise) + (1.0 if who == 4 else 0.0)
        out.append(
            {
                "from_name": c,
                "to_name": "response",
                "type": "rating",
                "value": {"rating": int(min(top, max(1, round(value))))},
            }
        )
    return out


def ranking(rng: random.Random, who: int, data: dict) -> dict:
    """Responses ordered by the truth plus the annotator's noise (+-0.5, +-1.5, +-0.8 points), best first."""
    noise = {2: 0.5, 3: 1.5, 4: 0.8}[who]
    shown = data["instructkit_responses"]
    ids = [it["id"] for it in data["items"]]
    order = sorted(range(len(shown)), key=lambda k: -(truth(shown[k], 5) + rng.uniform(-noise, noise)))
    return {
        "from_name": "rank",
        "to_name": "responses",
        "type": "ranker",
        "value": {"ranker": {"rank": [ids[k] for k in order]}},
    }


def edit(rng: random.Random, who: int, data: dict, item: dict) -> dict:
    """The best response stays as it is; a worse one is corrected into the best answer (annotator 3 leaves
    half of them unchanged, annotator 4 adds a closing remark of its own)."""
    i = data["instructkit_responses"][0]
    text = data["response"]
    if i > 0 and not (who == 3 and rng.random() < 0.5):
        text = item["responses"][0]["content"]
        if who == 4:
            text += " Hope this helps."
    return {"from_name": "edit", "to_name": "response", "type": "textarea", "value": {"text": [text]}}


def simulate(tasks_dir: Path, seed: int = 7) -> list[dict]:
    """The Label Studio JSON export for every task of ``tasks_dir``, annotated by three simulated users."""
    manifest = json.loads((tasks_dir / "export_manifest.json").read_text("utf-8"))
    tasks = json.loads((tasks_dir / "tasks.json").read_text("utf-8"))
    template, criteria, top = manifest["template"], manifest["criteria"], manifest.get("max_rating") or 5
    items = {}
    for line in (tasks_dir / "items.jsonl").read_text("utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            items[item["id"]] = item
    rng = random.Random(seed)
    out, ann_id, clock = [], 0, BASE_TIME
    for task_id, task in enumerate(tasks, 1):
        data, anns = task["data"], []
        for who in ANNOTATORS:
            ann_id += 1
            clock += dt.timedelta(seconds=rng.randint(20, 90))
            cancelled = who == 3 and task_id == 2  # one skipped task: counted, not used
            if cancelled:
                result = []
            elif template == "pairwise":
                result = [pairwise(rng, who, data["instructkit_responses"])]
            elif template == "rating":
                result = ratings(rng, who, data["instructkit_responses"][0], criteria, top)
            elif template == "ranking":
                result = [ranking(rng, who, data)]
            elif template == "edit":
                result = [edit(rng, who, data, items[data["instructkit_id"]])]
            else:
                raise SystemExit(f"make_export.py simulates pairwise, rating, ranking and edit tasks, not {template}")
            stamp = clock.isoformat().replace("+00:00", "Z")
            anns.append(
                {
                    "id": ann_id,
                    "completed_by": who,
                    "result": result,
                    "was_cancelled": cancelled,
                    "ground_truth": False,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "lead_time": None if cancelled else round(rng.uniform(5, 60), 3),
                    "prediction": {},
                    "result_count": len(result),
                    "task": task_id,
                    "project": 1,
                    "parent_prediction": None,
                    "parent_annotation": None,
                }
            )
        out.append(
            {
                "id": task_id,
                "annotations": anns,
                "drafts": [],
                "predictions": [],
                "data": data,
                "meta": {},
                "created_at": BASE_TIME.isoformat().replace("+00:00", "Z"),
                "inner_id": task_id,
                "total_annotations": len([a for a in anns if not a["was_cancelled"]]),
                "cancelled_annotations": len([a for a in anns if a["was_cancelled"]]),
                "total_predictions": 0,
                "project": 1,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tasks_dir", type=Path, help="a directory written by instructkit annotate-export")
    ap.add_argument("-o", "--output", type=Path, required=True, help="the export JSON to write")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    export = simulate(args.tasks_dir, args.seed)
    # one task per line: small, and a regenerated file diffs task by task
    lines = ",\n".join(json.dumps(task, ensure_ascii=False) for task in export)
    args.output.write_text(f"[\n{lines}\n]\n", "utf-8")
    print(f"{args.output}: {len(export)} tasks, {sum(len(t['annotations']) for t in export)} annotations")


if __name__ == "__main__":
    main()
