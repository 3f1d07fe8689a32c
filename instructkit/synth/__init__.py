"""``instructkit synth``: instruction data from a generator (Self-Instruct and Evol-Instruct).

``run_synth`` ties the parts together: seeds (``seeds.py``), a generator behind the request cache
and budget (``engine.py``, ``cache.py``), one of the two methods (``self_instruct.py``, ``evol.py``)
and a ``ShardWriter`` with ``conserving=False`` (synth creates records). Candidates that fail a rule
land in ``rejected/`` with the reason and the measured value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from instructkit.synth.common import SynthParams, SynthProgress
from instructkit.synth.seeds import SeedTask, load_seeds

__all__ = ["SynthParams", "SeedTask", "load_seeds", "run_synth", "default_cache_path"]


def default_cache_path(output: str | os.PathLike) -> Path:
    """``synth-cache.jsonl`` next to the versions of the output (``-o out/synth`` -> ``out/synth/``)."""
    from instructkit.shards import VERSION_RE

    out = Path(output)
    parent = out.parent if VERSION_RE.match(out.name) else out
    return parent / "synth-cache.jsonl"


def run_synth(
    seeds_path: str | os.PathLike,
    generator: Any,
    output: str | os.PathLike,
    params: SynthParams,
    *,
    cache_path: str | os.PathLike | None = None,
    max_requests: int | None = None,
    force: bool = False,
    shard_size: int = 100_000,
    compression: str | None = None,
    extra_params: dict | None = None,
) -> tuple[Any, dict]:
    """Run one synth stage and commit a shard set.

    Args:
        seeds_path: A shard set or a Self-Instruct seed-task file.
        generator: An ``instructkit.generation`` generator (or anything with the same ``generate``).
        output: Output shard set path (parent or explicit ``vNNNN``).
        params: The method's knobs.
        cache_path: The request cache (default: ``default_cache_path(output)``).
        max_requests: Requests this run may send (cache hits are free); None: no limit.
        force, shard_size, compression: As for every stage.
        extra_params: More values to record in the manifest's params (e.g. the generator spec).

    Returns:
        The committed writer (``.path``, ``.manifest``) and the run's statistics.
    """
    from dataclasses import asdict

    from instructkit.shards import ShardWriter
    from instructkit.synth.cache import RequestCache
    from instructkit.synth.engine import Engine
    from instructkit.synth.evol import EvolInstruct
    from instructkit.synth.self_instruct import SelfInstruct

    seeds, seed_set = load_seeds(seeds_path)
    cache_path = Path(cache_path) if cache_path is not None else default_cache_path(output)
    with RequestCache(cache_path) as cache:
        engine = Engine(generator, cache, max_requests=max_requests)
        manifest_params = {
            **asdict(params),
            "seeds": str(seeds_path),
            "generator": engine.ident,
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
            shard_size=shard_size,
            compression=compression,
            force=force,
            conserving=False,
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
