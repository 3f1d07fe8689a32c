"""The quality report's PNG plots (matplotlib, Agg backend: no display needed).

- ``verbs.png``: Self-Instruct's Figure 2 as bars: the top verbs by count (left) and, for each, the shares
  of its top direct objects (right, labelled inside when wide enough; grey: the others).
- ``clarity.png``: the rate of each defect check that fired, per set.
- ``distinct.png``: distinct-1/2/3 of instructions and responses, per set.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
REST = "#d0d0d0"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def verbs(reports: list[dict], save: Callable) -> None:
    plt = _plt()
    for k, rep in enumerate(reports):
        top = rep["diversity"]["verbs"]["top"]
        if not top:
            continue
        fig, (left, right) = plt.subplots(
            1, 2, figsize=(12, 0.36 * len(top) + 1.5), sharey=True, gridspec_kw={"width_ratios": [1, 2.4]}
        )
        rows = list(reversed(top))
        left.barh(range(len(rows)), [v["count"] for v in rows], color=COLORS[0])
        left.set_yticks(range(len(rows)), [v["verb"] for v in rows])
        left.set_xlabel("instructions with this verb")
        for row, v in enumerate(rows):  # each bar as shares of the verb's instructions: small verbs stay legible
            start = 0.0
            for j, (obj, c) in enumerate(v["objects"]):
                share = c / v["count"]
                right.barh(row, share, left=start, color=COLORS[(j + 1) % len(COLORS)], edgecolor="white")
                if share >= 0.09:
                    right.text(start + share / 2, row, obj[:16], ha="center", va="center", fontsize=7, color="white")
                start += share
            right.barh(row, 1.0 - start, left=start, color=REST, edgecolor="white")
        right.set_xlim(0, 1)
        right.set_xlabel(
            f"share of the verb's instructions: top {len(top[0]['objects'])} direct objects, grey = others"
        )
        cov = rep["diversity"]["verbs"]["coverage"]
        fig.suptitle(f"{rep['name']}: top root verbs and their direct objects (a verb found in {cov:.0%})")
        save(fig, "verbs.png" if k == 0 else f"verbs-{k}.png")


def clarity(reports: list[dict], save: Callable) -> None:
    plt = _plt()
    names = [c for c in reports[0]["clarity"]["checks"] if any(r["clarity"]["checks"][c]["count"] for r in reports)]
    if not names:
        return
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(names) * len(reports) + 1.4))
    h = 0.8 / len(reports)
    for k, rep in enumerate(reports):
        rates = [100 * rep["clarity"]["checks"][c]["rate"] for c in names]
        ax.barh([i + k * h for i in range(len(names))], rates, height=h, color=COLORS[k], label=rep["name"])
    ax.set_yticks([i + h * (len(reports) - 1) / 2 for i in range(len(names))], names)
    ax.invert_yaxis()
    ax.set_xlabel("% of records")
    ax.set_title("Clarity: records that fail each defect check (nothing dropped)")
    ax.legend(loc="lower right")
    save(fig, "clarity.png")


def distinct(reports: list[dict], save: Callable) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    w = 0.8 / len(reports)
    for ax, part in zip(axes, ("instructions", "responses"), strict=True):
        for k, rep in enumerate(reports):
            vals = [rep["diversity"]["distinct"][part][f"distinct_{n}"] or 0 for n in (1, 2, 3)]
            ax.bar([n + k * w for n in range(3)], vals, width=w, color=COLORS[k], label=rep["name"])
        ax.set_xticks([n + w * (len(reports) - 1) / 2 for n in range(3)], ["distinct-1", "distinct-2", "distinct-3"])
        ax.set_title(part)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("unique / all n-grams")
    axes[0].legend(loc="upper left")
    save(fig, "distinct.png")


def draw(directory: Path, reports: list[dict]) -> list[str]:
    """Every plot with data, written into ``directory``; returns the file names."""
    plt = _plt()
    made: list[str] = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(directory / name, dpi=100)
        plt.close(fig)
        made.append(name)

    verbs(reports, save)
    clarity(reports, save)
    distinct(reports, save)
    return made
