"""Generation lengths: characters and words per reply, and the share of empty replies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from instructkit.eval.base import EvalContext, Metric, fmt, model_cells, model_table, register_metric


@register_metric("length")
class Length(Metric):
    """Words and characters per generation (mean, median, p90) and the empty fraction; lengths.png."""

    needs = frozenset({"generations"})
    order = 30

    def compute(self, ctx: EvalContext) -> None:
        from instructkit.eval.text import length_stats

        for name in ctx.names:
            ctx.results[name]["length"] = length_stats(ctx.texts[name])

    def markdown(self, report: dict) -> list[str]:
        cells = model_cells(report, "length")
        rows = [
            (label, [fmt(c.get(unit, {}).get(stat), 1) for c in cells])
            for unit in ("words", "chars")
            for stat, label in (("mean", f"mean {unit}"), ("median", f"median {unit}"), ("p90", f"p90 {unit}"))
        ]
        rows.append(("empty fraction", [fmt(c.get("empty_fraction")) for c in cells]))
        return model_table("Generation length", report, rows)

    def plots(self, ctx: EvalContext, save: Callable[[Any, str], None]) -> None:
        from instructkit.eval.report import distribution_figure

        words = {name: [len(t.split()) for t in ctx.texts[name]] for name in ctx.names}
        fig = distribution_figure(words, quantity="words per generation", title="Generation lengths")
        if fig is not None:
            save(fig, "lengths.png")
