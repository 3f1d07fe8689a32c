"""The ``mix`` stage: several shard sets into one, with weights, per-source caps and a seed.

How many records each source gives (LLaMA-Factory's ``interleave_probs`` with ``first_exhausted``,
``max_samples``, without repeating a record):

- ``caps`` bound each source first (``max_samples`` per source);
- without ``weights`` every source gives all it has (after its cap), unless ``size`` asks for fewer,
  which scales every source down in proportion;
- with ``weights`` (relative shares of the output, e.g. 0.7,0.3) the output is the largest mix in those
  proportions that no source runs out of (or ``size`` records, when smaller).

Which records a source gives is a seeded uniform sample of it. The sources are read side by side and
interleaved at random (each next record comes from a source in proportion to what it has left), so
the output is shuffled across sources with memory bounded by the sampled indices. Every kept record
gets ``meta.mix = {"set", "fingerprint", "index"}``; every record not taken is kept in ``rejected/``
with reason ``not_sampled`` (a copy of the unsampled data: the price of ``in == kept + rejected``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from instructkit.errors import ConfigError
from instructkit.params import SetOutput, recorded
from instructkit.registry import Result


@dataclass(kw_only=True)
class MixParams(SetOutput):
    """Every knob of ``instructkit mix``."""

    weights: list[float] | None = field(
        default=None,
        metadata={"help": "Relative share of each input in the output, in input order (e.g. 0.7,0.3); default: all."},
    )
    caps: list[int] | None = field(
        default=None,
        metadata={"help": "Most records taken from each input, in input order (0: no cap)."},
    )
    size: int | None = field(default=None, metadata={"help": "Records in the output at most."})
    seed: int = field(default=0, metadata={"help": "Seed of the sample and the interleaving."})

    def __post_init__(self) -> None:
        if self.weights is not None and (any(w < 0 for w in self.weights) or not any(w > 0 for w in self.weights)):
            raise ConfigError(f"weights must be >= 0 with at least one above 0, got {self.weights}")
        if self.caps is not None and any(c < 0 for c in self.caps):
            raise ConfigError(f"caps must be >= 0, got {self.caps}")
        if self.size is not None and self.size < 0:
            raise ConfigError(f"size must be >= 0, got {self.size}")
        super().__post_init__()


def plan(lengths: list[int], *, weights: list[float] | None, caps: list[int] | None, size: int | None) -> list[int]:
    """Records to take from each source (see the module docstring)."""
    n = len(lengths)
    for name, values in (("weights", weights), ("caps", caps)):
        if values is not None and len(values) != n:
            raise ConfigError(f"{len(values)} {name} for {n} inputs", hint=f"give one {name[:-1]} per input, in order")
    avail = [min(length, c) if caps and c else length for length, c in zip(lengths, caps or [0] * n, strict=True)]
    if weights is None:
        total = sum(avail)
        if size is None or size >= total:
            return avail
        take = [math.floor(a * size / total) for a in avail]
        target, eligible = size, [True] * n
    else:
        share = [w / sum(weights) for w in weights]
        # The largest total T with T * share_i <= avail_i for every source with a share.
        most = min(a / s for a, s in zip(avail, share, strict=True) if s > 0)
        total = min(most, size) if size is not None else most
        take = [min(a, math.floor(total * s + 1e-9)) for a, s in zip(avail, share, strict=True)]
        target, eligible = math.floor(total + 1e-9), [s > 0 for s in share]
    # Hand out what flooring left (fewer than one record per source) to the sources with most room.
    for i in sorted(range(n), key=lambda i: -(avail[i] - take[i])):
        if eligible[i]:
            take[i] += max(0, min(avail[i] - take[i], target - sum(take)))
    return take


def run(inputs: list[str], out: Path, p: MixParams) -> Result:
    """Mix the sets ``inputs`` into one new version under ``out``."""
    from instructkit.progress import Progress
    from instructkit.shards import ShardSet, ShardWriter

    sets = [ShardSet(i) for i in inputs]
    lengths = [len(s) for s in sets]
    take = plan(lengths, weights=p.weights, caps=p.caps, size=p.size)
    rng = random.Random(p.seed)
    chosen = [set(rng.sample(range(length), k)) for length, k in zip(lengths, take, strict=True)]
    streams = [iter(s) for s in sets]
    left = list(lengths)
    index = [0] * len(sets)
    kinds = {s.kind for s in sets}
    params = {**recorded(p), "inputs": [str(s.path) for s in sets]}
    with ShardWriter(
        out,
        stage="mix",
        params=params,
        inputs=sets,
        kind=next(iter(kinds)) if len(kinds) == 1 else None,
        **p.writer_options(),
    ) as writer:
        with Progress("mix", sum(lengths), unit="records") as bar:
            while any(left):
                i = rng.choices(range(len(sets)), weights=left)[0]
                record = next(streams[i])
                source = {"set": str(sets[i].path), "fingerprint": sets[i].fingerprint, "index": index[i]}
                writer.count_in()
                if index[i] in chosen[i]:
                    record = {**record, "meta": {**(record.get("meta") or {}), "mix": source}}
                    writer.write(record)
                else:
                    writer.reject(record, "not_sampled", source=source["set"])
                index[i] += 1
                left[i] -= 1
                bar.advance()
        writer.stats["mix"] = {
            "sources": [
                {"set": str(s.path), "records": n, "taken": k} for s, n, k in zip(sets, lengths, take, strict=True)
            ]
        }
    summary = {f"from {s.path}": f"{k:,} of {n:,}" for s, n, k in zip(sets, lengths, take, strict=True)}
    return Result(writer.path, writer.manifest, summary)
