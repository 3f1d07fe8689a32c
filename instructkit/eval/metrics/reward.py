"""Reward-model scores of every generation (``--reward-model``): their distribution per model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from instructkit.eval.base import EvalContext, Metric, fmt, model_cells, model_table, register_metric


@register_metric("reward")
class Reward(Metric):
    """Reward-model score of each generation: mean, std, median per model; rewards.png."""

    needs = frozenset({"reward_model", "generations"})
    order = 40

    def compute(self, ctx: EvalContext) -> None:
        from instructkit.eval.text import describe

        ctx.reward_section()
        for name, scores in ctx.rewards().items():
            ctx.results[name]["reward"] = describe(scores)

    def markdown(self, report: dict) -> list[str]:
        cells = model_cells(report, "reward")
        rows = [(f"reward {stat}", [fmt(c.get(stat)) for c in cells]) for stat in ("mean", "std", "median")]
        return model_table(f"Reward model `{report['reward_model']['path']}`", report, rows)

    def headline(self, report: dict) -> dict[str, str]:
        return {
            f"reward {n}": fmt(c.get("mean"))
            for n, c in zip(report["models"], model_cells(report, "reward"), strict=True)
        }

    def plots(self, ctx: EvalContext, save: Callable[[Any, str], None]) -> None:
        from instructkit.eval.report import distribution_figure

        fig = distribution_figure(ctx.rewards(), quantity="reward-model score", title="Rewards of the generations")
        if fig is not None:
            save(fig, "rewards.png")
