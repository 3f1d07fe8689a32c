"""The eval report: ``report.json``, ``report.md`` (models side by side), ``generations.jsonl``,
the metrics' extra files (``judgments.json``) and PNG plots, written into a temporary sibling
directory and renamed into place.

The sections, tables and plots come from the metrics (``eval/metrics/``), in their order; this
module only assembles and writes. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from instructkit import __version__
from instructkit.errors import InputError

if TYPE_CHECKING:
    from instructkit.eval.base import EvalContext, Metric

FORMAT = "instructkit.eval/1"


def check_target(out: str | Path, *, force: bool) -> None:
    """Refuse an existing report directory unless ``force`` (checked before any work)."""
    out = Path(out)
    if out.exists() and not force:
        raise InputError(
            "the report directory already exists",
            file=str(out),
            hint="pass --force to replace it, or choose another -o",
        )
    if out.exists() and not out.is_dir():
        raise InputError("the report path is a file", file=str(out))


def build(*, params: dict, sets: list[dict], ctx: EvalContext, metrics: list[Metric]) -> dict:
    """The report.json document: the run, then what every metric wrote (per-item details go to their own files)."""
    report = {
        "format": FORMAT,
        "instructkit": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "params": params,
        "data": sets,
        "reference": ctx.reference,
        "models": ctx.names,
        "metrics": [m.name for m in metrics],
        "results": ctx.results,
        "reward_model": None,
        "judge": None,
    }
    report.update(ctx.sections)
    return report


def markdown(report: dict, plots: list[str]) -> str:
    """report.md: the data, then each metric's section in run order (one column per model)."""
    from instructkit.eval.metrics import all_metrics

    lines = [
        "# instructkit eval report",
        "",
        f"Created {report['created']} by instructkit {report['instructkit']}.",
        "",
        "Data: "
        + ", ".join(
            f"`{s['path']}` ({s['kind']}, {s['used']} of {s['records']} records, fingerprint {s['fingerprint'][:12]})"
            for s in report["data"]
        ),
        "",
    ]
    known = all_metrics()
    for name in report["metrics"]:
        lines += known[name]().markdown(report)
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def plots(directory: Path, ctx: EvalContext, metrics: list[Metric]) -> list[str]:
    """Draw each metric's PNG plots (those with data); returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: list[str] = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(directory / name, dpi=100)
        plt.close(fig)
        made.append(name)

    for metric in metrics:
        metric.plots(ctx, save)
    return made


def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def write(
    out: str | Path,
    report: dict,
    *,
    ctx: EvalContext,
    metrics: list[Metric],
    generations: list[dict],
    force: bool = False,
) -> Path:
    """Write every report file into a temporary sibling, then rename it to ``out``."""
    out = Path(out)
    check_target(out, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".tmp-{out.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        made = plots(tmp, ctx, metrics)
        report["plots"] = made
        _dump(tmp / "report.json", report)
        (tmp / "report.md").write_text(markdown(report, made), encoding="utf-8")
        if generations:
            with open(tmp / "generations.jsonl", "w", encoding="utf-8") as fh:
                for row in generations:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        for name, obj in ctx.files.items():
            _dump(tmp / name, obj)
        old = None
        if out.exists():  # --force: move the old report aside, swap, then delete it
            old = out.parent / f".old-{out.name}-{uuid.uuid4().hex[:8]}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
