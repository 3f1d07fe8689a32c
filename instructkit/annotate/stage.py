"""The ``annotate-export`` and ``annotate-import`` stages (registered in ``instructkit/stages.py``).

Both write a directory: export a tasks directory (``export.py``), import an output directory holding
the ``feedback``, ``preference`` and ``sft`` shard sets and the report (``pipeline.py``). With
``label_studio_url`` they also push the tasks to, or pull the export from, a running Label Studio
(``live.py``; the API key comes from the environment only).
"""

from __future__ import annotations

from pathlib import Path

from instructkit.annotate.params import ExportParams, ImportParams
from instructkit.errors import InputError
from instructkit.registry import Result


def export_stage(inputs: list[str], out: Path, p: ExportParams) -> Result:
    """Write Label Studio tasks and the labeling config for the shard set ``inputs[0]`` into ``out``."""
    from instructkit.annotate.export import export_tasks
    from instructkit.shards import ShardSet

    s = ShardSet(inputs[0])
    records, selection = s, None
    if p.select is not None:
        from instructkit.annotate.select import select_records

        records, selection = select_records(list(s), p.template_spec(), p)
    m = export_tasks(
        records,
        p.template_spec(),
        out,
        set_info={"path": str(s.path), "fingerprint": s.fingerprint, "kind": s.kind},
        opts=p,
        selection=selection,
    )
    summary = {"template": m["template"], "items": m["items"], "tasks": m["tasks"], "gold tasks": m["gold_tasks"]}
    if selection is not None:
        summary["selected"] = f"{len(selection['chosen'])} items by {selection['by']} ({selection['tasks']} tasks)"
    summary.update({f"skipped: {k}": v for k, v in m["skipped"].items()})
    if p.label_studio_url:
        from instructkit.annotate.live import LabelStudioClient

        project = LabelStudioClient(p.label_studio_url).push(out)
        from instructkit.redact import join_path, redact_url

        summary["Label Studio project"] = redact_url(join_path(p.label_studio_url, f"/projects/{project}"))
    return Result(out, m, summary)


def import_stage(inputs: list[str], out: Path, p: ImportParams) -> Result:
    """Import the Label Studio exports ``inputs`` (and/or the project pulled from ``p.label_studio_url``)."""
    from instructkit.annotate.pipeline import run_import
    from instructkit.shards import ShardSet

    exports = list(inputs)
    if p.label_studio_url:
        from instructkit.annotate.live import LabelStudioClient

        if p.project is None:
            raise InputError("--label-studio-url needs --project ID to pull an export from")
        out.mkdir(parents=True, exist_ok=True)
        pulled = LabelStudioClient(p.label_studio_url).pull(p.project, out / f"export-project-{p.project}.json")
        exports.append(str(pulled))
    if not exports:
        raise InputError("no export given", hint="pass Label Studio export files, or --label-studio-url with --project")
    s = run_import(exports, out, p)
    fb = ShardSet(s["paths"]["feedback"])
    counts = fb.manifest["counts"]
    summary = {
        "annotations read": f"{counts.get('in', 0):,}",
        **{f"quarantined: {k}": f"{n:,}" for k, n in sorted(counts.get("quarantined", {}).items())},
        "items": s["items"],
        "preference pairs": s["binarize"].get("pairs", 0),
        "sft records": s["sft"],
        "cancelled": s["annotations"].get("cancelled", 0),
        "disputed tasks": len(s["disputed"]),
    }
    for name, a in s["quality"]["agreement"].items():
        summary[f"alpha ({name})"] = "-" if a["krippendorff_alpha"] is None else f"{a['krippendorff_alpha']:.3f}"
    if s["quality"]["excluded"]:
        summary["excluded annotators"] = ", ".join(s["quality"]["excluded"])
    for kind in ("feedback", "preference", "sft"):
        summary[kind] = str(s["paths"][kind])
    summary["report"] = str(out / "report.md")
    if s.get("disputed_dir"):
        summary["disputed"] = s["disputed_dir"]
    return Result(out, fb.manifest, summary)
