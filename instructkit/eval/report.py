"""The eval report: ``report.json``, ``report.md`` (models side by side), ``generations.jsonl``,
``judgments.json`` and PNG plots, written into a temporary sibling directory and renamed into place.

Plots (matplotlib, Agg backend: no display needed): ``rewards.png`` (reward distributions),
``win_rates.png`` (raw and length-controlled win rates with 95% intervals), ``lengths.png``
(generation length histograms), ``training_curves.png`` (loss per step from each model's
``manifest.json`` log history). A plot is drawn only when its data exists.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import uuid
from pathlib import Path

from instructkit import __version__
from instructkit.errors import InputError

FORMAT = "instructkit.eval/1"
_PER_ITEM = ("ratings", "judgments", "verdicts", "first_order", "second_order")


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


def _summary(section: dict) -> dict:
    return {k: v for k, v in section.items() if k not in _PER_ITEM}


def build(
    *,
    params: dict,
    sets: list[dict],
    models: dict,
    names: list[str],
    reference: str | None,
    reward: dict | None,
    judge: dict | None,
) -> dict:
    """The report.json document (per-item judge details go to judgments.json)."""
    if judge:
        for name in names:
            if name in judge["single"]:
                models[name]["judge_single"] = _summary(judge["single"][name])
            if name in judge["pairwise"]:
                models[name]["judge_pairwise"] = _summary(judge["pairwise"][name])
    return {
        "format": FORMAT,
        "instructkit": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "params": params,
        "data": sets,
        "reference": reference,
        "models": names,
        "results": models,
        "reward_model": reward,
        "judge": judge["judge"] if judge else None,
    }


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(section: dict | None) -> str:
    if not section or section.get("win_rate") is None:
        return "-"
    lo, hi = section["ci"]
    interval = f" [{lo:.3f}, {hi:.3f}]" if lo is not None else ""
    return f"{section['win_rate']:.3f}{interval}"


def _table(title: str, names: list[str], rows: list[tuple[str, list[str]]]) -> list[str]:
    if not rows:
        return []
    lines = [f"## {title}", "", "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return lines + [""]


def markdown(report: dict, plots: list[str]) -> str:
    """report.md: one column per model in every table."""
    names, res = report["models"], report["results"]
    col = [f"{n} (reference)" if n == report["reference"] else n for n in names]
    lines = [
        "# instructkit eval report",
        "",
        f"Created {report['created']} by instructkit {report['instructkit']}.",
        "",
    ]
    lines += [
        "Data: "
        + ", ".join(
            f"`{s['path']}` ({s['kind']}, {s['used']} of {s['records']} records, fingerprint {s['fingerprint'][:12]})"
            for s in report["data"]
        ),
        "",
    ]
    rows = []
    for set_name in dict.fromkeys(k for n in names for k in res[n]["perplexity"]):
        rows.append(
            (
                f"perplexity `{set_name}`",
                [_fmt(res[n]["perplexity"].get(set_name, {}).get("perplexity"), 2) for n in names],
            )
        )
        rows.append(
            (f"NLL/token `{set_name}`", [_fmt(res[n]["perplexity"].get(set_name, {}).get("nll")) for n in names])
        )
    lines += _table("Perplexity (assistant tokens)", col, rows)
    rows = []
    for set_name in dict.fromkeys(k for n in names for k in res[n]["reference_metrics"]):
        for key, label in (("bleu", "BLEU"), ("rougeL_f1", "ROUGE-L F1"), ("exact_match", "exact match")):
            rows.append(
                (f"{label} `{set_name}`", [_fmt(res[n]["reference_metrics"].get(set_name, {}).get(key)) for n in names])
            )
    lines += _table("Against references", col, rows)
    rows = [
        (label, [_fmt(res[n]["length"][unit].get(stat), 1) for n in names])
        for unit in ("words", "chars")
        for stat, label in (("mean", f"mean {unit}"), ("median", f"median {unit}"), ("p90", f"p90 {unit}"))
    ]
    rows.append(("empty fraction", [_fmt(res[n]["length"]["empty_fraction"]) for n in names]))
    lines += _table("Generation length", col, rows)
    if report["reward_model"]:
        rows = [
            (f"reward {stat}", [_fmt(res[n].get("reward", {}).get(stat)) for n in names])
            for stat in ("mean", "std", "median")
        ]
        rows.append(("win rate vs reference [95% CI]", [_ci(res[n].get("win_rate", {}).get("raw")) for n in names]))
        rows.append(
            ("length-controlled win rate", [_ci(res[n].get("win_rate", {}).get("length_controlled")) for n in names])
        )
        rows.append(
            (
                "wins / ties / losses",
                [
                    "/".join(str(res[n]["win_rate"]["raw"][k]) for k in ("wins", "ties", "losses"))
                    if "win_rate" in res[n]
                    else "-"
                    for n in names
                ],
            )
        )
        lines += _table(f"Reward model `{report['reward_model']['path']}`", col, rows)
        accs = report["reward_model"]["preference_accuracy"]
        if accs:
            lines += [
                "### Reward-model accuracy on preference sets (chosen strictly higher; ties wrong)",
                "",
                "| set | accuracy | correct | ties | n |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| `{s}` | {_fmt(a['accuracy'])} | {a['correct']} | {a['ties']} | {a['n']} |" for s, a in accs.items()
            ]
            lines.append("")
    if report["judge"]:
        rows = [
            ("MT-Bench grade (1-10)", [_fmt(res[n].get("judge_single", {}).get("mean"), 2) for n in names]),
            ("unparseable grades", [_fmt(res[n].get("judge_single", {}).get("unparseable")) for n in names]),
            (
                "pairwise win rate vs reference",
                [
                    _ci({"win_rate": res[n]["judge_pairwise"]["win_rate_a"], "ci": res[n]["judge_pairwise"]["ci"]})
                    if "judge_pairwise" in res[n]
                    else "-"
                    for n in names
                ],
            ),
            ("pairwise errors", [_fmt(res[n].get("judge_pairwise", {}).get("errors")) for n in names]),
            (
                "position consistency",
                [_fmt(res[n].get("judge_pairwise", {}).get("position_consistency")) for n in names],
            ),
        ]
        lines += _table(f"Judge `{report['judge'].get('model')}` at {report['judge'].get('url')}", col, rows)
    if any(res[n].get("lm_eval") for n in names):
        lines += [
            "## lm-evaluation-harness",
            "",
            "```json",
            json.dumps({n: res[n].get("lm_eval") for n in names}, indent=2, default=str),
            "```",
            "",
        ]
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def plots(directory: Path, report: dict, rewards: dict, texts: dict) -> list[str]:
    """Draw the PNG plots that have data; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, res, made = report["models"], report["results"], []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(directory / name, dpi=100)
        plt.close(fig)
        made.append(name)

    if rewards:
        fig, ax = plt.subplots(figsize=(7, 4))
        for n in names:
            ax.hist(rewards[n], bins=20, alpha=0.5, label=n)
        ax.set(xlabel="reward", ylabel="generations", title="Reward distributions")
        ax.legend()
        save(fig, "rewards.png")
    compared = [n for n in names if "win_rate" in res[n]]
    if compared:
        fig, ax = plt.subplots(figsize=(7, 4))
        for offset, key in ((-0.2, "raw"), (0.2, "length_controlled")):
            rates = [res[n]["win_rate"][key]["win_rate"] for n in compared]
            cis = [res[n]["win_rate"][key]["ci"] for n in compared]
            err = [
                [r - (c[0] if c[0] is not None else r) for r, c in zip(rates, cis, strict=True)],
                [(c[1] if c[1] is not None else r) - r for r, c in zip(rates, cis, strict=True)],
            ]
            ax.bar([i + offset for i in range(len(compared))], rates, width=0.4, yerr=err, capsize=4, label=key)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(compared)), compared)
        ax.set(ylim=(0, 1), ylabel=f"win rate vs {report['reference']}", title="Win rates (95% bootstrap CI)")
        ax.legend()
        save(fig, "win_rates.png")
    fig, ax = plt.subplots(figsize=(7, 4))
    for n in names:
        ax.hist([len(t.split()) for t in texts[n]], bins=20, alpha=0.5, label=n)
    ax.set(xlabel="words per generation", ylabel="generations", title="Generation lengths")
    ax.legend()
    save(fig, "lengths.png")
    curves = {
        n: [(h["step"], h["loss"]) for h in res[n].get("log_history", []) if "loss" in h and "step" in h] for n in names
    }
    if any(curves.values()):
        fig, ax = plt.subplots(figsize=(7, 4))
        for n, pts in curves.items():
            if pts:
                ax.plot([s for s, _ in pts], [v for _, v in pts], marker=".", label=n)
        ax.set(xlabel="step", ylabel="training loss", title="Training curves (from manifest.json)")
        ax.legend()
        save(fig, "training_curves.png")
    return made


def _dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def write(
    out: str | Path,
    report: dict,
    *,
    generations: list[dict],
    rewards: dict,
    texts: dict,
    judge: dict | None = None,
    force: bool = False,
) -> Path:
    """Write every report file into a temporary sibling, then rename it to ``out``."""
    out = Path(out)
    check_target(out, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".tmp-{out.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        made = plots(tmp, report, rewards, texts)
        report["plots"] = made
        _dump(tmp / "report.json", report)
        (tmp / "report.md").write_text(markdown(report, made), encoding="utf-8")
        with open(tmp / "generations.jsonl", "w", encoding="utf-8") as fh:
            for row in generations:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        if judge:
            _dump(tmp / "judgments.json", {k: v for k, v in judge.items() if k != "judge"})
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
