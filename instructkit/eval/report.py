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


def examples_markdown(generations: list[dict], *, k: int = 3, chars: int = 600) -> list[str]:
    """The first ``k`` prompts with every model's generation (and the reference): what the numbers mean."""
    by_item: dict[tuple[str, str], list[dict]] = {}
    for row in generations:
        by_item.setdefault((row["set"], row["id"]), []).append(row)
    if not by_item:
        return []

    def quote(text: str | None) -> list[str]:
        text = (text or "").strip()
        text = text if len(text) <= chars else text[:chars] + " [...]"
        return ["> " + line if line else ">" for line in (text or "(empty)").splitlines()]

    lines = ["## Example generations", "", "Greedy decoding; the full set is in `generations.jsonl`.", ""]
    for n, rows in enumerate(list(by_item.values())[:k], 1):
        last_user = [m for m in rows[0]["prompt"] if m.get("role") == "user"][-1:]
        prompt = last_user[0]["content"] if last_user else ""
        lines += [f"### {n}. {prompt.splitlines()[0][:120] if prompt else '(no user turn)'}", ""]
        if prompt and ("\n" in prompt or len(prompt) > 120):
            lines += ["Prompt:", "", *quote(prompt), ""]
        if rows[0].get("reference"):
            lines += ["Reference:", "", *quote(rows[0]["reference"]), ""]
        for row in rows:
            lines += [f"`{row['model']}`:", "", *quote(row["generation"]), ""]
    return lines


def markdown(report: dict, plots: list[str], generations: list[dict] | None = None) -> str:
    """report.md: the data, then each metric's section in run order (one column per model), then examples."""
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
    lines += ["", *examples_markdown(generations or [])]
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


# Plot helpers shared by the metrics: one panel per quantity, shared bins, integer count axes, readable labels.
LOSS_NAMES = {
    "sft": "SFT: cross-entropy per token",
    "reward": "reward model: pairwise loss -log sigmoid(r_chosen - r_rejected)",
    "rlhf-dpo": "DPO loss",
    "rlhf-kto": "KTO loss",
    "rlhf-grpo": "GRPO loss",
    "rlhf-rloo": "RLOO loss",
    "rlhf-ppo": "PPO loss (policy + value)",
    "rlhf-a2c": "A2C loss (policy + value)",
}
LABELS = {"raw": "raw", "length_controlled": "length-controlled", "loss": "training", "eval_loss": "held-out (eval)"}


def human(key: str) -> str:
    """A legend or axis label for a code name (``length_controlled`` -> ``length-controlled``)."""
    return LABELS.get(key, key.replace("_", " "))


def distribution_figure(data: dict[str, list[float]], *, quantity: str, title: str, bins: int = 20):
    """Two panels of one quantity: box plots side by side, and histograms over the SAME bins (step lines,
    so no model hides another) with an integer count axis. Models with no values are left out."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    data = {k: [float(x) for x in v] for k, v in data.items() if len(v)}
    if not data:
        return None
    fig, (box, hist) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 1.4]})
    names = list(data)
    box.boxplot([data[n] for n in names], showmeans=True)
    box.set_xticks(range(1, len(names) + 1), names, rotation=20 if len(names) > 3 else 0)
    box.set(ylabel=quantity, title="per model (box: quartiles, triangle: mean)")
    lo, hi = min(min(v) for v in data.values()), max(max(v) for v in data.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    for n in names:
        hist.hist(data[n], bins=edges, histtype="step", linewidth=1.6, label=f"{n} (n={len(data[n])})")
    hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    hist.set(xlabel=quantity, ylabel="generations", title="histogram (shared bins)")
    hist.legend(fontsize="small")
    fig.suptitle(title)
    return fig


SMOOTHING = 0.6  # TensorBoard's default weight for its smoothed scalar curves
SMOOTH_FROM = 5  # points: shorter curves are drawn as they are


def smooth(values: list[float], weight: float = SMOOTHING) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased so the first points are not pulled
    towards 0. Per-batch losses of small batches jump from step to step; the trend is what to read."""
    out, last, norm = [], 0.0, 0.0
    for v in values:
        last = last * weight + (1 - weight) * v
        norm = norm * weight + (1 - weight)
        out.append(last / norm)
    return out


def loss_figure(curves: dict[str, dict], *, title: str):
    """One panel per loss kind (SFT cross-entropy and DPO loss are different quantities): each model's
    training loss (solid) and held-out loss (dashed, same colour) against the optimizer step. A training
    curve of ``SMOOTH_FROM`` points or more is drawn faint as logged, with its smoothed trend on top
    (``smooth``, as TensorBoard and W&B draw them).

    ``curves``: ``{model: {"kind": stage, "loss": [(step, value)], "eval_loss": [(step, value)]}}``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    kinds: dict[str, list[str]] = {}
    for name, c in curves.items():
        if c.get("loss") or c.get("eval_loss"):
            kinds.setdefault(c.get("kind") or "model", []).append(name)
    if not kinds:
        return None
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (kind, names) in zip(axes[0], kinds.items(), strict=True):
        for i, name in enumerate(names):
            colour = colours[i % len(colours)]
            for key, style in (("loss", "-"), ("eval_loss", "--")):
                pts = curves[name].get(key) or []
                if not pts:
                    continue
                steps, values = zip(*pts, strict=True)
                label = f"{name}, {human(key)}"
                if key == "loss" and len(pts) >= SMOOTH_FROM:
                    ax.plot(steps, values, style, color=colour, alpha=0.3, linewidth=1, label=f"{label} (as logged)")
                    ax.plot(steps, smooth(list(values)), style, color=colour, linewidth=2, label=f"{label} (smoothed)")
                else:
                    ax.plot(steps, values, style, color=colour, marker=".", label=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="optimizer step", ylabel="loss", title=LOSS_NAMES.get(kind, f"{kind} loss"))
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()  # the panels' titles clear the figure's title
    return fig


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
        (tmp / "report.md").write_text(markdown(report, made, generations), encoding="utf-8")
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
