"""Length bias of a reward model: does it prefer longer answers more than the labels do?

Reward models learn that longer is better (Singhal et al. 2023, "A Long Way to Go: Investigating
Length Correlations in RLHF"; Shen et al. 2023, "Loose lips sink ships: Mitigating Length Bias in
RLHF"): a policy optimised against one then grows its answers. Two views of it:

- On preference sets: among pairs whose chosen and rejected replies differ in length (characters),
  how often the *labels* prefer the longer reply, and how often the *reward model* does (the longer
  scores strictly higher; a tie counts half). A reward model far above the labels rewards length.
  Its accuracy is split by whether the chosen reply is the longer or the shorter one: a
  length-biased model is right on the first kind and wrong on the second.
- On generations: the Pearson and Spearman correlations between each generation's reward and its
  length in characters, per model and over all models' generations pooled; on preference sets the same
  correlation over every reply (chosen and rejected), whatever the labels say.

``length_bias.png`` plots reward against length for each. The annotators' side of the same bias (how
often the longer response wins, per annotator) is in annotate-import's report (annotate/bias.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from instructkit.eval.base import EvalContext, Metric, fmt, model_cells, model_table, register_metric
from instructkit.rankstats import pearson, ranks, spearman  # noqa: F401 (re-exported)


def pair_length_bias(
    chosen_len: list[float], rejected_len: list[float], chosen_scores: list[float], rejected_scores: list[float]
) -> dict:
    """How often labels and reward model prefer the longer reply of a pair (pairs of equal length left out).

    Returns:
        ``n`` pairs, ``n_unequal`` of different lengths, ``labels_prefer_longer`` (share of those
        whose chosen reply is the longer), ``rm_prefers_longer`` (share where the longer one scores
        higher, ties half), ``rm_accuracy_chosen_longer`` / ``rm_accuracy_chosen_shorter`` (strict
        accuracy on each kind of pair) and their counts; rates are None without pairs.
    """
    n = len(chosen_len)
    if not (n == len(rejected_len) == len(chosen_scores) == len(rejected_scores)):
        raise ValueError("lengths and scores differ in number")
    label_longer = rm_longer = 0.0
    correct = {"longer": 0, "shorter": 0}
    count = {"longer": 0, "shorter": 0}
    for cl, rl, cs, rs in zip(chosen_len, rejected_len, chosen_scores, rejected_scores, strict=True):
        if cl == rl:
            continue
        kind = "longer" if cl > rl else "shorter"
        count[kind] += 1
        correct[kind] += cs > rs
        label_longer += kind == "longer"
        longer_score, shorter_score = (cs, rs) if kind == "longer" else (rs, cs)
        rm_longer += 1.0 if longer_score > shorter_score else 0.5 if longer_score == shorter_score else 0.0
    unequal = count["longer"] + count["shorter"]
    return {
        "n": n,
        "n_unequal": unequal,
        "labels_prefer_longer": label_longer / unequal if unequal else None,
        "rm_prefers_longer": rm_longer / unequal if unequal else None,
        "rm_accuracy_chosen_longer": correct["longer"] / count["longer"] if count["longer"] else None,
        "rm_accuracy_chosen_shorter": correct["shorter"] / count["shorter"] if count["shorter"] else None,
        "n_chosen_longer": count["longer"],
        "n_chosen_shorter": count["shorter"],
    }


def reward_length_correlation(rewards: list[float], lengths: list[float]) -> dict:
    """Pearson and Spearman correlation between rewards and lengths, with ``n``."""
    return {"n": len(rewards), "pearson": pearson(rewards, lengths), "spearman": spearman(rewards, lengths)}


def _reply_length(messages: list[dict]) -> float:
    return float(sum(len(m.get("content") or "") for m in messages))


@register_metric("length_bias")
class LengthBias(Metric):
    """Reward model's preference for longer replies: on preference pairs vs the labels, and reward-length correlation on generations."""

    needs = frozenset({"reward_model"})
    uses = frozenset({"preferences", "generations"})
    order = 70

    def compute(self, ctx: EvalContext) -> None:
        section: dict = {"unit": "chars", "preference_sets": {}, "generations": None}
        for set_name, records in ctx.preferences.items():
            acc = ctx.preference_result(set_name)  # scored once, shared with rewardbench
            chosen_len = [_reply_length(r["chosen"]) for r in records]
            rejected_len = [_reply_length(r["rejected"]) for r in records]
            section["preference_sets"][set_name] = pair_length_bias(
                chosen_len, rejected_len, acc["chosen_scores"], acc["rejected_scores"]
            ) | {
                # Every reply of the set, chosen and rejected: the reward model's own length slope,
                # whatever the labels say.
                "reply_correlation": reward_length_correlation(
                    list(acc["chosen_scores"]) + list(acc["rejected_scores"]), chosen_len + rejected_len
                )
            }
        if ctx.texts:
            rewards = ctx.rewards()
            lengths = {name: [float(len(t)) for t in ctx.texts[name]] for name in ctx.names}
            for name in ctx.names:
                ctx.results[name]["length_bias"] = reward_length_correlation(rewards[name], lengths[name])
            section["generations"] = reward_length_correlation(
                [r for name in ctx.names for r in rewards[name]], [x for name in ctx.names for x in lengths[name]]
            )
        ctx.sections["length_bias"] = section

    def markdown(self, report: dict) -> list[str]:
        section = report.get("length_bias") or {}
        lines: list[str] = []
        sets = section.get("preference_sets") or {}
        if sets:
            lines += [
                "## Length bias of the reward model on preference pairs (unequal lengths, characters)",
                "",
                "| set | pairs | labels prefer longer | RM prefers longer | RM accuracy, chosen longer | "
                "RM accuracy, chosen shorter | reward~length Spearman (all replies) |",
                "|---|---|---|---|---|---|---|",
            ]
            lines += [
                f"| `{s}` | {b['n_unequal']} of {b['n']} | {fmt(b['labels_prefer_longer'])} | "
                f"{fmt(b['rm_prefers_longer'])} | {fmt(b['rm_accuracy_chosen_longer'])} ({b['n_chosen_longer']}) | "
                f"{fmt(b['rm_accuracy_chosen_shorter'])} ({b['n_chosen_shorter']}) | "
                f"{fmt((b.get('reply_correlation') or {}).get('spearman'))} |"
                for s, b in sets.items()
            ]
            lines.append("")
        cells = model_cells(report, "length_bias")
        if any(cells):
            pooled = section.get("generations") or {}
            rows = [
                ("Pearson r", [fmt(c.get("pearson")) for c in cells]),
                ("Spearman rho", [fmt(c.get("spearman")) for c in cells]),
            ]
            lines += model_table("Reward vs generation length (characters)", report, rows)
            lines += [
                f"All generations pooled: Pearson r {fmt(pooled.get('pearson'))}, "
                f"Spearman rho {fmt(pooled.get('spearman'))} (n = {pooled.get('n')}).",
                "",
            ]
        return lines

    def plots(self, ctx: EvalContext, save: Callable[[Any, str], None]) -> None:
        """``length_bias.png``: reward against length, one panel per preference set (chosen and rejected
        replies) and one for the generations (a colour per model)."""
        import matplotlib.pyplot as plt

        panels: list[tuple[str, list[tuple[str, list[float], list[float]]]]] = []
        for set_name, records in ctx.preferences.items():
            acc = ctx.preference_result(set_name)
            panels.append(
                (
                    f"pairs: {Path(set_name).name or set_name}",
                    [
                        ("chosen", [_reply_length(r["chosen"]) for r in records], list(acc["chosen_scores"])),
                        ("rejected", [_reply_length(r["rejected"]) for r in records], list(acc["rejected_scores"])),
                    ],
                )
            )
        if ctx.texts:
            rewards = ctx.rewards()
            panels.append(("generations", [(n, [float(len(t)) for t in ctx.texts[n]], rewards[n]) for n in ctx.names]))
        if not panels:
            return
        fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.8), squeeze=False)
        for ax, (title, series) in zip(axes[0], panels, strict=True):
            for label, xs, ys in series:
                ax.scatter(xs, ys, s=10, alpha=0.6, label=label)
            ax.set(xlabel="length (characters)", ylabel="reward", title=title)
            ax.legend(fontsize=8)
        fig.suptitle("Reward vs length (a rising cloud is a length-biased reward model)")
        fig.tight_layout()
        save(fig, "length_bias.png")

    def headline(self, report: dict) -> dict[str, str]:
        section = report.get("length_bias") or {}
        out = {}
        sets = section.get("preference_sets") or {}
        if sets:
            out["RM prefers longer (labels)"] = ", ".join(
                f"{fmt(b['rm_prefers_longer'])} ({fmt(b['labels_prefer_longer'])})" for b in sets.values()
            )
        if section.get("generations"):
            out["reward~length spearman"] = fmt(section["generations"]["spearman"])
        return out
