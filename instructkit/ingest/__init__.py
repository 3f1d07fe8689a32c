"""``ingest``: many input formats to one schema. Each format is one module in this package.

Adding a format: write ``instructkit/ingest/NAME.py`` with a ``@reader("NAME")`` class; it is
discovered automatically.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from instructkit.errors import InputError, RecordError
from instructkit.ingest.base import Reader
from instructkit.ingest.sources import RowError, expand, rows
from instructkit.shards import ShardWriter
from instructkit.stage import REGISTRY

_INTERNAL = {"base", "sources"}
DETECT_ROWS = 5  # rows looked at per file to detect its format


def formats() -> dict[str, type[Reader]]:
    """All registered input formats, by name."""
    for mod in pkgutil.iter_modules(__path__):
        if mod.name not in _INTERNAL:
            importlib.import_module(f"{__name__}.{mod.name}")
    return dict(REGISTRY.get("format", {}))


def parse_maps(items: list[str] | None) -> dict[str, str]:
    """``["instruction=question"]`` -> ``{"question": "instruction"}`` (source column -> our field)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--map {item!r} is not dst=src", hint="for example: --map instruction=question")
        dst, src = (s.strip() for s in item.split("=", 1))
        out[src] = dst
    return out


def apply_map(row: Any, mapping: dict[str, str]) -> Any:
    if not mapping or not isinstance(row, dict):
        return row
    return {mapping.get(k, k): v for k, v in row.items()}


def detect(sample: list[dict], path: Path, readers: dict[str, Reader]) -> Reader:
    """The one format whose ``detect`` accepts the sample rows; a clear error when none or several do."""
    dict_rows = [r for r in sample if isinstance(r, dict)]
    if not dict_rows:
        raise InputError("cannot detect the format: no JSON objects in the first rows", file=str(path),
                         hint="pass --format NAME")
    # Score by how many sample rows each format accepts: one bad row must not hide the format.
    scores = {name: sum(1 for row in dict_rows if r.detect(row)) for name, r in readers.items()}
    top_score = max(scores.values())
    if top_score == 0:
        keys = sorted({str(k) for row in dict_rows for k in row})
        raise InputError(f"cannot detect the format from the fields {keys}", file=str(path),
                         hint=f"pass --format ({', '.join(sorted(readers))}) or rename fields with --map dst=src")
    matches = [readers[name] for name, score in scores.items() if score == top_score]
    top = max(r.priority for r in matches)
    best = [r for r in matches if r.priority == top]
    if len(best) > 1:
        raise InputError(f"ambiguous format: the rows fit {', '.join(sorted(r.name for r in best))}",
                         file=str(path), hint="pass --format with one of them")
    return best[0]


def _peek(it: Iterator, n: int) -> tuple[list, Iterator]:
    head = []
    for item in it:
        head.append(item)
        if len(head) >= n:
            break

    def chain():
        yield from head
        yield from it

    return head, chain()


def ingest(paths: list[str], writer: ShardWriter, *, fmt: str = "auto", maps: dict[str, str] | None = None,
           on_error: str = "fail", advance=lambda n=1: None) -> dict[str, int]:
    """Read every input into canonical records and write them; return the rows read per format.

    Args:
        paths: Files, globs or directories.
        writer: The output set.
        fmt: A format name, or ``auto`` to detect per file.
        maps: Column renames (source column -> our field), applied before detection.
        on_error: ``fail`` raises on the first bad row (naming file and line); ``skip`` sends bad rows
            to the quarantine sub-set with the reason.
        advance: Progress callback.
    """
    readers = {name: cls() for name, cls in formats().items()}
    if fmt != "auto" and fmt not in readers:
        raise InputError(f"unknown format {fmt!r}", hint=f"formats: auto, {', '.join(sorted(readers))}")
    used: dict[str, int] = {}
    for path in expand(paths):
        stream = _rows_or_quarantine(path, writer, on_error)
        head, stream = _peek(stream, DETECT_ROWS)
        if not head:
            continue
        rdr = readers[fmt] if fmt != "auto" else detect([apply_map(r, maps or {}) for r, _ in head], path, readers)
        for raw, source in stream:
            writer.count_in()
            advance(1)
            row = apply_map(raw, maps or {})
            try:
                if not isinstance(row, dict):
                    raise RecordError(f"a row must be a JSON object, got {type(row).__name__}")
                out = rdr.read(row, source)
            except RecordError as exc:
                if on_error != "skip":
                    where = source.get("line") or (source.get("row", 0) + 1)
                    label = "line" if "line" in source else "row"
                    raise InputError(f"{label} {where}: {exc.message} [{rdr.name} format]", file=source["file"],
                                     hint=exc.hint or "fix the row or pass --on-error skip") from None
                writer.quarantine(raw, "invalid_record", source=source, error=exc.message)
                continue
            for record in out if isinstance(out, list) else [out]:
                record["meta"].setdefault("format", rdr.name)
                writer.write(record)
            used[rdr.name] = used.get(rdr.name, 0) + 1
    return used


def _rows_or_quarantine(path: Path, writer: ShardWriter, on_error: str) -> Iterator[tuple[Any, dict]]:
    """Rows of one file; a bad row (malformed JSON line, bad UTF-8) fails or is quarantined."""
    try:
        for row, source in rows(path):
            if isinstance(row, RowError):
                if on_error != "skip":
                    raise InputError(str(row), file=source["file"], line=source.get("line"),
                                     hint="fix the line or pass --on-error skip to quarantine bad rows")
                writer.count_in()
                writer.quarantine(row.raw, row.reason, source=source, error=str(row))
                continue
            yield row, source
    except InputError as exc:
        if on_error == "skip" and exc.message.startswith(("file is empty", "file has no")):
            writer.stats.setdefault("empty_files", []).append(str(path))
            return
        raise
