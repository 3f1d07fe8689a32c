"""The ``split`` stage: train / val / test splits of a shard set, grouped so no prompt leaks across them.

The output is one shard set whose own records are the train split, with the other splits as sub-sets
beside ``rejected/`` (``OUT/vNNNN/val``, ``OUT/vNNNN/test``), each with its own manifest and
fingerprint, so ``sft OUT``, ``eval --data OUT/val`` or ``reward OUT/test`` name a split directly
(``OUT/val`` is the ``val`` split of OUT's newest version). Conservation counts every split:
``in == kept (train) + splits.val + splits.test``.

Records are grouped before they are assigned: by default by their normalised opening prompt (the
system and user turns before the first assistant reply, case-folded, whitespace collapsed), so two
records that ask the same thing, and every record cut from one multi-turn conversation (they share
its opening), land in the same split. Paraphrases are not caught: run ``dedupe`` first for those.
Groups are ordered by a seeded hash of their key (so the input order does not matter) and given to
test, then val, while a group brings that split closer to its share of records; the rest is train. Two passes over the input; memory holds one
16-byte digest and a count per group.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from instructkit.errors import ConfigError
from instructkit.params import SetOutput, recorded
from instructkit.registry import Result

_SPACE = re.compile(r"\s+")


@dataclass(kw_only=True)
class SplitParams(SetOutput):
    """Every knob of ``instructkit split``."""

    val: float = field(default=0.05, metadata={"help": "Validation share of records (below 1) or a record count."})
    test: float = field(default=0.05, metadata={"help": "Test share of records (below 1) or a record count."})
    seed: int = field(default=0, metadata={"help": "Seed of the group order (same seed, same splits)."})
    group_by: str = field(
        default="prompt",
        metadata={
            "help": "prompt: the normalised opening prompt (keeps a multi-turn conversation together); id: the "
            "record id; meta.KEY: a meta field such as meta.conversation_id (the prompt where it is missing)."
        },
    )

    def __post_init__(self) -> None:
        for name in ("val", "test"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.val < 1 and self.test < 1 and self.val + self.test >= 1:
            raise ConfigError(f"val + test must leave records for train, got {self.val} + {self.test}")
        if self.group_by not in ("prompt", "id") and not self.group_by.startswith("meta."):
            raise ConfigError(f"group_by must be prompt, id or meta.KEY, got {self.group_by!r}")
        super().__post_init__()


def opening_prompt(record: dict) -> list[dict]:
    """The messages before the first assistant turn (the whole prompt of a single-turn record)."""
    messages = record.get("messages") or record.get("prompt") or []
    first = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"), len(messages))
    return messages[:first]


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text.casefold()).strip()


def group_key(record: dict, group_by: str = "prompt") -> str:
    """The key two records must share to be kept in one split."""
    if group_by == "id":
        return "id:" + str(record.get("id"))
    if group_by.startswith("meta."):
        value = (record.get("meta") or {}).get(group_by[5:])
        if value is not None:
            return f"meta:{value}"
    opening = opening_prompt(record)
    return "prompt:" + "\n".join(f"{m.get('role')}: {normalise(m.get('content') or '')}" for m in opening)


def _digest(key: str, seed: int = 0) -> bytes:
    return hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=16).digest()


def _target(share: float, n: int) -> int:
    if share >= 1:
        return min(int(share), n)
    return max(1, round(share * n)) if share > 0 and n > 1 else 0


def assign(sizes: dict[bytes, int], n: int, val: float, test: float) -> dict[bytes, str]:
    """Groups (seeded digests, walked in sorted order) -> ``test``/``val``; unlisted groups are train.

    A group goes to a split while adding it brings that split closer to its target record count.
    """
    targets = {"test": _target(test, n), "val": _target(val, n)}
    filled = dict.fromkeys(targets, 0)
    out: dict[bytes, str] = {}
    for digest in sorted(sizes):
        size = sizes[digest]
        for name in ("test", "val"):
            have, want = filled[name], targets[name]
            if abs(have + size - want) < abs(have - want):
                out[digest] = name
                filled[name] += size
                break
    return out


def run(inputs: list[str], out: Path, p: SplitParams) -> Result:
    """Split the set ``inputs[0]`` into a train set with ``val/`` and ``test/`` sub-sets under ``out``."""
    from instructkit.progress import Progress
    from instructkit.shards import ShardSet, ShardWriter

    data = ShardSet(inputs[0])
    sizes: dict[bytes, int] = {}
    n = 0
    for record in data:
        d = _digest(group_key(record, p.group_by), p.seed)
        sizes[d] = sizes.get(d, 0) + 1
        n += 1
    where = assign(sizes, n, p.val, p.test)
    with ShardWriter(
        out, stage="split", params=recorded(p), inputs=[data], kind=data.kind, **p.writer_options()
    ) as writer:
        counts = {"train": 0, "val": 0, "test": 0}
        with Progress("split", n, unit="records") as bar:
            for record in data:
                writer.count_in()
                name = where.get(_digest(group_key(record, p.group_by), p.seed), "train")
                if name == "train":
                    writer.write(record)
                else:
                    writer.write_split(name, record)
                counts[name] += 1
                bar.advance()
        writer.stats["split"] = {"groups": len(sizes), "group_by": p.group_by, **counts}
    summary = {**counts, "groups": len(sizes)}
    summary.update({f"{k} set": str(writer.path / k) for k in ("val", "test") if counts[k]})
    return Result(writer.path, writer.manifest, summary)
