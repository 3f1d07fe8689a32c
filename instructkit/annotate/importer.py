"""Read Label Studio exports (JSON, JSON-MIN, CSV) into one normalised annotation shape.

Formats, as written by Label Studio 1.23 (label_studio_sdk.converter):

- JSON: a list of tasks ``{"id", "data", "annotations": [{"id", "completed_by", "result": [{"from_name",
  "to_name", "type", "value"}], "was_cancelled", "lead_time", "created_at", ...}], "predictions"}``.
  ``completed_by`` is a user id, or a user object with ``email`` in snapshot exports.
- JSON-MIN: one flat object per annotation: the task's data fields, ``id`` (task id), one key per
  control holding its "prettified" value (a string for a single TextArea text or Choices choice,
  else a list of value objects), ``annotator``, ``annotation_id``, ``created_at``, ``lead_time``.
  Cancelled annotations are left out by Label Studio.
- CSV: the JSON-MIN columns; lists and objects are JSON strings; data keys that collide with a
  control name are prefixed ``_data_``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import InputError

# JSON-MIN / CSV columns that are not task data and not control results.
MIN_META = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement", "history"}
# Task data keys that annotate-export writes.
DATA_KEYS = {
    "prompt",
    "left",
    "right",
    "response",
    "items",
    "instructkit_task",
    "instructkit_id",
    "instructkit_set",
    "instructkit_template",
    "instructkit_responses",
}


@dataclass
class RawAnnotation:
    """One annotation of one task, before validation against the template."""

    file: str
    task_id: Any
    data: dict
    annotator: str | None
    annotation_id: Any = None
    results: dict[str, Any] = field(default_factory=dict)  # control name -> value
    lead_time: float | None = None
    created_at: str | None = None
    updated_at: str | None = None
    cancelled: bool = False
    empty_task: bool = False  # a task with no annotation at all

    @property
    def where(self) -> str:
        key = self.data.get("instructkit_task")
        return (
            f"task {self.task_id}"
            + (f" ({key})" if key else "")
            + (f", annotation {self.annotation_id}" if self.annotation_id is not None else "")
        )

    def raw(self) -> dict:
        """A JSON-able copy for the quarantine."""
        return {
            "task_id": self.task_id,
            "annotation_id": self.annotation_id,
            "annotator": self.annotator,
            "instructkit_task": self.data.get("instructkit_task"),
            "results": self.results,
        }


def _annotator(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("email") or value.get("id") or "") or None
    if value in (None, ""):
        return None
    return str(value)


def _float(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _from_full(task: dict, path: str) -> Iterator[RawAnnotation]:
    data = task.get("data")
    if not isinstance(data, dict):
        raise InputError(f"task {task.get('id')} has no 'data' object", file=path)
    annotations = task.get("annotations", task.get("completions")) or []
    if not annotations:
        yield RawAnnotation(path, task.get("id"), data, None, empty_task=True)
    for ann in annotations:
        if not isinstance(ann, dict):
            raise InputError(f"task {task.get('id')}: an annotation is not an object", file=path)
        results: dict[str, Any] = {}
        for r in ann.get("result") or []:
            if isinstance(r, dict) and r.get("from_name"):
                # Several results for one control (a TextArea edited twice): the last one wins.
                results[r["from_name"]] = r.get("value")
        yield RawAnnotation(
            path,
            task.get("id"),
            data,
            _annotator(ann.get("completed_by")),
            ann.get("id"),
            results,
            _float(ann.get("lead_time")),
            ann.get("created_at"),
            ann.get("updated_at"),
            cancelled=bool(ann.get("was_cancelled") or ann.get("skipped")),
        )


def _unprefix(row: dict) -> dict:
    """CSV renames data keys that collide with control names to ``_data_KEY``."""
    return {(k[6:] if k.startswith("_data_") else k): v for k, v in row.items()}


def _from_min(row: dict, path: str, decode: bool) -> RawAnnotation:
    row = _unprefix(row)
    if decode:  # CSV: lists/objects as JSON strings; a free text that happens to be JSON stays text
        row = {k: _decode_cell(v, keep_text=k not in DATA_KEYS) for k, v in row.items()}
    data = {k: v for k, v in row.items() if k in DATA_KEYS or k.startswith("instructkit_")}
    results = {
        k: v
        for k, v in row.items()
        if k not in DATA_KEYS
        and k not in MIN_META
        and not k.startswith("instructkit_")
        and not k.endswith("_transcript")
        and v not in (None, "")
    }
    if not results and row.get("annotation_id") in (None, ""):
        return RawAnnotation(path, row.get("id"), data, None, empty_task=True)
    return RawAnnotation(
        path,
        row.get("id"),
        data,
        _annotator(row.get("annotator")),
        row.get("annotation_id"),
        results,
        _float(row.get("lead_time")),
        row.get("created_at"),
        row.get("updated_at"),
    )


def _decode_cell(value: Any, keep_text: bool) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        is_result = isinstance(decoded, dict) or (
            isinstance(decoded, list) and all(isinstance(x, dict) for x in decoded)
        )
        return decoded if is_result or not keep_text else value
    return value


def detect_format(path: Path) -> str:
    """``json``, ``json-min`` or ``csv`` from the file's suffix and first row."""
    if path.suffix.lower() in (".csv", ".tsv"):
        return "csv"
    try:
        rows = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"not a Label Studio JSON export: {exc}",
            file=str(path),
            hint="export from Label Studio as JSON, JSON-MIN or CSV",
        ) from None
    if not isinstance(rows, list):
        raise InputError("a Label Studio export is a JSON list of tasks", file=str(path))
    first = next((r for r in rows if isinstance(r, dict)), None)
    if first is None:
        return "json"
    return "json" if isinstance(first.get("data"), dict) else "json-min"


def read_export(path: str | Path) -> Iterator[RawAnnotation]:
    """Every annotation in one export file, normalised.

    Raises:
        InputError: for a file that is not a Label Studio export.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("export file not found", file=str(path), hint="check the path")
    fmt = detect_format(path)
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as fh:
            dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
            for row in csv.DictReader(fh, dialect=dialect):
                yield _from_min(row, str(path), decode=True)
        return
    rows = json.loads(path.read_text("utf-8"))
    if not rows:  # three empty sets were written without a word
        raise InputError(
            "the export is empty ([]): no tasks",
            file=str(path),
            hint="export the project again after importing tasks into it (annotate-export), or drop this file",
        )
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise InputError(f"entry {n} is not a JSON object", file=str(path))
        if fmt == "json":
            yield from _from_full(row, str(path))
        else:
            yield _from_min(row, str(path), decode=False)
