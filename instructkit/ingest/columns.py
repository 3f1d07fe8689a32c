"""``columns``: table rows whose columns hold the turns, after ``--map user=COL --map assistant=COL``.

For CSV, TSV, Parquet and ``datasets`` directories whose columns are plain texts. Map columns to roles
(``--map user=question --map assistant=answer [--map system=sys]``); a row with a ``user`` but no
``assistant`` column becomes a ``prompt`` record. Unmapped columns are kept in ``meta.extra``.
"""

from __future__ import annotations

from instructkit.ingest.base import Reader, as_text, build, extra_meta, reader
from instructkit.records import message

USED = {"system", "user", "assistant", "id"}


@reader("columns", priority=10)
class Columns(Reader):
    def detect(self, row: dict) -> bool:
        return "user" in row and not isinstance(row["user"], (list, dict))

    def read(self, row: dict, source: dict) -> dict:
        messages = []
        if row.get("system"):
            messages.append(message("system", as_text(row["system"], "system")))
        messages.append(message("user", as_text(row.get("user") or "", "user")))
        meta = extra_meta(row, USED)
        if "assistant" not in row:
            return build("prompt", id=row.get("id"), prompt=messages, source=source, meta=meta)
        messages.append(message("assistant", as_text(row["assistant"] or "", "assistant")))
        return build("sft", id=row.get("id"), messages=messages, source=source, meta=meta)
