"""``instructkit export SET --to llamafactory|axolotl|torchtune -o DIR``: data plus the config each tool reads.

One module per target (``export/NAME.py``) with ``KINDS`` (the record shapes it takes), ``row(shape, record)``
(one output row) and ``config(name, file, shape, rows) -> {file name: content}`` (the ``dataset_info.json``
entry or the YAML snippet that tool documents). Shapes: ``sft`` (``messages``), ``preference`` (prompt,
chosen, rejected) and ``kto`` (prompt, completion, label: TRL's unpaired preference).

The data file is ``DIR/NAME.jsonl``; ``DIR/NAME.export.json`` records the source set's fingerprint.
Exporting into a directory that already holds other datasets (LLaMA-Factory's ``data/``) is fine: its
``dataset_info.json`` gets our entry added, the others are kept.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from instructkit.errors import ConfigError, InputError
from instructkit.jsonl import dumps
from instructkit.registry import Result

TARGETS = ("llamafactory", "axolotl", "torchtune")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(kw_only=True)
class ExportParams:
    """Knobs of ``export``."""

    to: Literal["llamafactory", "axolotl", "torchtune"] = field(
        metadata={"help": "The tool to export for (its data shape and its config file)."}
    )
    name: str | None = field(
        default=None,
        metadata={"help": "Dataset name (file NAME.jsonl, the dataset_info.json key). Default: <stage>_<version>."},
    )
    force: bool = field(default=False, metadata={"help": "Replace DIR/NAME.jsonl and its entry if they exist."})

    def __post_init__(self) -> None:
        if self.name is not None and not _NAME_RE.match(self.name):
            raise ConfigError(f"invalid dataset name {self.name!r}", hint="letters, digits, '.', '_' and '-'")


def shape_of(record: dict) -> str:
    """``sft``, ``preference`` or ``kto`` for a record; an InputError for shapes no target trains on."""
    if "chosen" in record and "rejected" in record:
        return "preference"
    if "messages" in record:
        return "sft"
    if "completion" in record and "label" in record:
        return "kto"
    kind = "feedback" if "judgments" in record or "responses" in record else "prompt"
    hint = {
        "feedback": "binarize it first: instructkit annotate-import ... --binarize best-worst",
        "prompt": "prompt-only sets feed online RL (instructkit rlhf --algo grpo); generate responses first",
    }[kind]
    raise InputError(f"cannot export {kind} records: these tools take sft, preference or kto data", hint=hint)


def split_preference(record: dict) -> tuple[list[dict], dict, dict]:
    """``(prompt messages, chosen message, rejected message)``; an implicit prompt is taken from ``chosen``."""
    prompt, chosen, rejected = record.get("prompt"), record["chosen"], record["rejected"]
    if isinstance(chosen, list) and not prompt:
        prompt, chosen, rejected = chosen[:-1], chosen[-1:], rejected[-1:]
    if not (isinstance(chosen, list) and len(chosen) == 1 and isinstance(rejected, list) and len(rejected) == 1):
        raise InputError(
            f"record {record.get('id')}: chosen and rejected must be one assistant message each",
            hint="multi-turn continuations cannot be expressed as LLaMA-Factory/axolotl single-message answers",
        )
    return list(prompt or []), chosen[0], rejected[0]


def target(name: str):
    """The module ``instructkit.export.NAME``."""
    if name not in TARGETS:
        raise ConfigError(f"unknown export target {name!r}", hint=f"use one of {', '.join(TARGETS)}")
    return importlib.import_module(f"instructkit.export.{name}")


def _default_name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{path.parent.name}_{path.name}")


def run(inputs: list[str], out: Path, p: ExportParams) -> Result:
    """Write ``out/NAME.jsonl`` in the target's shape and its config file(s) beside it."""
    from instructkit.shards import ShardSet

    src = ShardSet(inputs[0])
    mod = target(p.to)
    name = p.name or _default_name(src.path)
    data = out / f"{name}.jsonl"
    if data.exists() and not p.force:
        raise InputError("this export already exists", file=str(data), hint="pass --force, or --name OTHER")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the export directory: {exc.strerror}", file=str(out)) from None
    shape, n = None, 0
    tmp = data.with_name(f".{data.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            for record in src:
                s = shape_of(record)
                if shape is None:
                    if s not in mod.KINDS:
                        raise InputError(
                            f"{p.to} export does not take {s} data",
                            file=str(src.path),
                            hint=f"{p.to} takes: {', '.join(mod.KINDS)}",
                        )
                    shape = s
                elif s != shape:
                    raise InputError(f"mixed set: {shape} and {s} records", file=str(src.path), hint="filter by kind")
                fh.write(dumps(mod.row(shape, record)))  # one line, newline included
                n += 1
        if shape is None:
            raise InputError("the set holds no records", file=str(src.path))
        files = mod.config(name, data, shape, out)
        os.replace(tmp, data)
    finally:
        tmp.unlink(missing_ok=True)
    for fname, content in files.items():
        text = content if isinstance(content, str) else json.dumps(content, indent=2, ensure_ascii=False) + "\n"
        (out / fname).write_text(text, encoding="utf-8")
    record = {"source": str(src.path), "fingerprint": src.fingerprint, "to": p.to, "shape": shape, "records": n}
    (out / f"{name}.export.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    summary = {"records": n, "shape": shape, "data": str(data), "config": ", ".join(str(out / f) for f in files)}
    return Result(path=out, manifest=record, summary=summary)


# `instructkit.export(set, out, to="llamafactory")` runs the stage; the package's names stay importable.
__import__("instructkit.api").api.callable_package(__name__, "export")
