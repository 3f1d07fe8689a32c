"""RewardBench accuracy of ``--reward-model`` on the preference sets (``eval/rewardbench.py``)."""

from __future__ import annotations

from instructkit.eval.base import EvalContext, Metric, fmt, register_metric


@register_metric("rewardbench")
class RewardBench(Metric):
    """Reward-model accuracy on preference pairs: chosen must score strictly higher (ties are wrong)."""

    needs = frozenset({"reward_model", "preferences"})
    order = 60

    def compute(self, ctx: EvalContext) -> None:
        accs = ctx.reward_section().setdefault("preference_accuracy", {})
        for set_name in ctx.preferences:
            acc = ctx.preference_result(set_name)
            accs[set_name] = {k: v for k, v in acc.items() if not k.endswith("_scores")}

    def markdown(self, report: dict) -> list[str]:
        accs = (report.get("reward_model") or {}).get("preference_accuracy")
        if not accs:
            return []
        lines = [
            "## Reward-model accuracy on preference sets (chosen strictly higher; ties wrong)",
            "",
            "| set | accuracy | correct | ties | n |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{s}` | {fmt(a['accuracy'])} | {a['correct']} | {a['ties']} | {a['n']} |" for s, a in accs.items()
        ]
        return lines + [""]

    def headline(self, report: dict) -> dict[str, str]:
        accs = (report.get("reward_model") or {}).get("preference_accuracy") or {}
        return {"RM accuracy": ", ".join(fmt(a["accuracy"]) for a in accs.values())} if accs else {}
