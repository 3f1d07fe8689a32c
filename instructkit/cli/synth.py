"""`instructkit synth`: instruction data from a generator (Self-Instruct, Evol-Instruct)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import CompressionOpt, ConfigOpt, ForceOpt, OutOpt, SetOpt, ShardSizeOpt, print_summary


def synth(
    seeds: Annotated[
        Path,
        typer.Option(
            "--seeds",
            help="Seed tasks: a shard set (sft or prompt records) or a "
            "Self-Instruct seed_tasks.jsonl (id, instruction, instances, is_classification).",
        ),
    ],
    generator: Annotated[
        str,
        typer.Option(
            "--generator",
            "-g",
            help="A local model directory (transformers, "
            "batched) or an OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1.",
        ),
    ],
    output: OutOpt,
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model", help="HTTP: the model name the server expects (default: the only one /v1/models lists)."
        ),
    ] = None,
    method: Annotated[Optional[str], typer.Option("--method", "-m", help="self-instruct (default) or evol.")] = None,
    num_instructions: Annotated[
        Optional[int],
        typer.Option("--num-instructions", "-n", help="Stop after this many accepted records (default 100)."),
    ] = None,
    rounds: Annotated[Optional[int], typer.Option("--rounds", help="Evol: evolution rounds (default 4).")] = None,
    max_requests: Annotated[
        Optional[int],
        typer.Option(
            "--max-requests",
            min=1,
            help="Requests this run may "
            "send (cache hits are free); the set holds what was done, and a re-run with the "
            "same cache continues.",
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="HTTP: requests in flight at once.")] = 4,
    temperature: Annotated[
        Optional[float], typer.Option("--temperature", help="Sampling temperature (default 1.0, as Alpaca).")
    ] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of task sampling and generation.")] = None,
    cache: Annotated[
        Optional[Path],
        typer.Option(
            "--cache",
            help="Request cache (JSONL; default OUTPUT/synth-cache.jsonl). Keep it to resume; delete it to start over.",
        ),
    ] = None,
    api_key_env: Annotated[
        str,
        typer.Option(
            "--api-key-env",
            help="HTTP: environment variable that holds the API key (sent as a Bearer token; never stored).",
        ),
    ] = "OPENAI_API_KEY",
    timeout: Annotated[float, typer.Option("--timeout", help="HTTP: seconds per request.")] = 120.0,
    max_retries: Annotated[
        int, typer.Option("--max-retries", min=0, help="HTTP: retries on 429, 5xx, timeouts, with exponential backoff.")
    ] = 3,
    device: Annotated[
        Optional[str], typer.Option("--device", help="Local model: cpu, cuda, cuda:1 (default: cuda when available).")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    shard_size: ShardSizeOpt = 100_000,
    compression: CompressionOpt = "none",
    force: ForceOpt = False,
) -> None:
    """Generate instruction data with a model: Self-Instruct (Wang et al. 2022, as Alpaca ran it) or
    Evol-Instruct (Xu et al. 2023).

    Writes an sft shard set; rejected candidates are in rejected/ with the rule and the measured value
    (e.g. the most similar instruction and its ROUGE-L). Every request is cached (--cache), so an
    interrupted or budget-limited run continues where it stopped. Precedence: --config < --set < flags;
    YAML keys are SynthParams fields (see docs/synth.md), e.g. instances, batch_size, judge.

    Example: instructkit synth --seeds seed_tasks.jsonl --generator http://127.0.0.1:8000/v1 --model my-model -o out/synth --method self-instruct --num-instructions 200 --max-requests 100
    """
    from instructkit import config as cfg
    from instructkit.generation import is_url, make_generator
    from instructkit.synth import SynthParams, default_cache_path, run_synth

    values = cfg.load_yaml(config) if config else {}
    values.update(cfg.parse_sets(set_))
    flags = {
        "method": method,
        "num_instructions": num_instructions,
        "rounds": rounds,
        "temperature": temperature,
        "seed": seed,
    }
    values.update({k: v for k, v in flags.items() if v is not None})
    params = cfg.build(SynthParams, values, source=str(config) if config else None, what="synth")
    if is_url(generator):
        gen = make_generator(
            generator,
            model=model,
            api_key_env=api_key_env,
            concurrency=concurrency,
            timeout=timeout,
            max_retries=max_retries,
        )
    else:
        gen = make_generator(generator, batch_size=params.batch_size, device=device)
    cache_path = cache or default_cache_path(output)
    try:
        writer, stats = run_synth(
            seeds,
            gen,
            output,
            params,
            cache_path=cache_path,
            max_requests=max_requests,
            force=force,
            shard_size=shard_size,
            compression=None if compression == "none" else compression,
        )
    finally:
        if hasattr(gen, "close"):
            gen.close()
    extra = {
        "method": params.method,
        "acceptance": f"{stats['accepted']}/{stats['candidates']} candidates ({stats['acceptance_rate']:.0%})",
        "requests": f"{stats['requests_sent']} sent, {stats['cache_hits']} from cache",
        "stopped by": stats["stopped"],
        "cache": str(cache_path),
    }
    print_summary("synth", writer.manifest, writer.path, extra=extra)
    if stats["stopped"] == "max_requests":
        from instructkit.cli.common import console

        console.print(
            "[yellow]request budget spent:[/] run the same command again to continue "
            f"(finished requests are replayed from {cache_path})"
        )
    typer.echo(str(writer.path))
