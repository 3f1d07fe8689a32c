"""`instructkit eval`: perplexity, generation metrics, reward-model win rates, an LLM judge, a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import ForceOpt, console


def eval_(
    model: Annotated[
        list[str],
        typer.Option(
            "--model", "-m", help="Model directory to evaluate (repeatable: every model gets a column in the report)."
        ),
    ],
    data: Annotated[
        list[str],
        typer.Option(
            "--data",
            "-d",
            help="Shard set (repeatable): sft sets give perplexity, "
            "prompts and references; prompt sets give prompts; preference sets "
            "give prompts and reward-model accuracy.",
        ),
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Report directory to write (refused if it exists, unless --force).")
    ],
    reference: Annotated[
        Optional[str],
        typer.Option(
            "--reference", "-r", help="Reference model: win rates and pairwise judging compare each --model with it."
        ),
    ] = None,
    reward_model: Annotated[
        Optional[str],
        typer.Option(
            "--reward-model",
            help="Reward model (one-output sequence "
            "classifier, e.g. from 'instructkit reward') that scores "
            "generations and preference pairs.",
        ),
    ] = None,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", min=1, help="Generation length cap per prompt (tokens).")
    ] = 128,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Batch size for generation, perplexity and reward scoring.")
    ] = 8,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed for the bootstrap intervals and the judge (generation is greedy).")
    ] = 0,
    max_examples: Annotated[
        Optional[int], typer.Option("--max-examples", min=1, help="Use at most this many records of each --data set.")
    ] = None,
    n_boot: Annotated[int, typer.Option("--n-boot", min=1, help="Bootstrap resamples for 95% intervals.")] = 1000,
    tie_margin: Annotated[
        float, typer.Option("--tie-margin", min=0.0, help="Reward differences up to this count as ties in win rates.")
    ] = 0.0,
    judge_url: Annotated[
        Optional[str],
        typer.Option(
            "--judge-url", help="OpenAI-compatible server of a judge model (MT-Bench grading and both-order pairwise)."
        ),
    ] = None,
    judge_model: Annotated[
        Optional[str],
        typer.Option("--judge-model", help="The judge's model name on that server (default: the only one it lists)."),
    ] = None,
    judge_api_key_env: Annotated[
        str,
        typer.Option(
            "--judge-api-key-env",
            help="Environment variable holding the judge's API key (read at request time, never written).",
        ),
    ] = "OPENAI_API_KEY",
    judge_max_requests: Annotated[
        Optional[int], typer.Option("--judge-max-requests", min=1, help="Request budget for the judge (retries count).")
    ] = None,
    judge_max_new_tokens: Annotated[
        int, typer.Option("--judge-max-new-tokens", min=1, help="Judgment length (tokens).")
    ] = 512,
    lm_eval: Annotated[
        Optional[str],
        typer.Option(
            "--lm-eval",
            help="Comma-separated lm-evaluation-harness tasks to run on each model (needs: pip install lm-eval).",
        ),
    ] = None,
    lm_eval_include: Annotated[
        Optional[str], typer.Option("--lm-eval-include", help="Directory of local lm-eval task files (offline).")
    ] = None,
    trust_remote_code: Annotated[
        bool, typer.Option("--trust-remote-code", help="Allow models' own Python code (off: it runs arbitrary code).")
    ] = False,
    device: Annotated[
        Optional[str], typer.Option("--device", help="cpu, cuda or cuda:N (default: cuda when available).")
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Evaluate models on shard sets and write a report (report.json, report.md, plots).

    Perplexity on sft sets (assistant tokens); greedy generation on every prompt; BLEU, ROUGE-L and exact
    match against sft references; reward-model scores, win rates against --reference (ties, bootstrap
    intervals, length-controlled) and RewardBench accuracy on preference sets; generation lengths; an
    optional LLM judge. See docs/eval.md.

    Example: instructkit eval --model out/dpo --model out/ppo --reference out/sft --reward-model out/rm --data out/heldout -o out/report

    Example: instructkit eval --model out/sft --data out/heldout -o out/report --judge-url http://127.0.0.1:8000
    """
    from instructkit.eval.runner import EvalParams, evaluate

    params = EvalParams(
        models=model,
        data=data,
        reference=reference,
        reward_model=reward_model,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        seed=seed,
        max_examples=max_examples,
        n_boot=n_boot,
        tie_margin=tie_margin,
        judge_url=judge_url,
        judge_model=judge_model,
        judge_api_key_env=judge_api_key_env,
        judge_max_requests=judge_max_requests,
        judge_max_new_tokens=judge_max_new_tokens,
        lm_eval=lm_eval,
        lm_eval_include=lm_eval_include,
        trust_remote_code=trust_remote_code,
        device=device,
    )
    out = evaluate(params, output, force=force, progress=lambda msg: console.print(f"[dim]eval:[/] {msg}"))
    console.print(f"report: {out / 'report.md'}")
    typer.echo(str(out))
