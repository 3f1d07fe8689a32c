"""What each model's manifest.json says about its training: the loss curve and the final loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from instructkit.eval.base import EvalContext, Metric, fmt, model_cells, model_table, register_metric


@register_metric("training")
class Training(Metric):
    """Training loss per step from each model's manifest.json log history; training_curves.png."""

    order = 90

    def compute(self, ctx: EvalContext) -> None:
        for name in ctx.names:
            ctx.results[name]["log_history"] = ctx.manifests.get(name, {}).get("log_history", [])

    def markdown(self, report: dict) -> list[str]:
        losses = [[h["loss"] for h in log if "loss" in h] for log in _logs(report)]
        if not any(losses):
            return []
        stages = [c.get("stage") for c in model_cells(report, "manifest")]
        rows = [
            ("trained by", [fmt(s) for s in stages]),
            ("logged steps", [str(len(v)) if v else "-" for v in losses]),
            ("final training loss", [fmt(v[-1] if v else None) for v in losses]),
        ]
        return model_table("Training (from manifest.json)", report, rows)

    def plots(self, ctx: EvalContext, save: Callable[[Any, str], None]) -> None:
        from instructkit.eval.report import loss_figure

        curves = {}
        for n in ctx.names:
            log = ctx.results[n].get("log_history", [])
            curves[n] = {
                "kind": ctx.manifests.get(n, {}).get("stage"),
                **{
                    key: [(h["step"], h[key]) for h in log if key in h and "step" in h] for key in ("loss", "eval_loss")
                },
            }
        fig = loss_figure(curves, title="Training curves (from each model's manifest.json)")
        if fig is not None:
            save(fig, "training_curves.png")


def _logs(report: dict) -> list[list[dict]]:
    return [report["results"][n].get("log_history") or [] for n in report["models"]]
