"""lm-evaluation-harness tasks (``--lm-eval``) run on each model directory; needs ``pip install lm-eval``."""

from __future__ import annotations

import json

from instructkit.eval.base import EvalContext, Metric, free_memory, register_metric


@register_metric("lm_eval")
class LmEval(Metric):
    """lm-evaluation-harness tasks on each model (offline with --lm-eval-include DIR of task files)."""

    needs = frozenset({"lm_eval"})
    order = 85

    def compute(self, ctx: EvalContext) -> None:  # pragma: no cover - needs the optional extra
        for name, path in zip(ctx.names, ctx.paths, strict=True):
            ctx.say(f"lm-eval {','.join(ctx.params.lm_eval)} on {name}")
            ctx.results[name]["lm_eval"] = run_lm_eval(path, ctx.params)
            free_memory()

    def markdown(self, report: dict) -> list[str]:
        found = {n: report["results"][n].get("lm_eval") for n in report["models"]}
        if not any(found.values()):
            return []
        return ["## lm-evaluation-harness", "", "```json", json.dumps(found, indent=2, default=str), "```", ""]


def run_lm_eval(path: str, p) -> dict:  # pragma: no cover - needs the optional extra
    """Hand a model directory to lm-evaluation-harness and return its results."""
    import lm_eval

    kwargs = {
        "model": "hf",
        "model_args": f"pretrained={path},trust_remote_code={p.trust_remote_code}",
        "tasks": list(p.lm_eval),
        "batch_size": p.batch_size,
        "random_seed": p.seed,
    }
    if p.lm_eval_include:
        from lm_eval.tasks import TaskManager

        kwargs["task_manager"] = TaskManager(include_path=p.lm_eval_include)
    if p.device:
        kwargs["device"] = p.device
    return lm_eval.simple_evaluate(**kwargs).get("results", {})
