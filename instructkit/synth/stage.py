"""The ``synth`` stage: seeds + a generator -> an ``sft`` shard set (Self-Instruct or Evol-Instruct).

``run`` is the registered stage (``instructkit synth``, recipes, ``run_stage("synth", ...)``): it
builds the generator from ``SynthParams`` and calls ``run_synth``, which ties the parts together:
seeds (``seeds.py``), the generator behind the request cache and budget (``engine.py``,
``cache.py``), one of the two methods (``self_instruct.py``, ``evol.py``) and a ``ShardWriter`` with
``conserving=False`` (synth creates records). Candidates that fail a rule land in ``rejected/`` with
the reason and the measured value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError
from instructkit.params import recorded
from instructkit.registry import Result
from instructkit.synth.common import SynthParams, SynthProgress
from instructkit.synth.seeds import load_seeds


def default_cache_path(output: str | os.PathLike) -> Path:
    """``synth-cache.jsonl`` next to the versions of the output (``-o out/synth`` -> ``out/synth/``)."""
    from instructkit.shards import VERSION_RE

    out = Path(output)
    parent = out.parent if VERSION_RE.match(out.name) else out
    return parent / "synth-cache.jsonl"


def run(inputs: list[str], out: Path, p: SynthParams) -> Result:
    """Generate from the seeds ``inputs[0]`` with ``p.generator`` into a new version under ``out``."""
    from instructkit.generation import is_url, make_generator

    if not p.generator:
        raise ConfigError(
            "synth needs 'generator'", hint="pass --generator MODEL_DIR_OR_URL (or generator: ... in --config)"
        )
    if is_url(p.generator):
        gen = make_generator(
            p.generator,
            model=p.model,
            api_key_env=p.api_key_env,
            concurrency=p.concurrency,
            timeout=p.timeout,
            max_retries=p.max_retries,
        )
    else:
        gen = make_generator(p.generator, batch_size=p.batch_size, device=p.device)
    try:
        writer, stats = run_synth(inputs[0], gen, out, p)
    finally:
        if hasattr(gen, "close"):
            gen.close()
    cache = writer.manifest["params"]["cache"]
    summary = {
        "method": p.method,
        "acceptance": f"{stats['accepted']}/{stats['candidates']} candidates ({stats['acceptance_rate']:.0%})",
        "requests": f"{stats['requests_sent']} sent, {stats['cache_hits']} from cache",
        "stopped by": stats["stopped"],
        "cache": cache,
    }
    if stats["stopped"] == "max_requests":
        summary["stopped by"] = "max_requests (request budget spent)"
        summary["to continue"] = "run the same command again: finished requests are replayed from the cache"
    return Result(writer.path, writer.manifest, summary)


def run_synth(
    seeds_path: str | os.PathLike,
    generator: Any,
    output: str | os.PathLike,
    params: SynthParams,
    *,
    cache_path: str | os.PathLike | None = None,
    max_requests: int | None = None,
    extra_params: dict | None = None,
) -> tuple[Any, dict]:
    """Run one synth stage with a ready generator and commit a shard set.

    Args:
        seeds_path: A shard set or a Self-Instruct seed-task file.
        generator: An ``instructkit.generation`` generator (or anything with the same ``generate``).
        output: Output shard set path (parent or explicit ``vNNNN``).
        params: The stage's knobs (``generator`` and the transport fields are not read here).
        cache_path: Overrides ``params.cache``; default ``default_cache_path(output)``.
        max_requests: Overrides ``params.max_requests`` (requests this run may send; cache hits are free).
        extra_params: More values to record in the manifest's params.

    Returns:
        The committed writer (``.path``, ``.manifest``) and the run's statistics.
    """
    from instructkit.shards import ShardWriter
    from instructkit.synth.cache import RequestCache
    from instructkit.synth.engine import Engine
    from instructkit.synth.evol import EvolInstruct
    from instructkit.synth.self_instruct import SelfInstruct

    seeds, seed_set = load_seeds(seeds_path)
    cache_path = cache_path if cache_path is not None else params.cache
    cache_path = Path(cache_path) if cache_path is not None else default_cache_path(output)
    max_requests = max_requests if max_requests is not None else params.max_requests
    with RequestCache(cache_path) as cache:
        engine = Engine(generator, cache, max_requests=max_requests)
        manifest_params = {
            **recorded(params),
            "seeds": str(seeds_path),
            "generator": engine.ident,  # backend, model and URL: never a key
            "cache": str(cache_path),
            "max_requests": max_requests,
            **(extra_params or {}),
        }
        with ShardWriter(
            output,
            stage="synth",
            params=manifest_params,
            inputs=[seed_set] if seed_set else [],
            kind="sft",
            conserving=False,
            **params.writer_options(),
        ) as writer:
            cls = SelfInstruct if params.method == "self-instruct" else EvolInstruct
            runner = cls(seeds, engine, writer, params)
            total = (
                params.num_instructions
                if params.method == "self-instruct"
                else min(params.num_instructions, params.rounds * len(seeds))
            )
            with SynthProgress(params.method, total) as progress:
                stats = runner.run(progress)
            stats = {"seeds": len(seeds), **stats, **engine.stats()}
            writer.stats.update(synth=stats)
    return writer, stats
