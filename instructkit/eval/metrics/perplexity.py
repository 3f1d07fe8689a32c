"""Perplexity and NLL per token of each model on the assistant turns of the sft sets (``eval/perplexity.py``)."""

from __future__ import annotations

from typing import Any

from instructkit import stage
from instructkit.eval.base import EvalContext, Metric, fmt, model_cells, model_table, register_metric


@register_metric("perplexity")
class Perplexity(Metric):
    """Perplexity and NLL/token on the assistant turns of sft sets (token-weighted over a set)."""

    needs = frozenset({"model", "conversations"})
    order = 10

    def per_model(self, ctx: EvalContext, name: str, model: Any, tokenizer: Any) -> None:
        from instructkit.eval.perplexity import perplexity

        out = ctx.results[name].setdefault("perplexity", {})
        total = sum(len(c) for c in ctx.conversations.values())
        with stage.progress_bar(f"{name}: perplexity", total) as advance:
            for set_name, convs in ctx.conversations.items():
                out[set_name] = perplexity(model, tokenizer, convs, batch_size=ctx.params.batch_size, advance=advance)

    def markdown(self, report: dict) -> list[str]:
        cells = model_cells(report, "perplexity")
        rows = []
        for set_name in dict.fromkeys(k for c in cells for k in c):
            rows.append((f"perplexity `{set_name}`", [fmt(c.get(set_name, {}).get("perplexity"), 2) for c in cells]))
            rows.append((f"NLL/token `{set_name}`", [fmt(c.get(set_name, {}).get("nll")) for c in cells]))
        return model_table("Perplexity (assistant tokens)", report, rows)

    def headline(self, report: dict) -> dict[str, str]:
        out = {}
        for name, cell in zip(report["models"], model_cells(report, "perplexity"), strict=True):
            if cell:
                out[f"perplexity {name}"] = ", ".join(fmt(v.get("perplexity"), 2) for v in cell.values())
        return out
