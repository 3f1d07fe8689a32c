"""torchtune: rows for its dataset builders plus the ``dataset:`` block of a recipe config.

SFT: ``torchtune.datasets.chat_dataset`` with ``conversation_style: openai`` over ``messages``.
Preference: ``torchtune.datasets.preference_dataset``, whose ``chosen`` and ``rejected`` columns are
whole conversations (the shared prompt, then the answer). torchtune calls the tool role ``ipython``.
"""

from __future__ import annotations

import json
from pathlib import Path

from instructkit.export import split_preference

KINDS = ("sft", "preference")


def _message(m: dict) -> dict:
    role = "ipython" if m.get("role") == "tool" else m.get("role")
    content = m.get("content") or ""
    if m.get("tool_calls"):  # torchtune's OpenAI transform reads text only: keep the calls as their JSON
        content = json.dumps([c.get("function", c) for c in m["tool_calls"]], ensure_ascii=False)
    return {"role": role, "content": content}


def row(shape: str, record: dict) -> dict:
    if shape == "sft":
        return {"messages": [_message(m) for m in record["messages"]]}
    prompt, chosen, rejected = split_preference(record)
    shared = [_message(m) for m in prompt]
    return {"chosen": shared + [_message(chosen)], "rejected": shared + [_message(rejected)]}


def config(name: str, data: Path, shape: str, out: Path) -> dict[str, str]:
    import yaml

    block = {"source": "json", "data_files": str(data.resolve()), "split": "train"}
    if shape == "sft":
        block = {
            "_component_": "torchtune.datasets.chat_dataset",
            **block,
            "conversation_column": "messages",
            "conversation_style": "openai",
        }
    else:
        block = {"_component_": "torchtune.datasets.preference_dataset", **block}
    head = f"# {name}: the dataset block of a torchtune recipe config (tune run RECIPE --config CONFIG.yaml)\n"
    return {f"{name}.torchtune.yaml": head + yaml.safe_dump({"dataset": block}, sort_keys=False)}
