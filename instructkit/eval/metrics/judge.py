"""An LLM judge at ``--judge-url`` (a server or a local model directory; ``eval/judge.py``): MT-Bench 1-10 grades of every model and
both-order pairwise verdicts against ``--reference``. Per-item judgments go to judgments.json; the
API key is read from the environment variable ``judge_api_key_env`` names, never stored."""

from __future__ import annotations

from instructkit.eval.base import EvalContext, Metric, fmt, fmt_ci, model_cells, model_table, register_metric

_PER_ITEM = ("ratings", "judgments", "verdicts", "first_order", "second_order")


def _summary(section: dict) -> dict:
    return {k: v for k, v in section.items() if k not in _PER_ITEM}


@register_metric("judge")
class JudgeMetric(Metric):
    """MT-Bench 1-10 grades, and both-order pairwise win rate vs the reference, by an LLM judge."""

    needs = frozenset({"judge", "generations"})
    uses = frozenset({"reference_model"})
    order = 80

    def compute(self, ctx: EvalContext) -> None:
        from instructkit.eval.judge import Judge, question_text
        from instructkit.generation import is_url, make_generator

        p, ref = ctx.params, ctx.reference
        remote = is_url(p.judge_url)
        mode = p.judge_mode if p.judge_mode != "auto" else ("generate" if remote else "logprobs")
        ctx.say(f"judge at {p.judge_url} ({mode})")
        if remote:
            gen = make_generator(
                p.judge_url, model=p.judge_model, api_key_env=p.judge_api_key_env, max_requests=p.judge_max_requests
            )
        else:
            gen = make_generator(
                p.judge_url, batch_size=p.batch_size, trust_remote_code=p.trust_remote_code, device=p.device
            )
        judge = Judge(gen, max_new_tokens=p.judge_max_new_tokens, seed=p.seed, mode=mode)
        questions = [question_text(it.prompt) for it in ctx.items]
        details: dict = {"single": {}, "pairwise": {}}
        try:
            for name in ctx.names:
                details["single"][name] = judge.grade(questions, ctx.texts[name])
                ctx.results[name]["judge_single"] = _summary(details["single"][name])
                if ref and name != ref:
                    details["pairwise"][name] = judge.pairwise(
                        questions, ctx.texts[name], ctx.texts[ref], n_boot=p.n_boot, seed=p.seed
                    )
                    ctx.results[name]["judge_pairwise"] = _summary(details["pairwise"][name])
        finally:
            if hasattr(gen, "close"):
                gen.close()
        # after the work: an HTTP judge's description includes requests sent and token usage
        ctx.sections["judge"] = gen.describe() | {"mode": mode}
        ctx.files["judgments.json"] = details

    def markdown(self, report: dict) -> list[str]:
        single, pair = model_cells(report, "judge_single"), model_cells(report, "judge_pairwise")
        rows = [
            ("MT-Bench grade (1-10)", [fmt(c.get("mean"), 2) for c in single]),
            ("unparseable grades", [fmt(c.get("unparseable")) for c in single]),
            ("format mass (logprobs mode)", [fmt(c.get("format_mass"), 2) for c in single]),
            (
                "pairwise win rate vs reference",
                [fmt_ci({"win_rate": c["win_rate_a"], "ci": c["ci"]}) if c else "-" for c in pair],
            ),
            ("pairwise errors", [fmt(c.get("errors")) for c in pair]),
            ("position consistency", [fmt(c.get("position_consistency")) for c in pair]),
        ]
        judge = report.get("judge") or {}
        where = f"at {judge['url']}" if judge.get("url") else "(local)"
        title = f"Judge `{judge.get('model')}` {where}, {judge.get('mode', 'generate')} mode"
        return model_table(title, report, rows)

    def headline(self, report: dict) -> dict[str, str]:
        return {
            f"judge grade {n}": fmt(c.get("mean"), 2)
            for n, c in zip(report["models"], model_cells(report, "judge_single"), strict=True)
            if c
        }
