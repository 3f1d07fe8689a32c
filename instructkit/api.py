"""The Python API: one function per stage, the same params as the command line.

Each function takes the stage's inputs, its output and the stage's Params fields as keyword
arguments (the names ``instructkit STAGE --list-params`` prints), runs the stage through the
registry exactly as the CLI and recipes do, and returns the written directory as a ``Path``
(a shard-set version ``.../v0003``, or a model / report / tasks directory)::

    import instructkit

    raw = instructkit.ingest(["data/samples/alpaca.json"], "out/ingest", on_error="skip")
    deduped = instructkit.dedupe(raw, "out/dedupe", mode=["exact", "minhash"], threshold=0.7)
    kept = instructkit.filter(deduped, "out/filter", config="recipes/filters.yaml")
    for record in instructkit.read(kept):
        ...
    ds = instructkit.to_dataset(kept)          # a datasets.Dataset

``config=`` names a YAML file like ``--config``; keyword arguments override it. A bad value raises
a subclass of ``instructkit.InstructkitError`` (never ``sys.exit``). Data stages import neither
torch nor transformers.

``instructkit.ingest``, ``dedupe``, ``synth``, ``eval`` and ``generate`` share their names with the
modules that implement them: those packages are callable (``StageModule``), so ``instructkit.dedupe(...)`` runs
the stage and ``instructkit.dedupe.DedupeParams`` is still the class.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PathLike = str | os.PathLike
Inputs = PathLike | list[PathLike] | tuple[PathLike, ...]


def run_stage(
    stage: str, inputs: Inputs | None, out: PathLike, *, config: PathLike | None = None, **params: Any
) -> Path:
    """Run the registered ``stage`` and return the directory it wrote (the generic form of the functions below)."""
    from instructkit import registry

    if inputs is None:
        ins: list = []
    elif isinstance(inputs, (str, os.PathLike)):
        ins = [inputs]
    else:
        ins = list(inputs)
    return registry.run_stage(stage, [str(i) for i in ins], out, config=config, flags=params).path


def ingest(paths: Inputs, out: PathLike, **params: Any) -> Path:
    """Read files in any supported format into a canonical shard set (``instructkit ingest``)."""
    return run_stage("ingest", paths, out, **params)


def dedupe(input: PathLike, out: PathLike, **params: Any) -> Path:
    """Exact, MinHash and semantic deduplication (``instructkit dedupe``)."""
    return run_stage("dedupe", input, out, **params)


def filter(input: PathLike, out: PathLike, **params: Any) -> Path:  # noqa: A001 - the stage's name
    """Keep or drop records by configured rules (``instructkit filter``)."""
    return run_stage("filter", input, out, **params)


def annotate_export(input: PathLike, out: PathLike, **params: Any) -> Path:
    """Write Label Studio tasks and a labeling config (``instructkit annotate-export``)."""
    return run_stage("annotate-export", input, out, **params)


def annotate_import(exports: Inputs, out: PathLike, **params: Any) -> Path:
    """Turn Label Studio exports into feedback, preference and sft sets (``instructkit annotate-import``)."""
    return run_stage("annotate-import", exports, out, **params)


def synth(seeds: Inputs, out: PathLike, **params: Any) -> Path:
    """Generate instructions from seed tasks, Self-Instruct or Evol-Instruct style (``instructkit synth``)."""
    return run_stage("synth", seeds, out, **params)


def sft(inputs: Inputs, out: PathLike, **params: Any) -> Path:
    """Supervised fine-tuning (``instructkit sft``); ``model=`` names the base model."""
    return run_stage("sft", inputs, out, **params)


def reward(inputs: Inputs, out: PathLike, **params: Any) -> Path:
    """Train a reward model (``instructkit reward``); ``model=`` names the base model."""
    return run_stage("reward", inputs, out, **params)


def rlhf(inputs: Inputs, out: PathLike, **params: Any) -> Path:
    """Align a policy with ``algo=`` ppo, grpo, rloo, dpo, kto, ... (``instructkit rlhf``)."""
    return run_stage("rlhf", inputs, out, **params)


def eval(data: Inputs, out: PathLike, **params: Any) -> Path:  # noqa: A001 - the stage's name
    """Evaluate ``model=[...]`` on shard sets and write a report (``instructkit eval``)."""
    return run_stage("eval", data, out, **params)


def mix(inputs: Inputs, out: PathLike, **params: Any) -> Path:
    """Mix shard sets with ``weights=``, ``caps=``, ``size=`` and ``seed=`` (``instructkit mix``)."""
    return run_stage("mix", inputs, out, **params)


def split(input: PathLike, out: PathLike, **params: Any) -> Path:
    """Split a set into train and ``val/``, ``test/`` sub-sets, grouped by prompt (``instructkit split``)."""
    return run_stage("split", input, out, **params)


def quality(input: PathLike, out: PathLike, **params: Any) -> Path:
    """Measure a set's diversity, clarity, accuracy and consistency into a report (``instructkit quality``)."""
    return run_stage("quality", input, out, **params)


def read(path: PathLike) -> Iterator[dict]:
    """Iterate the records of a shard set (a ``vNNNN`` directory, or its parent for the newest)."""
    from instructkit.shards import ShardSet

    yield from ShardSet(path)


def to_dataset(path: PathLike):
    """A shard set as a ``datasets.Dataset`` (its part files, loaded with the ``json`` builder)."""
    from datasets import load_dataset

    from instructkit.shards import ShardSet

    files = [str(p) for p in ShardSet(path).parts]
    if not files:
        from datasets import Dataset

        return Dataset.from_list([])
    return load_dataset("json", data_files=files, split="train")


class StageModule(types.ModuleType):
    """A package that is also its stage's entry point: ``instructkit.dedupe(input, out, **params)``."""

    _stage: str = ""

    def __call__(self, inputs: Inputs, out: PathLike, **params: Any) -> Path:
        return run_stage(self._stage, inputs, out, **params)


def callable_package(module_name: str, stage: str) -> None:
    """Make the package ``module_name`` callable as the stage ``stage`` (see ``StageModule``)."""
    module = sys.modules[module_name]
    module.__class__ = StageModule
    module._stage = stage  # type: ignore[attr-defined]
