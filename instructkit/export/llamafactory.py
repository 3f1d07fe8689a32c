"""LLaMA-Factory: sharegpt-formatted rows plus their ``dataset_info.json`` entry.

Follows LLaMA-Factory's ``data/README.md``: ``formatting: sharegpt``, ``columns`` naming the
conversation (``conversations``), ``system``, ``chosen``/``rejected`` and ``kto_tag`` columns, default
``tags`` (``from``/``value``; ``human``, ``gpt``, ``observation``, ``function_call``), ``ranking: true``
for preference data, whose ``chosen`` and ``rejected`` are single messages. Its converter skips (with
only a warning) any row whose roles do not alternate human/observation, gpt/function_call, or whose
turn count has the wrong parity, so we refuse such rows here instead of letting them vanish there.
"""

from __future__ import annotations

import json
from pathlib import Path

from instructkit.errors import InputError
from instructkit.export import split_preference

KINDS = ("sft", "preference", "kto")
_TAGS = {"user": "human", "assistant": "gpt", "tool": "observation", "system": "system"}
_ODD, _EVEN = ("human", "observation"), ("gpt", "function_call")


def _message(m: dict) -> dict:
    if m.get("role") == "assistant" and m.get("tool_calls"):
        calls = [c.get("function", c) for c in m["tool_calls"]]
        return {"from": "function_call", "value": json.dumps(calls, ensure_ascii=False)}
    return {"from": _TAGS.get(m.get("role"), m.get("role")), "value": m.get("content") or ""}


def _conversation(record: dict, messages: list[dict], *, ranking: bool) -> dict:
    system = ""
    if messages and messages[0].get("role") == "system":
        system, messages = messages[0].get("content") or "", messages[1:]
    conv = [_message(m) for m in messages]
    for i, m in enumerate(conv):
        if m["from"] not in (_ODD, _EVEN)[i % 2]:
            raise InputError(
                f"record {record.get('id')}: turn {i} is {m['from']!r}; LLaMA-Factory wants human/observation "
                "and gpt/function_call turns to alternate (it would skip this row)",
            )
    if len(conv) % 2 != (1 if ranking else 0):
        raise InputError(f"record {record.get('id')}: {len(conv)} turns; LLaMA-Factory would skip this row")
    row = {"conversations": conv}
    if system:
        row["system"] = system
    return row


def row(shape: str, record: dict) -> dict:
    """One LLaMA-Factory sharegpt row."""
    if shape == "sft":
        return _conversation(record, record["messages"], ranking=False)
    if shape == "kto":
        out = _conversation(record, list(record["prompt"]) + list(record["completion"]), ranking=False)
        out["kto_tag"] = bool(record["label"])
        return out
    prompt, chosen, rejected = split_preference(record)
    out = _conversation(record, prompt, ranking=True)
    out["chosen"], out["rejected"] = _message(chosen), _message(rejected)
    return out


def entry(file_name: str, shape: str) -> dict:
    """The ``dataset_info.json`` entry for a data file of ``shape``."""
    columns = {"messages": "conversations", "system": "system"}
    info: dict = {"file_name": file_name, "formatting": "sharegpt"}
    if shape == "preference":
        info["ranking"] = True
        columns.update(chosen="chosen", rejected="rejected")
    elif shape == "kto":
        columns["kto_tag"] = "kto_tag"
    info["columns"] = columns
    return info


def config(name: str, data: Path, shape: str, out: Path) -> dict[str, dict]:
    """``dataset_info.json`` with our entry added to whatever entries are already there."""
    path = out / "dataset_info.json"
    info = {}
    if path.is_file():
        try:
            info = json.loads(path.read_text("utf-8"))
        except ValueError as exc:
            raise InputError(f"existing dataset_info.json is not JSON: {exc}", file=str(path)) from None
    info[name] = entry(data.name, shape)
    return {"dataset_info.json": info}
