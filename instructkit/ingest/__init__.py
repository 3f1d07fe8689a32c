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

from instructkit.errors import InputError, RecordError, TruncatedInput
from instructkit.ingest.base import Reader
from instructkit.ingest.sources import RowError, expand, rows
from instructkit.shards import ShardWriter
from instructkit.stage import REGISTRY

_INTERNAL = {"base", "sources", "json_array", "stage"}  # helpers and the stage driver, not formats
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


def check_maps(head: list[tuple[Any, dict]], maps: dict[str, str], path: Path) -> None:
    """Refuse ``--map dst=src`` naming a column no row of the file has: ignored, it made wrong records
    silently (a CSV with ``--map assistant=nosuch`` became prompt records)."""
    columns = {str(k): None for row, _ in head if isinstance(row, dict) for k in row}
    missing = [src for src in maps if src not in columns]
    if missing:
        src = missing[0]
        raise InputError(
            f"--map {maps[src]}={src}: the file has no column {src!r} (its columns: {', '.join(columns) or 'none'})",
            file=str(path),
            hint="fix the column name in --map dst=src (src is the file's column, dst our field)",
        )


def detect(sample: list[dict], path: Path, readers: dict[str, Reader]) -> Reader:
    """The one format whose ``detect`` accepts the sample rows; a clear error when none or several do."""
    dict_rows = [r for r in sample if isinstance(r, dict)]
    if not dict_rows:
        raise InputError(
            "cannot detect the format: no JSON objects in the first rows", file=str(path), hint="pass --format NAME"
        )
    # Score by how many sample rows each format accepts: one bad row must not hide the format.
    scores = {name: sum(1 for row in dict_rows if r.detect(row)) for name, r in readers.items()}
    top_score = max(scores.values())
    if top_score == 0:
        keys = sorted({str(k) for row in dict_rows for k in row})
        raise InputError(
            f"cannot detect the format from the fields {keys}",
            file=str(path),
            hint=f"pass --format ({', '.join(sorted(readers))}) or rename fields with --map dst=src",
        )
    matches = [readers[name] for name, score in scores.items() if score == top_score]
    top = max(r.priority for r in matches)
    best = [r for r in matches if r.priority == top]
    if len(best) > 1:
        raise InputError(
            f"ambiguous format: the rows fit {', '.join(sorted(r.name for r in best))}",
            file=str(path),
            hint="pass --format with one of them",
        )
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


def _where(source: dict) -> tuple[str, int | None]:
    """``("line 12", 12)`` for JSONL/CSV, ``("row 3", None)`` (1-based) for JSON arrays and tables."""
    if "line" in source:
        return f"line {source['line']}", source["line"]
    return f"row {source.get('row', 0) + 1}", None


def ingest(
    paths: list[str],
    writer: ShardWriter,
    *,
    fmt: str = "auto",
    maps: dict[str, str] | None = None,
    on_error: str = "fail",
    advance=lambda n=1: None,
) -> dict[str, int]:
    """Read every input into canonical records and write them; return the rows read per format.

    ``counts.in`` of the manifest counts records made plus rows quarantined (a Self-Instruct task with
    three instances is three records), so ``in == kept + quarantined`` holds; the raw rows read per
    format are what this function returns (the CLI stores them as ``stats.formats``).

    Args:
        paths: Files, globs or directories.
        writer: The output set.
        fmt: A format name (``-`` and ``_`` are interchangeable), or ``auto`` to detect per file.
        maps: Column renames (source column -> our field), applied before detection.
        on_error: ``fail`` raises on the first bad row (naming file and line); ``skip`` sends bad rows
            (and unreadable files) to the quarantine sub-set with the reason.
        advance: Progress callback, called once per raw row.
    """
    readers = {name: cls() for name, cls in formats().items()}
    fmt = fmt.replace("-", "_")
    if fmt != "auto" and fmt not in readers:
        raise InputError(f"unknown format {fmt!r}", hint=f"formats: auto, {', '.join(sorted(readers))}")
    maps = maps or {}
    used: dict[str, int] = {}
    write, quarantine, count_in = writer.write, writer.quarantine, writer.count_in
    for path in expand(paths):
        stream = _rows_or_quarantine(path, writer, on_error)
        head, stream = _peek(stream, DETECT_ROWS)
        if not head:
            continue
        if maps:
            check_maps(head, maps, path)
        rdr = readers[fmt] if fmt != "auto" else detect([apply_map(r, maps) for r, _ in head], path, readers)
        read, name, n_rows = rdr.read, rdr.name, 0
        for raw, source in stream:
            n_rows += 1
            row = apply_map(raw, maps) if maps else raw
            try:
                if not isinstance(row, dict):
                    raise RecordError(f"a row must be a JSON object, got {type(row).__name__}")
                out = read(row, source)
            except RecordError as exc:
                if on_error != "skip":
                    label, line = _where(source)
                    # A line number goes into "file:line:"; a JSON array's or table's row is named too.
                    where = f"row {source['row'] + 1}: " if "row" in source else ("" if line else f"{label}: ")
                    raise InputError(
                        f"{where}{exc.message} (read as {name})",
                        file=source["file"],
                        line=line,
                        hint=exc.hint or "fix the row or pass --on-error skip",
                    ) from None
                count_in()
                quarantine(raw, "invalid_record", source=source, error=exc.message)
                continue
            if isinstance(out, dict):
                out["meta"]["format"] = name
                count_in()
                write(out)
            else:
                for record in out:
                    record["meta"]["format"] = name
                    count_in()
                    write(record)
            if n_rows % 1024 == 0:  # a callback per row costs ~5% at 100k rows/s
                advance(1024)
        advance(n_rows % 1024)
        used[name] = used.get(name, 0) + n_rows
    return used


def _rows_or_quarantine(path: Path, writer: ShardWriter, on_error: str) -> Iterator[tuple[Any, dict]]:
    """Rows of one file; a bad row (malformed JSON line, bad UTF-8) fails or is quarantined.

    With ``skip``, an empty file is noted in ``stats.empty_files``; a file that breaks off (truncated
    gzip, invalid UTF-8 or malformed JSON in a JSON array) keeps the rows read before the break and
    adds one quarantine entry for the rest: ``truncated`` for a compressed file that ends early (also
    noted in ``stats.truncated`` as file -> rows read), else ``unreadable_file``.
    """
    try:
        for row, source in rows(path):
            if isinstance(row, RowError):
                if on_error != "skip":
                    raise InputError(
                        str(row),
                        file=source["file"],
                        line=source.get("line"),
                        hint="fix the line or pass --on-error skip to quarantine bad rows",
                    )
                writer.count_in()
                writer.quarantine(row.raw, row.reason, source=source, error=str(row))
                continue
            yield row, source
    except InputError as exc:
        if on_error != "skip":
            raise
        if exc.message.startswith(("file is empty", "file has no", "file holds an empty")):
            writer.stats.setdefault("empty_files", []).append(str(path))
            return
        source = {"file": str(path)}
        if exc.line:
            source["line"] = exc.line
        reason, error = "unreadable_file", exc.message
        if isinstance(exc, TruncatedInput):  # the unreadable rest counts as one lost row: its size is unknown
            reason, error = "truncated", f"{exc.message} ({exc.detail}); the rest of the file is lost"
            source["rows_read"] = exc.rows
            writer.stats.setdefault("truncated", {})[str(path)] = exc.rows
        writer.count_in()
        writer.quarantine(None, reason, source=source, error=error)


# `instructkit.ingest(...)` runs the stage; the package's names stay importable (api.py).
__import__("instructkit.api").api.callable_package(__name__, "ingest")
