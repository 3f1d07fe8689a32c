"""``records``: our own canonical JSONL (a shard part, or records written by another tool).

Used to re-ingest a part of a shard set. The record is validated against its kind and kept as it is:
its ``id`` and ``meta`` (including the original ``meta.source``, which points further back in the
lineage) are preserved; a record without ``meta.source`` gets the file and line it was read from.
"""

from __future__ import annotations

from instructkit.ingest.base import Reader, reader
from instructkit.records import CONTENT_FIELDS, validate


@reader("records", priority=20)  # above openai/preference/prompt_only, whose fields a record also has
class Records(Reader):
    def detect(self, row: dict) -> bool:
        return (
            isinstance(row.get("id"), str)
            and isinstance(row.get("meta"), dict)
            and any(all(f in row for f in fields) for fields in CONTENT_FIELDS.values())
        )

    def read(self, row: dict, source: dict) -> dict:
        record = dict(row)
        record.setdefault("meta", {})
        validate(record)
        if "source" not in record["meta"]:
            record["meta"] = {**record["meta"], "source": source}
        return record
