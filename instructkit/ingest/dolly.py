"""Dolly: ``instruction``, ``context``, ``response``, ``category`` (databricks-dolly-15k).

Reference: Conover et al. 2023, "Free Dolly". The context, when present, follows the instruction in
the user turn (as Alpaca's ``input`` does); ``category`` goes to ``meta.category``.
"""

from __future__ import annotations

from instructkit.ingest.base import Reader, as_text, build, extra_meta, reader, require
from instructkit.records import message

USED = {"instruction", "context", "response", "category", "id"}


@reader("dolly", priority=10)
class Dolly(Reader):
    def detect(self, row: dict) -> bool:
        return "instruction" in row and "response" in row and "output" not in row

    def read(self, row: dict, source: dict) -> dict:
        instruction, response = require(row, "instruction", "response")
        prompt = as_text(instruction, "instruction")
        context = row.get("context")
        if context and str(context).strip():
            prompt = f"{prompt}\n\n{as_text(context, 'context')}"
        meta = extra_meta(row, USED)
        if row.get("category"):
            meta["category"] = str(row["category"])
        messages = [message("user", prompt), message("assistant", as_text(response, "response"))]
        return build("sft", trusted=True, id=row.get("id"), messages=messages, source=source, meta=meta)
