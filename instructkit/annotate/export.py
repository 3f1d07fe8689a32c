"""``annotate-export``: records -> Label Studio tasks (``tasks.json``), config and manifest.

A tasks directory holds:

- ``config.xml``: the labeling config to paste into the project's Labeling Interface;
- ``tasks.json``: all tasks, the file to import into Label Studio (``batches/`` too with a batch size);
- ``items.jsonl``: the exported items (prompt messages and responses), so an import rebuilds exact records;
- ``project.json``: project settings (title, config, overlap) for the API;
- ``export_manifest.json``: template, set path and fingerprint, seed, per-task response order and
  the gold answers (kept here, never in the task data annotators see).

Every task's ``data`` carries ``instructkit_task`` (our task key), ``instructkit_id`` (record id),
``instructkit_set`` (set fingerprint), ``instructkit_template`` and ``instructkit_responses`` (the
response indices shown, in display order), so an export can be matched back without guesswork.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections import Counter
from pathlib import Path

from instructkit.annotate.params import ExportParams
from instructkit.annotate.templates import Template
from instructkit.errors import ConfigError, InputError
from instructkit.records import kind_of, prompt_of, response_of

MANIFEST_FORMAT = "instructkit.annotate-tasks/1"
MIN_RESPONSES = {"pairwise": 2, "ranking": 2, "rating": 1, "edit": 1, "demonstration": 0}


def render_prompt(messages: list[dict]) -> str:
    """A conversation as display text; a lone user turn is shown as is."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def item_of(record: dict) -> dict:
    """An exportable item: id, prompt messages and responses, from a record of any kind."""
    kind = kind_of(record)
    if kind == "feedback":
        responses = [{k: v for k, v in r.items() if k in ("content", "model")} for r in record["responses"]]
    elif kind == "preference":
        responses = [{"content": record["chosen"][-1]["content"]}, {"content": record["rejected"][-1]["content"]}]
    elif kind == "sft":
        responses = [{"content": response_of(record)}]
    else:
        responses = []
    return {
        "id": record["id"],
        "prompt": prompt_of(record),
        "responses": responses,
        "kind": kind,
        "scores": _scores(record, len(responses)),
    }


def _scores(record: dict, n: int) -> list[float | None]:
    """Per-response mean rating from the record's own rating judgments (for pre-annotations)."""
    sums: dict[int, list[float]] = {}
    for j in record.get("judgments") or []:
        if j.get("type") == "rating" and isinstance(j.get("response"), int):
            # ours: {"ratings": {criterion: n}}; ingest's UltraFeedback reader: {"value": mean, "aspects": {...}}
            values = (
                [j["value"]]
                if isinstance(j.get("value"), (int, float))
                else list((j.get("ratings") or j.get("aspects") or {}).values()) or [j.get("rating")]
            )
            values = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if values:
                sums.setdefault(j["response"], []).append(sum(values) / len(values))
    return [sum(sums[i]) / len(sums[i]) if i in sums else None for i in range(n)]


def _prediction_scores(item: dict, record: dict, source: str | None) -> list[float | None] | None:
    if not source:
        return None
    if source == "judgments":
        scores = item["scores"]
    elif source.startswith("meta."):
        scores = (record.get("meta") or {}).get(source[5:])
    else:
        raise ConfigError(f"--predictions must be 'judgments' or 'meta.KEY', got {source!r}")
    if not isinstance(scores, list) or len(scores) != len(item["responses"]):
        return None
    return [s if isinstance(s, (int, float)) and not isinstance(s, bool) else None for s in scores]


def _predictions(template: Template, shown: list[int], scores: list | None, source: str) -> list[dict]:
    """Label Studio ``predictions`` (pre-annotations) from per-response scores."""
    if not scores or any(scores[i] is None for i in shown):
        return []
    result = []
    if template.name == "pairwise":
        a, b = (scores[i] for i in shown)
        if a == b:
            return []
        result.append(
            {
                "from_name": "choice",
                "to_name": "left,right",
                "type": "pairwise",
                "value": {"selected": "left" if a > b else "right"},
            }
        )
    elif template.name == "rating":
        top = next(iter(template.controls.values())).max_rating if template.controls else 5
        value = min(top, max(1, round(scores[shown[0]])))
        for c in template.criteria:
            result.append({"from_name": c, "to_name": "response", "type": "rating", "value": {"rating": value}})
    elif template.name == "ranking":
        order = sorted(shown, key=lambda i: -scores[i])
        result.append(
            {
                "from_name": "rank",
                "to_name": "responses",
                "type": "ranker",
                "value": {"ranker": {"rank": [f"r{i}" for i in order]}},
            }
        )
    return [{"model_version": f"instructkit:{source}", "result": result}] if result else []


def task_units(template: Template, item: dict, rng: random.Random) -> list[tuple[str, list[int]]]:
    """The tasks of one item: ``(task key suffix, response indices in display order)``."""
    n = len(item["responses"])
    if template.name == "pairwise":
        units = []
        for i, j in itertools.combinations(range(n), 2):
            shown = [i, j] if rng.random() < 0.5 else [j, i]  # random left/right: position bias
            units.append((f"p{i}-{j}", shown))
        return units
    if template.name == "ranking":
        shown = list(range(n))
        rng.shuffle(shown)
        return [("rank", shown)]
    if template.name in ("rating", "edit"):
        return [(f"{template.name[0]}{i}", [i]) for i in range(n)]
    return [("d", [])]


def task_data(template: Template, item: dict, key: str, shown: list[int], fingerprint: str) -> dict:
    """The ``data`` of one task: what the config displays plus our keys."""
    texts = [item["responses"][i]["content"] for i in shown]
    data = {"prompt": render_prompt(item["prompt"])}
    if template.name == "pairwise":
        data["left"], data["right"] = texts
    elif template.name == "ranking":
        data["items"] = [
            {"id": f"r{i}", "title": f"Response {chr(65 + pos)}", "body": t}
            for pos, (i, t) in enumerate(zip(shown, texts, strict=True))
        ]
    elif template.name in ("rating", "edit"):
        data["response"] = texts[0]
    data.update(
        {
            "instructkit_task": key,
            "instructkit_id": item["id"],
            "instructkit_set": fingerprint,
            "instructkit_template": template.name,
            "instructkit_responses": shown,
        }
    )
    return data


def load_gold(path: str, template: Template) -> list[dict]:
    """Gold rows: ``{"prompt", "responses", "answer"}`` per line (JSONL).

    ``answer`` is, for pairwise, the index (0/1) of the better of two responses; for rating, an
    integer (or ``{criterion: n}``) for a single response; for ranking, response indices best first.
    """
    if template.name in ("edit", "demonstration"):
        raise ConfigError(
            f"gold items are not supported for the {template.name} template",
            hint="gold needs a known answer: use pairwise, rating or ranking",
        )
    rows = []
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read gold file: {exc}", file=path) from None
    need = {"pairwise": 2, "rating": 1}.get(template.name)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompt, responses, answer = row["prompt"], row["responses"], row["answer"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(
                f"bad gold row ({exc})",
                file=path,
                line=number,
                hint='each line: {"prompt": ..., "responses": [...], "answer": ...}',
            ) from None
        prompt = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        responses = [r if isinstance(r, dict) else {"content": str(r)} for r in responses]
        n = len(responses)
        ok = (need is None or n == need) and (
            (template.name == "pairwise" and answer in (0, 1))
            or (template.name == "rating" and (isinstance(answer, int) or isinstance(answer, dict)))
            or (template.name == "ranking" and isinstance(answer, list) and sorted(answer) == list(range(n)))
        )
        if not ok or n < 1:
            raise InputError(
                f"gold row does not fit the {template.name} template (responses={n}, answer={answer!r})",
                file=path,
                line=number,
                hint="pairwise: 2 responses, answer 0|1; rating: 1 response, answer n; "
                "ranking: answer = indices best first",
            )
        blob = json.dumps([prompt, responses], sort_keys=True, ensure_ascii=False)
        gid = "g" + hashlib.sha256(blob.encode()).hexdigest()[:15]
        rows.append({"id": gid, "prompt": prompt, "responses": responses, "answer": answer, "scores": []})
    if not rows:
        raise InputError("gold file has no rows", file=path)
    return rows


def export_tasks(
    records, template: Template, out: Path, *, set_info: dict, opts: ExportParams, selection: dict | None = None
) -> dict:
    """Write a tasks directory for ``records``; return its manifest.

    Args:
        records: Records of any kind (feedback, preference, sft or prompt).
        template: The labeling template.
        out: The tasks directory (created; existing task files in it are replaced).
        set_info: ``{"path", "fingerprint", "kind"}`` of the input set.
        opts: Batch size, overlap, gold, seed, predictions source, title (``template`` is not read).
        selection: What ``select.py`` chose (method, budget, chosen ids, scores), kept in the manifest.
    """
    rng = random.Random(opts.seed)
    fingerprint = set_info["fingerprint"]
    tasks: list[dict] = []
    items: list[dict] = []
    order: dict[str, list[int]] = {}
    skipped: Counter = Counter()
    for record in records:
        item = item_of(record)
        if len(item["responses"]) < MIN_RESPONSES[template.name]:
            skipped[f"fewer than {MIN_RESPONSES[template.name]} responses"] += 1
            continue
        scores = _prediction_scores(item, record, opts.predictions)
        items.append(
            {k: item[k] for k in ("id", "prompt", "responses", "kind")}
            | {"source": (record.get("meta") or {}).get("source")}
        )
        for suffix, shown in task_units(template, item, rng):
            key = f"{item['id']}/{suffix}"
            task = {"data": task_data(template, item, key, shown, fingerprint)}
            preds = _predictions(template, shown, scores, opts.predictions or "")
            if preds:
                task["predictions"] = preds
            tasks.append(task)
            if template.name in ("pairwise", "ranking"):
                order[key] = shown
    if not tasks:
        raise InputError(
            f"no {template.name} tasks: every record was skipped ({dict(skipped)})",
            file=set_info.get("path"),
            hint="pairwise and ranking need at least two responses (feedback or preference records); "
            "rating and edit need one (also sft); demonstration takes any record",
        )
    gold: dict[str, dict] = {}
    if opts.gold:
        rows = load_gold(opts.gold, template)
        rng.shuffle(rows)
        n_gold = max(1, round(opts.gold_rate * len(tasks)))
        for k in range(n_gold):
            row = rows[k % len(rows)]
            suffix, shown = task_units(template, row, rng)[0]
            key = f"{row['id']}/{suffix}" + (f"#{k // len(rows)}" if k >= len(rows) else "")
            task = {"data": task_data(template, row, key, shown, fingerprint)}
            tasks.insert(rng.randrange(len(tasks) + 1), task)
            gold[key] = {"answer": row["answer"], "shown": shown}
            if template.name in ("pairwise", "ranking"):
                order[key] = shown
    out.mkdir(parents=True, exist_ok=True)
    files = ["config.xml", "tasks.json", "items.jsonl", "project.json", "export_manifest.json"]
    (out / "config.xml").write_text(template.config, "utf-8")
    (out / "tasks.json").write_text(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n", "utf-8")
    with open(out / "items.jsonl", "w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    if opts.batch_size:
        (out / "batches").mkdir(exist_ok=True)
        for old in (out / "batches").glob("tasks-*.json"):
            old.unlink()
        for b, start in enumerate(range(0, len(tasks), opts.batch_size)):
            name = f"batches/tasks-{b:05d}.json"
            (out / name).write_text(
                json.dumps(tasks[start : start + opts.batch_size], ensure_ascii=False) + "\n", "utf-8"
            )
            files.append(name)
    title = opts.title or f"instructkit {template.name} {fingerprint[:8]}"
    project = {
        "title": title[:50],
        "label_config": template.config,
        "maximum_annotations": opts.overlap,
        "show_overlap_first": opts.overlap > 1,
        "overlap_cohort_percentage": 100,
    }
    (out / "project.json").write_text(json.dumps(project, indent=2) + "\n", "utf-8")
    manifest = {
        "format": MANIFEST_FORMAT,
        "template": template.name,
        "criteria": list(template.criteria),
        "max_rating": next((c.max_rating for c in template.controls.values() if c.type == "rating"), None),
        "set": set_info,
        "seed": opts.seed,
        "overlap": opts.overlap,
        "gold_rate": opts.gold_rate if gold else 0.0,
        "predictions": opts.predictions,
        "tasks": len(tasks),
        "items": len(items),
        "gold_tasks": len(gold),
        "skipped": dict(skipped),
        "files": files,
        "order": order,
        "gold": gold,
    }
    if selection is not None:
        manifest["selection"] = selection
    (out / "export_manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return manifest
