"""Alpaca: ``instruction``, ``input``, ``output`` with optional ``system`` and ``history``.

Reference: Stanford Alpaca (Taori et al. 2023) and LLaMA-Factory's alpaca format, where ``history`` is
a list of ``[instruction, response]`` pairs that precede the current turn.
"""

from __future__ import annotations

from instructkit.errors import RecordError
from instructkit.ingest.base import Reader, as_text, build, extra_meta, is_empty_input, reader, require
from instructkit.records import message

USED = {"instruction", "input", "output", "system", "history", "id"}


@reader("alpaca", priority=10)
class Alpaca(Reader):
    def detect(self, row: dict) -> bool:
        return "instruction" in row and "output" in row and "instances" not in row

    def read(self, row: dict, source: dict) -> dict:
        instruction, output = require(row, "instruction", "output")
        instruction = as_text(instruction, "instruction")
        inp = row.get("input")
        prompt = instruction if is_empty_input(inp) else f"{instruction}\n\n{as_text(inp, 'input')}"
        messages = []
        if row.get("system"):
            messages.append(message("system", as_text(row["system"], "system")))
        for i, turn in enumerate(row.get("history") or []):
            if not isinstance(turn, (list, tuple)) or len(turn) != 2:
                raise RecordError(f"'history[{i}]' must be a [instruction, response] pair")
            messages += [message("user", turn[0]), message("assistant", turn[1])]
        messages += [message("user", prompt), message("assistant", as_text(output, "output"))]
        return build(
            "sft", trusted=True, id=row.get("id"), messages=messages, source=source, meta=extra_meta(row, USED)
        )
