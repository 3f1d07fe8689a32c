"""Self-Instruct seed tasks: ``instruction`` + ``instances: [{input, output}]`` + ``is_classification``.

Reference: Wang et al. 2023, "Self-Instruct" (its 175 seed tasks, also used by Stanford Alpaca). One
``sft`` record per instance; the task's ``name``, ``is_classification`` and the instance index go to
``meta``. A task with an ``id`` gives its records the ids ``ID#0``, ``ID#1``, ...
"""

from __future__ import annotations

from instructkit.errors import RecordError
from instructkit.ingest.base import Reader, as_text, build, extra_meta, is_empty_input, reader, require
from instructkit.records import message

USED = {"instruction", "instances", "is_classification", "name", "id"}


@reader("self_instruct", priority=10)
class SelfInstruct(Reader):
    def detect(self, row: dict) -> bool:
        return "instruction" in row and isinstance(row.get("instances"), list)

    def read(self, row: dict, source: dict) -> list[dict]:
        instruction, instances = require(row, "instruction", "instances")
        instruction = as_text(instruction, "instruction")
        if not isinstance(instances, list) or not instances:
            raise RecordError("'instances' must be a non-empty list of {input, output}")
        base = extra_meta(row, USED)
        for key in ("name", "is_classification"):
            if key in row:
                base[key] = row[key]
        out = []
        for k, inst in enumerate(instances):
            if not isinstance(inst, dict) or "output" not in inst:
                raise RecordError(f"'instances[{k}]' must be an object with 'output'")
            inp = inst.get("input")
            prompt = instruction if is_empty_input(inp) else f"{instruction}\n\n{as_text(inp, f'instances[{k}].input')}"
            messages = [
                message("user", prompt),
                message("assistant", as_text(inst["output"], f"instances[{k}].output")),
            ]
            rid = f"{row['id']}#{k}" if row.get("id") not in (None, "") else None
            out.append(
                build("sft", trusted=True, id=rid, messages=messages, source=source, meta={**base, "instance": k})
            )
        return out
