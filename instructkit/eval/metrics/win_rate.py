"""Each model's win rate against ``--reference`` by reward-model score (``eval/winrate.py``):
raw with ties and a bootstrap interval, and AlpacaEval-style length-controlled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from instructkit.eval.base import EvalContext, Metric, fmt_ci, model_cells, model_table, register_metric


@register_metric("win_rate")
class WinRate(Metric):
    """Reward-model win rate vs the reference: raw (ties half, 95% bootstrap CI) and length-controlled."""

    needs = frozenset({"reward_model", "generations", "reference_model"})
    order = 50

    def compute(self, ctx: EvalContext) -> None:
        from instructkit.eval.winrate import compare

        p, ref = ctx.params, ctx.reference
        rewards = ctx.rewards()
        ref_len = [float(len(t)) for t in ctx.texts[ref]]
        for name in ctx.names:
            if name != ref:
                ctx.results[name]["win_rate"] = compare(
                    rewards[name],
                    rewards[ref],
                    [float(len(t)) for t in ctx.texts[name]],
                    ref_len,
                    tie_margin=p.tie_margin,
                    n_boot=p.n_boot,
                    seed=p.seed,
                )

    def markdown(self, report: dict) -> list[str]:
        cells = model_cells(report, "win_rate")
        rows = [
            ("win rate vs reference [95% CI]", [fmt_ci(c.get("raw")) for c in cells]),
            ("length-controlled win rate", [fmt_ci(c.get("length_controlled")) for c in cells]),
            (
                "wins / ties / losses",
                ["/".join(str(c["raw"][k]) for k in ("wins", "ties", "losses")) if c else "-" for c in cells],
            ),
        ]
        return model_table(f"Win rates against `{report['reference']}` (reward model)", report, rows)

    def headline(self, report: dict) -> dict[str, str]:
        return {
            f"win rate {n}": fmt_ci(c["raw"])
            for n, c in zip(report["models"], model_cells(report, "win_rate"), strict=True)
            if c
        }

    def plots(self, ctx: EvalContext, save: Callable[[Any, str], None]) -> None:
        import matplotlib.pyplot as plt

        from instructkit.eval.report import human

        compared = [n for n in ctx.names if "win_rate" in ctx.results[n]]
        if not compared:
            return
        fig, ax = plt.subplots(figsize=(7, 4))
        for offset, key in ((-0.2, "raw"), (0.2, "length_controlled")):
            rates = [ctx.results[n]["win_rate"][key]["win_rate"] for n in compared]
            cis = [ctx.results[n]["win_rate"][key]["ci"] for n in compared]
            err = [
                [r - (c[0] if c[0] is not None else r) for r, c in zip(rates, cis, strict=True)],
                [(c[1] if c[1] is not None else r) - r for r, c in zip(rates, cis, strict=True)],
            ]
            label = human(key)
            ax.bar([i + offset for i in range(len(compared))], rates, width=0.4, yerr=err, capsize=4, label=label)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(compared)), compared)
        ax.set(ylim=(0, 1), ylabel=f"win rate vs {ctx.reference}", title="Win rates (95% bootstrap CI)")
        ax.legend()
        save(fig, "win_rates.png")
