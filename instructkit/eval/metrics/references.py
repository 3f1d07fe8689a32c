"""BLEU, ROUGE-L F1 and exact match of each model's generations against the sft sets' references."""

from __future__ import annotations

from instructkit.eval.base import EvalContext, Metric, fmt, model_cells, model_table, register_metric

_COLUMNS = (("bleu", "BLEU"), ("rougeL_f1", "ROUGE-L F1"), ("exact_match", "exact match"))


@register_metric("references")
class References(Metric):
    """BLEU (sacrebleu), ROUGE-L F1 and exact match against the last assistant turn of sft records."""

    needs = frozenset({"generations", "references"})
    order = 20

    def compute(self, ctx: EvalContext) -> None:
        from instructkit.eval.text import reference_metrics

        for name in ctx.names:
            out = ctx.results[name].setdefault("reference_metrics", {})
            for set_name in dict.fromkeys(it.set for it in ctx.items):
                pairs = [
                    (t, it.reference)
                    for t, it in zip(ctx.texts[name], ctx.items, strict=True)
                    if it.set == set_name and it.reference is not None
                ]
                if pairs:
                    out[set_name] = reference_metrics([h for h, _ in pairs], [r for _, r in pairs])

    def markdown(self, report: dict) -> list[str]:
        cells = model_cells(report, "reference_metrics")
        rows = [
            (f"{label} `{set_name}`", [fmt(c.get(set_name, {}).get(key)) for c in cells])
            for set_name in dict.fromkeys(k for c in cells for k in c)
            for key, label in _COLUMNS
        ]
        return model_table("Against references", report, rows)
