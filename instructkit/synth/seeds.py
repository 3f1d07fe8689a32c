"""Seed tasks for synth: from a shard set, or from a Self-Instruct seed-task file.

The Self-Instruct seed format (Wang et al. 2022; the 175 seeds Alpaca also used) is JSON Lines with
``id``, ``name``, ``instruction``, ``instances: [{input, output}]`` and ``is_classification``; the
first instance is the example, as in Alpaca's ``generate_instruction.py``. Alpaca rows
(``instruction``, ``input``, ``output``) are read too. From a shard set, an ``sft`` record gives its
last user turn and its response; a ``prompt`` record gives its last user turn (no output: fine for
Evol-Instruct, which needs only instructions).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from instructkit.errors import InputError


@dataclass
class SeedTask:
    """One seed: an instruction with an example input and output."""

    id: str
    instruction: str
    input: str = ""
    output: str = ""
    is_classification: bool | None = None

    def as_example(self) -> dict:
        return {"instruction": self.instruction, "input": self.input, "output": self.output}


def _from_row(row: object, file: str, line: int) -> SeedTask:
    if not isinstance(row, dict) or not isinstance(row.get("instruction"), str) or not row["instruction"].strip():
        raise InputError(
            "a seed task needs a non-empty 'instruction' string",
            file=file,
            line=line,
            hint="Self-Instruct format: {id, instruction, instances: [{input, output}], is_classification}",
        )
    inp, out = row.get("input", ""), row.get("output", "")
    if "instances" in row:
        instances = row["instances"]
        if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
            raise InputError("'instances' must be a non-empty list of {input, output}", file=file, line=line)
        inp, out = instances[0].get("input", ""), instances[0].get("output", "")
    cls = row.get("is_classification")
    return SeedTask(
        id=str(row.get("id") or f"seed_{line}"),
        instruction=row["instruction"].strip(),
        input=str(inp or ""),
        output=str(out or ""),
        is_classification=bool(cls) if cls is not None else None,
    )


def _from_file(path: Path) -> list[SeedTask]:
    file = str(path)
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", file=file) from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            rows = json.loads(text)
        except ValueError as exc:
            raise InputError(f"invalid JSON: {exc}", file=file) from None
        return [_from_row(r, file, i) for i, r in enumerate(rows, 1)]
    seeds = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InputError(f"invalid JSON line: {exc}", file=file, line=number) from None
        seeds.append(_from_row(row, file, number))
    return seeds


def _from_set(path: Path) -> tuple[list[SeedTask], object]:
    from instructkit.records import prompt_of, response_of
    from instructkit.shards import ShardSet

    shard_set = ShardSet(path)
    seeds = []
    for rec in shard_set:
        if "judgments" in rec or "responses" in rec:
            continue
        users = [m for m in prompt_of(rec) if m["role"] == "user"]
        if not users or not (users[-1]["content"] or "").strip():
            continue
        output = response_of(rec) if ("messages" in rec or "chosen" in rec) else ""
        seeds.append(SeedTask(id=str(rec["id"]), instruction=users[-1]["content"].strip(), output=output))
    return seeds, shard_set


def load_seeds(path: str | os.PathLike) -> tuple[list[SeedTask], object | None]:
    """Seeds from a shard set directory or a seed-task file; also returns the ShardSet (or None).

    Raises:
        InputError: for a missing path, an unreadable file or a row without an instruction.
    """
    path = Path(path)
    if path.is_file():
        seeds, shard_set = _from_file(path), None
    elif path.is_dir():
        seeds, shard_set = _from_set(path)
    else:
        raise InputError(
            "no such seed set or seed file",
            file=str(path),
            hint="pass a shard set directory or a Self-Instruct seed_tasks.jsonl",
        )
    if not seeds:
        raise InputError("no seed tasks found", file=str(path), hint="the seeds need at least one instruction")
    return seeds, shard_set
