"""lm-evaluation-harness tasks (``--lm-eval``) run on each model directory; needs ``pip install lm-eval``."""

from __future__ import annotations

from instructkit.eval.base import EvalContext, Metric, free_memory, register_metric


@register_metric("lm_eval")
class LmEval(Metric):
    """lm-evaluation-harness tasks on each model (offline with --lm-eval-include DIR of task files)."""

    needs = frozenset({"lm_eval"})
    order = 85

    def compute(self, ctx: EvalContext) -> None:
        for name, path in zip(ctx.names, ctx.paths, strict=True):
            ctx.say(f"lm-eval {','.join(ctx.params.lm_eval)} on {name}")
            ctx.results[name]["lm_eval"] = run_lm_eval(path, ctx.params)
            free_memory()

    def markdown(self, report: dict) -> list[str]:
        found = {n: report["results"][n].get("lm_eval") for n in report["models"]}
        if not any(found.values()):
            return []
        lines = ["## lm-evaluation-harness", "", "| model | task | metric | value | stderr |", "|---|---|---|---|---|"]
        for model, tasks in found.items():
            for task, values in sorted((tasks or {}).items()):
                for key, value in values.items():
                    # lm-eval keys are "metric,filter" (acc,none); their stderr is "metric_stderr,filter".
                    if "," not in key or "_stderr," in key or not isinstance(value, (int, float)):
                        continue
                    metric, filt = key.split(",", 1)
                    err = values.get(f"{metric}_stderr,{filt}")
                    shown = metric if filt == "none" else f"{metric} ({filt})"
                    err_s = f"{err:.4f}" if isinstance(err, (int, float)) else "-"
                    lines.append(f"| {model} | {task} | {shown} | {value:.4f} | {err_s} |")
        return [*lines, ""]


def run_lm_eval(path: str, p) -> dict:
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

        # Indexing lm-eval's ~15k built-in task files takes about a minute: skip it when the local
        # directory defines every task asked for.
        local = TaskManager(include_path=p.lm_eval_include, include_defaults=False)
        if all(t in local.all_tasks for t in p.lm_eval):
            kwargs["task_manager"] = local
        else:
            kwargs["task_manager"] = TaskManager(include_path=p.lm_eval_include)
    from instructkit.models import pick_device

    # lm-eval's own default device is "cuda", which fails on a machine without one: pick it like our loaders.
    kwargs["device"] = pick_device(p.device)
    return lm_eval.simple_evaluate(**kwargs).get("results", {})
