"""Labelled unpaired answers (KTO data): a conversation or an instruction whose last answer is marked good or bad.

References: LLaMA-Factory's KTO datasets (``data/kto_en_demo.json``: sharegpt-style ``messages`` of
``{role, content}`` plus a boolean ``label``, declared in ``dataset_info.json`` with
``"columns": {"messages": "messages", "kto_tag": "label"}``; alpaca-style rows name the column
``kto_tag``), and TRL's unpaired preference type (``prompt``, ``completion``, ``label``; read by
``unpaired.py``, except when the label column is named ``kto_tag``). Ethayarajh et al. 2024, KTO.

Accepted rows: ``messages`` or ``conversations`` (``{role, content}``, ShareGPT ``{from, value}`` or
LLaMA-Factory content parts), ``instruction``/``input``/``output`` (alpaca), or ``prompt``/``completion``;
each with ``label`` or ``kto_tag`` (a bool, 0/1, or "true"/"false"). The last message must be the
assistant's: it becomes ``completion``, everything before it ``prompt``.

The record is TRL's unpaired shape, stored as a ``prompt`` record with ``completion`` and a top-level
boolean ``label`` (as ``unpaired.py`` writes): ``rlhf --algo kto`` trains on it directly, and it is never
an ``sft`` record, so an answer labelled bad cannot become a supervised target by accident.
"""

from __future__ import annotations

from instructkit.errors import RecordError
from instructkit.ingest.base import (
    Reader,
    as_text,
    build,
    content_id,
    extra_meta,
    is_empty_input,
    reader,
    to_messages,
)
from instructkit.ingest.unpaired import _label
from instructkit.records import message

LABEL_FIELDS = ("label", "kto_tag")
CONVERSATION_FIELDS = ("messages", "conversations")
USED = {*LABEL_FIELDS, *CONVERSATION_FIELDS, "instruction", "input", "output", "system", "id"}


def label_of(row: dict) -> object:
    """The row's label value (``label`` or LLaMA-Factory's ``kto_tag``), or None."""
    return next((row[f] for f in LABEL_FIELDS if row.get(f) is not None), None)


def _is_label(value: object) -> bool:
    try:
        _label(value)
    except RecordError:
        return False
    return True


def _conversation(value, field: str) -> list[dict]:
    from instructkit.ingest.llamafactory import _conversation as parts_conversation
    from instructkit.ingest.llamafactory import _is_parts

    if isinstance(value, list) and any(isinstance(m, dict) and _is_parts(m.get("content")) for m in value):
        return parts_conversation(value, field)
    return to_messages(value, field)


@reader("kto", priority=30)  # above openai, sharegpt, alpaca and llamafactory, whose fields these rows also have
class KTO(Reader):
    def detect(self, row: dict) -> bool:
        if not _is_label(label_of(row)):
            return False
        if any(isinstance(row.get(f), list) for f in CONVERSATION_FIELDS):
            return True
        if "instruction" in row and "output" in row:
            return True
        return "prompt" in row and "completion" in row and "kto_tag" in row

    def read(self, row: dict, source: dict) -> dict:
        raw = label_of(row)
        if raw is None:
            raise RecordError("missing 'label' (or 'kto_tag')", hint="KTO rows mark each answer true or false")
        label = _label(raw)
        field = next((f for f in CONVERSATION_FIELDS if row.get(f) is not None), None)
        if field is not None:
            conv = _conversation(row[field], field)
            if isinstance(row.get("system"), str) and row["system"] and conv[0]["role"] != "system":
                conv = [message("system", row["system"]), *conv]
            prompt, completion = conv[:-1], conv[-1:]
        elif "instruction" in row:
            text = as_text(row["instruction"], "instruction")
            inp = row.get("input")
            prompt = [message("user", text if is_empty_input(inp) else f"{text}\n\n{as_text(inp, 'input')}")]
            if isinstance(row.get("system"), str) and row["system"]:
                prompt = [message("system", row["system"]), *prompt]
            completion = [message("assistant", as_text(row.get("output"), "output"))]
        else:
            prompt = to_messages(row.get("prompt"), "prompt")
            completion = to_messages(row.get("completion"), "completion", role="assistant")
        if completion[-1]["role"] != "assistant" or not prompt:
            raise RecordError(
                "a labelled row must end with the assistant's answer after at least one prompt message",
                hint="the label marks the last assistant message as good (true) or bad (false)",
            )
        return build(
            "prompt",
            id=row.get("id") or content_id(prompt, completion, label),
            prompt=prompt,
            completion=completion,
            label=label,
            source=source,
            meta=extra_meta(row, USED | {"prompt", "completion"}),
        )
