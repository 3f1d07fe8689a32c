"""`instructkit annotate-export` / `annotate-import`: the human-feedback loop through Label Studio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import console, print_summary, print_table

UrlOpt = Annotated[
    Optional[str],
    typer.Option(
        "--label-studio-url",
        help="A running Label Studio (e.g. "
        "http://localhost:8080); the API key is read from the environment variable LABEL_STUDIO_API_KEY "
        "and never written anywhere.",
    ),
]


def annotate_export(
    input: Annotated[
        Path,
        typer.Argument(help="Shard set to annotate: feedback (prompt + responses), preference, sft or prompt records."),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Tasks directory to write (config.xml, tasks.json, items.jsonl, project.json, export_manifest.json).",
        ),
    ],
    template: Annotated[
        str, typer.Option("--template", "-t", help="rating | pairwise | ranking | edit | demonstration.")
    ] = "pairwise",
    criteria: Annotated[
        str,
        typer.Option(
            "--criteria",
            help="Rating template: comma-separated criteria, each "
            "rated 1..--max-rating, e.g. helpfulness,correctness,harmlessness.",
        ),
    ] = "overall",
    max_rating: Annotated[int, typer.Option("--max-rating", min=2, max=10, help="Top of the rating scale.")] = 5,
    batch_size: Annotated[
        Optional[int],
        typer.Option(
            "--batch-size", min=1, help="Also split the tasks into batches/tasks-NNNNN.json files of this many tasks."
        ),
    ] = None,
    overlap: Annotated[
        int,
        typer.Option(
            "--overlap",
            min=1,
            help="Annotators per task (written to project.json as "
            "maximum_annotations; import reports tasks with fewer).",
        ),
    ] = 1,
    gold: Annotated[
        Optional[Path],
        typer.Option(
            "--gold",
            help='JSONL of gold items with known answers: {"prompt", "responses", "answer"} (see docs/annotate.md).',
        ),
    ] = None,
    gold_rate: Annotated[
        float, typer.Option("--gold-rate", min=0.0, max=1.0, help="Gold tasks to mix in, as a share of the real tasks.")
    ] = 0.1,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed for left/right order, ranking order and gold placement.")
    ] = 0,
    predictions: Annotated[
        Optional[str],
        typer.Option(
            "--predictions",
            help="Pre-annotations from per-response "
            "scores: 'judgments' (the records' rating judgments) or 'meta.KEY' (a list of numbers, "
            "one per response).",
        ),
    ] = None,
    label_studio_url: UrlOpt = None,
) -> None:
    """Write Label Studio tasks and the labeling config for a shard set.

    Pairwise tasks show every pair of an item's responses with left/right drawn at random per task
    (recorded in export_manifest.json, so position bias is measured and undone on import). Each
    task's data carries the record id and the set fingerprint. Gold items stay out of the task data.

    Example: instructkit annotate-export out/cand -o out/tasks --template rating --criteria helpfulness,harmlessness --overlap 3
    """
    from instructkit.annotate.export import ExportOptions, export_tasks
    from instructkit.annotate.templates import build
    from instructkit.shards import ShardSet

    tmpl = build(template, [c.strip() for c in criteria.split(",") if c.strip()], max_rating)
    s = ShardSet(input)
    opts = ExportOptions(
        batch_size=batch_size,
        overlap=overlap,
        gold_path=str(gold) if gold else None,
        gold_rate=gold_rate,
        seed=seed,
        predictions=predictions,
    )
    m = export_tasks(
        s, tmpl, output, set_info={"path": str(s.path), "fingerprint": s.fingerprint, "kind": s.kind}, opts=opts
    )
    rows = [("template", m["template"]), ("items", m["items"]), ("tasks", m["tasks"]), ("gold tasks", m["gold_tasks"])]
    rows += [(f"skipped: {k}", v) for k, v in m["skipped"].items()]
    if label_studio_url:
        from instructkit.annotate.live import LabelStudioClient

        client = LabelStudioClient(label_studio_url)
        project = client.push(output)
        rows.append(("Label Studio project", f"{label_studio_url.rstrip('/')}/projects/{project}"))
    rows.append(("output", str(output)))
    print_table("annotate-export", rows, ("", "value"))
    typer.echo(str(output))


def annotate_import(
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Output directory: feedback/, preference/ and sft/ "
            "shard sets (next vNNNN each), report.md and agreement.json.",
        ),
    ],
    exports: Annotated[
        Optional[list[Path]],
        typer.Argument(help="Label Studio exports: JSON, JSON-MIN or CSV (several files are merged)."),
    ] = None,
    tasks: Annotated[
        Optional[Path],
        typer.Option(
            "--tasks",
            help="The tasks directory annotate-export wrote: enables full validation, gold accuracy and exact prompts.",
        ),
    ] = None,
    binarize: Annotated[
        str, typer.Option("--binarize", help="best-worst (one pair per item) or all-pairs.")
    ] = "best-worst",
    min_margin: Annotated[
        float,
        typer.Option(
            "--min-margin",
            min=0.0,
            help="Smallest score difference that makes a "
            "pair (rating points, Borda share, vote share; z units with "
            "--calibrate). Ties never make pairs.",
        ),
    ] = 0.0,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error",
            help="fail: stop at the first invalid annotation (exit 2); skip: quarantine it with the reason and go on.",
        ),
    ] = "fail",
    min_gold_accuracy: Annotated[
        Optional[float],
        typer.Option(
            "--min-gold-accuracy",
            min=0.0,
            max=1.0,
            help="Exclude annotators whose accuracy on gold tasks is below this.",
        ),
    ] = None,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate",
            help="Z-score each annotator's ratings before aggregating (corrects lenient and harsh raters).",
        ),
    ] = False,
    disputed: Annotated[
        Optional[Path],
        typer.Option("--disputed", help="Write the low-agreement tasks to this tasks directory for another round."),
    ] = None,
    dispute_below: Annotated[
        float,
        typer.Option(
            "--dispute-below",
            min=0.0,
            max=1.0,
            help="A task is disputed when "
            "its agreement is below this (share of agreeing annotator "
            "pairs; ratings: 1 - spread/(max-1)).",
        ),
    ] = 0.5,
    report: Annotated[Optional[Path], typer.Option("--report", help="Also copy the Markdown report here.")] = None,
    label_studio_url: UrlOpt = None,
    project: Annotated[
        Optional[int],
        typer.Option("--project", help="With --label-studio-url: the project id to pull the JSON export from."),
    ] = None,
) -> None:
    """Import Label Studio annotations: feedback records, preference pairs, sft demonstrations, agreement.

    Every annotation is validated against the template (Label Studio stores any value). Cancelled
    annotations are skipped and counted. Writes OUT/feedback, OUT/preference and OUT/sft shard sets
    and a report with Cohen's and Fleiss' kappa, Krippendorff's alpha, gold accuracy and position bias.

    Example: instructkit annotate-import export.json --tasks out/tasks -o out/annotations --binarize all-pairs --report report.md
    """
    from instructkit.annotate.pipeline import ImportOptions, run_import
    from instructkit.errors import InputError

    exports = [str(p) for p in exports or []]
    if label_studio_url:
        from instructkit.annotate.live import LabelStudioClient

        if project is None:
            raise InputError("--label-studio-url needs --project ID to pull an export from")
        output.mkdir(parents=True, exist_ok=True)
        exports.append(
            str(LabelStudioClient(label_studio_url).pull(project, output / f"export-project-{project}.json"))
        )
    if not exports:
        raise InputError("no export given", hint="pass Label Studio export files, or --label-studio-url with --project")
    opts = ImportOptions(
        binarize=binarize,
        min_margin=min_margin,
        on_error=on_error,
        min_gold_accuracy=min_gold_accuracy,
        calibrate=calibrate,
        dispute_below=dispute_below,
    )
    s = run_import(
        exports,
        output,
        tasks_dir=str(tasks) if tasks else None,
        opts=opts,
        disputed_out=str(disputed) if disputed else None,
        report_path=str(report) if report else None,
    )
    from instructkit.shards import ShardSet

    fb = ShardSet(s["paths"]["feedback"])
    q = s["quality"]
    extra = {
        "items": s["items"],
        "preference pairs": s["binarize"].get("pairs", 0),
        "sft records": s["sft"],
        "cancelled": s["annotations"].get("cancelled", 0),
        "disputed tasks": len(s["disputed"]),
    }
    for name, a in q["agreement"].items():
        extra[f"alpha ({name})"] = "-" if a["krippendorff_alpha"] is None else f"{a['krippendorff_alpha']:.3f}"
    if q["excluded"]:
        extra["excluded annotators"] = ", ".join(q["excluded"])
    print_summary("annotate-import", fb.manifest, fb.path, extra=extra)
    console.print(f"preference: {s['paths']['preference']}\nsft: {s['paths']['sft']}\nreport: {output / 'report.md'}")
    typer.echo(str(output))
