"""``annotate-import``: Label Studio exports -> ``feedback``, ``preference`` and ``sft`` shard sets.

Output layout under ``OUT`` (each a versioned shard set; see docs/annotate.md):

    OUT/feedback/vNNNN     one feedback record per annotated item, all judgments (with report.md,
                           agreement.json, quarantine/ for invalid annotations)
    OUT/preference/vNNNN   binarised pairs (input: the feedback set)
    OUT/sft/vNNNN          edits and demonstrations (input: the feedback set)
    OUT/report.md, OUT/agreement.json   copies of the newest run's report
"""

from __future__ import annotations

import json
import shutil
from collections import Counter, defaultdict
from pathlib import Path

from instructkit.annotate.aggregate import aggregate, gold_correct
from instructkit.annotate.bias import length_bias
from instructkit.annotate.bias import plot as plot_length_bias
from instructkit.annotate.binarize import edit_preference_records, preference_records, sft_records
from instructkit.annotate.calibrate import Calibration
from instructkit.annotate.importer import RawAnnotation, read_export
from instructkit.annotate.params import ImportParams
from instructkit.annotate.quality import agreement_stats, annotator_stats, position_bias, task_agreement, units_of
from instructkit.annotate.report import render
from instructkit.annotate.tasks import TasksDir, items_from_data, load_tasks_dir
from instructkit.annotate.templates import TEMPLATES, build
from instructkit.annotate.validate import AnnotationError, judgment_of, provenance, shown_of
from instructkit.errors import InputError, InstructkitError
from instructkit.params import recorded
from instructkit.records import make_record
from instructkit.shards import ShardSet, ShardWriter


def _is_gold_id(item_id: str) -> bool:
    """Gold ids are 'g' + 15 hex chars; record ids are 16 hex chars, so never start with 'g'."""
    return isinstance(item_id, str) and len(item_id) == 16 and item_id[0] == "g"


def _remap(j: dict, m: dict[int, int]) -> dict:
    j = dict(j)
    for key in ("responses", "order", "shown"):
        if key in j:
            j[key] = [m[i] for i in j[key]]
    for key in ("choice", "response"):
        if j.get(key) is not None:
            j[key] = m[j[key]]
    return j


class _Collector:
    """Validates annotations one by one, quarantining or raising on bad ones."""

    def __init__(self, writer: ShardWriter, tasks: TasksDir | None, opts: ImportParams):
        self.writer, self.tasks, self.opts = writer, tasks, opts
        self.counts: Counter = Counter()
        self.latest: dict[tuple[str, str], dict] = {}
        self.task_data: dict[str, dict] = {}

    def fail(self, raw: RawAnnotation, reason: str, message: str, hint: str | None = None) -> None:
        exc = AnnotationError(raw, reason, message, hint)
        if self.opts.on_error == "fail":
            raise exc
        self.writer.quarantine(
            raw.raw(),
            reason,
            source={"file": raw.file, "task": raw.task_id, "annotation": raw.annotation_id},
            error=str(exc),
        )

    def add(self, raw: RawAnnotation, template) -> None:
        key, data = raw.data.get("instructkit_task"), raw.data
        if raw.annotator is None:  # pooled as one annotator "unknown", it skewed every agreement statistic
            return self.fail(
                raw,
                "no annotator",
                "the annotation names no annotator (completed_by / annotator is empty), so it cannot be "
                "attributed: agreement statistics would pool every such annotation as one annotator",
                hint="export the project again from Label Studio (it fills completed_by), fill the annotator "
                "column, or pass --on-error skip to quarantine these annotations",
            )
        if not key or not data.get("instructkit_id"):
            return self.fail(
                raw,
                "not our task",
                "task data has no 'instructkit_task'/'instructkit_id' "
                "(was it exported with instructkit annotate-export?)",
            )
        try:
            if self.tasks is not None:
                if key not in self.tasks.tasks:
                    return self.fail(
                        raw, "unknown task", f"task key {key!r} matches no exported task in {self.tasks.path}"
                    )
                if data.get("instructkit_set") != self.tasks.fingerprint:
                    return self.fail(
                        raw,
                        "fingerprint mismatch",
                        f"set fingerprint {str(data.get('instructkit_set'))[:12]} "
                        f"is not the exported set's {self.tasks.fingerprint[:12]}: these tasks were exported "
                        f"from another set (or another version of it) than the one {self.tasks.path} holds",
                        hint="pass --tasks the annotate-export directory these tasks came from; if the set was "
                        "re-written since, run annotate-export again and annotate the new tasks "
                        "(the fingerprint ignores where files were read from, so paths are not the cause)",
                    )
                shown = self.tasks.shown(key)
                if "instructkit_responses" in data and shown_of(raw) != shown:
                    return self.fail(
                        raw,
                        "task changed",
                        f"displayed responses {shown_of(raw)} differ from the exported order {shown}",
                    )
            else:
                shown = shown_of(raw)
            j = judgment_of(raw, template, shown) | provenance(raw)
        except AnnotationError as exc:
            if self.opts.on_error == "fail":
                raise
            self.writer.quarantine(
                raw.raw(),
                exc.reason,
                source={"file": raw.file, "task": raw.task_id, "annotation": raw.annotation_id},
                error=str(exc),
            )
            return None
        self.task_data[key] = data
        slot = (key, j["annotator"])
        if slot in self.latest:  # one annotator, one task: the newest annotation wins
            self.counts["duplicates replaced"] += 1
            if str(self.latest[slot].get("created_at") or "") > str(j.get("created_at") or ""):
                return None
        self.latest[slot] = j
        return None


def _template_of(raws: list[RawAnnotation], tasks: TasksDir | None):
    if tasks is not None:
        return tasks.template
    names = {r.data.get("instructkit_template") for r in raws if not r.empty_task} - {None}
    if len(names) != 1 or next(iter(names)) not in TEMPLATES:
        raise InputError(
            f"cannot tell the template from the export (found {sorted(map(str, names)) or 'none'})",
            hint="pass --tasks TASKS_DIR (the directory annotate-export wrote); one template per import",
        )
    name = names.pop()
    criteria = sorted({c for r in raws for c in r.results}) if name == "rating" else None
    return build(name, criteria or None)


def run_import(exports: list[str], out: str | Path, opts: ImportParams) -> dict:
    """Import Label Studio exports; write the feedback, preference and sft sets; return a summary.

    ``opts.tasks`` (the tasks directory), ``opts.disputed`` (a tasks directory for another round) and
    ``opts.report`` (a copy of report.md) are paths; the other fields steer validation and binarisation.
    """
    tasks_dir, disputed_out, report_path = opts.tasks, opts.disputed, opts.report
    out = Path(out)
    tasks = load_tasks_dir(tasks_dir) if tasks_dir else None
    raws = [r for path in exports for r in read_export(path)]
    if not raws:  # a header-only CSV export: no tasks at all
        raise InputError(
            f"the exports hold no tasks ({', '.join(map(str, exports))})",
            hint="export the project again after importing tasks into it (annotate-export)",
        )
    template = _template_of(raws, tasks)
    inputs = []
    if tasks is not None:
        try:
            s = ShardSet(tasks.manifest["set"]["path"])
            inputs = [s] if s.fingerprint == tasks.fingerprint else []
        except InstructkitError:  # the input set was moved or deleted: lineage stops at the tasks dir
            pass
    # Never the Label Studio server or where copies go (record: False): what was computed, from what.
    params = {"exports": [str(p) for p in exports], **recorded(opts), "template": template.name}
    with ShardWriter(
        out / "feedback", stage="annotate-import", params=params, inputs=inputs, kind="feedback", conserving=False
    ) as writer:
        col = _Collector(writer, tasks, opts)
        for raw in raws:
            if raw.empty_task:
                col.counts["tasks without annotations"] += 1
                continue
            writer.count_in()
            if raw.cancelled:
                col.counts["cancelled"] += 1
                continue
            col.add(raw, template)
        summary = _build(col, template, tasks, opts, writer)
        lb = summary["quality"]["length_bias"]
        if lb and lb["n"]:
            lb["plot"] = "length_bias.png" if plot_length_bias(lb, writer.file("length_bias.png")) else None
        (writer.file("report.md")).write_text(render(summary), "utf-8")
        agreement = summary["quality"] | {
            k: summary[k] for k in ("annotations", "binarize", "disputed", "under_covered")
        }
        (writer.file("agreement.json")).write_text(json.dumps(agreement, indent=1, default=str) + "\n", "utf-8")
        writer.stats = {"annotations": summary["annotations"], "template": template.name}
    summary["paths"] = {"feedback": writer.path}
    fb = ShardSet(writer.path)
    for kind, recs, extra in (
        ("preference", summary.pop("_preference"), summary["binarize"]),
        ("sft", summary.pop("_sft"), {}),
    ):
        with ShardWriter(
            out / kind, stage="annotate-import", params=params, inputs=[fb], kind=kind, conserving=False
        ) as w:
            w.count_in(len(fb))
            for rec in recs:
                w.write(rec)
            w.stats = dict(extra)
        summary["paths"][kind] = w.path
    for name in ("report.md", "agreement.json", "length_bias.png"):
        if (fb.path / name).is_file():
            shutil.copyfile(fb.path / name, out / name)
    if report_path:
        shutil.copyfile(fb.path / "report.md", report_path)
    if disputed_out:
        summary["disputed_dir"] = _write_disputed(disputed_out, summary["disputed"], col.task_data, tasks, template)
    return summary


def _build(col: _Collector, template, tasks: TasksDir | None, opts: ImportParams, writer: ShardWriter) -> dict:
    """Gold, exclusions, calibration, aggregation, binarisation and quality figures."""
    judgments = list(col.latest.values())
    gold_keys = tasks.gold if tasks is not None else {}
    gold_stats: dict[str, dict] = defaultdict(lambda: {"n": 0, "correct": 0})
    real = []
    for j in judgments:
        item_id = col.task_data[j["task"]]["instructkit_id"]
        if j["task"] in gold_keys:
            g = gold_stats[j["annotator"]]
            g["n"] += 1
            g["correct"] += gold_correct(j, gold_keys[j["task"]]["answer"], template.name)
        elif _is_gold_id(item_id):
            col.counts["gold judgments without --tasks (ignored)"] += 1
        else:
            real.append(j)
    gold = {a: v | {"accuracy": round(v["correct"] / v["n"], 4)} for a, v in sorted(gold_stats.items())}
    excluded = {
        a: f"gold accuracy {g['accuracy']:.2f} < {opts.min_gold_accuracy}"
        for a, g in gold.items()
        if opts.min_gold_accuracy is not None and g["accuracy"] < opts.min_gold_accuracy
    }
    items = tasks.items if tasks is not None else items_from_data(list(col.task_data.values()))
    by_item: dict[str, list[dict]] = defaultdict(list)
    for j in real:
        item = items.get(col.task_data[j["task"]]["instructkit_id"])
        if item is None:
            raise InputError(
                f"task {j['task']} names item {col.task_data[j['task']]['instructkit_id']} that is not in "
                f"the tasks directory's items.jsonl",
                hint="re-export the tasks",
            )
        if "remap" in item:
            j = _remap(j, item["remap"])
        if j["annotator"] in excluded:
            j = j | {"excluded": excluded[j["annotator"]]}
        by_item[item["id"]].append(j)
    active = [j for js in by_item.values() for j in js if not j.get("excluded")]
    calib = Calibration([j for j in active if j["type"] == "rating"]) if template.name == "rating" else None
    by_task: dict[str, list[dict]] = defaultdict(list)
    for j in active:
        by_task[j["task"]].append(j)
    max_rating = next((c.max_rating for c in template.controls.values() if c.type == "rating"), None)
    task_agree = {t: task_agreement(template.name, js, max_rating) for t, js in by_task.items()}
    disputed = sorted(t for t, a in task_agree.items() if a is not None and a < opts.dispute_below)
    feedback, prefs, sfts = [], [], []
    bin_counts: Counter = Counter()
    for item_id, js in by_item.items():
        item = items[item_id]
        js.sort(key=lambda j: (j["task"], j["annotator"]))
        agg = aggregate(
            len(item["responses"]),
            [j for j in js if not j.get("excluded")],
            template.name,
            calib if opts.calibrate else None,
        )
        agrees = [task_agree[t] for t in {j["task"] for j in js} if task_agree.get(t) is not None]
        meta = {
            "source": item.get("source"),
            "annotate": {
                "template": template.name,
                "scores": [None if s is None else round(s, 4) for s in agg["scores"]],
                "agreement": round(sum(agrees) / len(agrees), 4) if agrees else None,
                "disputed": any(t in disputed for t in {j["task"] for j in js}),
                "calibrated": opts.calibrate,
            },
        }
        if agg["votes"]:
            meta["annotate"]["votes"] = agg["votes"]
        fb = make_record(
            "feedback", id=item_id, prompt=item["prompt"], responses=item["responses"], judgments=js, meta=meta
        )
        writer.write(fb)
        feedback.append(fb)
        recs, skipped = preference_records(
            fb, agg, method=opts.binarize, min_margin=opts.min_margin, template=template.name, calibrated=opts.calibrate
        )
        prefs.extend(recs)
        bin_counts.update(skipped)
        if template.name == "edit":
            recs, skipped = edit_preference_records(fb, template.name)
            prefs.extend(recs)
            bin_counts.update(skipped)
        sfts.extend(sft_records(fb, template.name))
    bin_counts["pairs"] = len(prefs)
    quality = {
        "template": template.name,
        "agreement": {},
        "annotators": {},
        "gold": gold,
        "excluded": excluded,
        "position_bias": position_bias(active) if template.name == "pairwise" else None,
        "length_bias": length_bias(
            template.name, {i: [j for j in js if not j.get("excluded")] for i, js in by_item.items()}, items
        )
        if template.name in ("pairwise", "ranking", "rating")
        else None,
        "calibration": calib.table() if calib else None,
    }
    for name, (units, level) in units_of(template.name, by_task).items():
        quality["agreement"][name] = agreement_stats(units, level)
        for a, st in annotator_stats(units).items():
            quality["annotators"].setdefault(a, {})[name] = st
    per_annotator = Counter(j["annotator"] for js in by_item.values() for j in js)
    overlap = (tasks.manifest.get("overlap") or 1) if tasks is not None else 1
    return {
        "template": template.name,
        "criteria": list(template.criteria),
        "quality": quality,
        "annotations": {
            "read": writer.counts["in"],
            "valid": len(judgments) + col.counts["duplicates replaced"],
            "quarantined": dict(writer.counts["quarantined"]),
            **col.counts,
            "gold judgments": sum(g["n"] for g in gold.values()),
            "judgments kept": len(real),
            "excluded judgments": sum(1 for js in by_item.values() for j in js if j.get("excluded")),
        },
        "judgments_per_annotator": dict(sorted(per_annotator.items())),
        "items": len(feedback),
        "tasks_annotated": len(by_task),
        "overlap": overlap,
        "under_covered": sorted(t for t, js in by_task.items() if len(js) < overlap),
        "disputed": disputed,
        "task_agreement": task_agree,
        "binarize": {"method": opts.binarize, "min_margin": opts.min_margin, **bin_counts},
        "sft": len(sfts),
        "_preference": prefs,
        "_sft": sfts,
    }


def _write_disputed(out: str, keys: list[str], task_data: dict[str, dict], tasks: TasksDir | None, template) -> str:
    """Re-export disputed tasks as a tasks directory for another annotation round."""
    path = Path(out)
    if tasks is not None:
        path.mkdir(parents=True, exist_ok=True)
        for name in ("config.xml", "items.jsonl", "project.json"):
            shutil.copyfile(tasks.path / name, path / name)
        chosen = [tasks.tasks[k] for k in keys]
        manifest = dict(tasks.manifest) | {
            "tasks": len(chosen),
            "gold_tasks": 0,
            "gold": {},
            "disputed_from": str(tasks.path),
            "files": ["config.xml", "tasks.json", "items.jsonl", "project.json", "export_manifest.json"],
        }
        manifest["order"] = {k: v for k, v in manifest.get("order", {}).items() if k in keys}
    else:
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.xml").write_text(template.config, "utf-8")
        chosen = [{"data": task_data[k]} for k in keys]
        manifest = None
    (path / "tasks.json").write_text(json.dumps(chosen, ensure_ascii=False, indent=1) + "\n", "utf-8")
    if manifest is not None:
        (path / "export_manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return str(path)
