"""axolotl: OpenAI-style rows plus the ``datasets:`` entry of an axolotl config (``axolotl.yaml``).

SFT: ``type: chat_template`` over ``messages``. Preference (``rl: dpo``, also ipo/orpo/simpo):
``type: chat_template.default`` with the prompt conversation in ``messages`` and ``chosen`` /
``rejected`` as single assistant messages (docs.axolotl.ai, dataset formats and RLHF pages).
KTO data is not exported here: axolotl's KTO types are per chat template (llama3, chatml); use
LLaMA-Factory or TRL (``instructkit rlhf --algo kto``).
"""

from __future__ import annotations

from pathlib import Path

from instructkit.export import split_preference

KINDS = ("sft", "preference")


def _message(m: dict) -> dict:
    out = {"role": m.get("role"), "content": m.get("content") or ""}
    if m.get("tool_calls"):
        out["tool_calls"] = m["tool_calls"]
    return out


def row(shape: str, record: dict) -> dict:
    if shape == "sft":
        return {"messages": [_message(m) for m in record["messages"]]}
    prompt, chosen, rejected = split_preference(record)
    return {"messages": [_message(m) for m in prompt], "chosen": _message(chosen), "rejected": _message(rejected)}


def config(name: str, data: Path, shape: str, out: Path) -> dict[str, str]:
    import yaml

    ds = {"path": str(data.resolve()), "ds_type": "json", "split": "train"}
    mapping = {"role": "role", "content": "content"}
    if shape == "sft":
        ds.update(type="chat_template", field_messages="messages", message_property_mappings=mapping)
        doc = {"datasets": [ds]}
    else:
        ds.update(
            type="chat_template.default",
            field_messages="messages",
            field_chosen="chosen",
            field_rejected="rejected",
            message_property_mappings=mapping,
            roles={"system": ["system"], "user": ["user"], "assistant": ["assistant"]},
        )
        doc = {"rl": "dpo", "datasets": [ds]}
    head = f"# {name}: merge into your axolotl config (axolotl train CONFIG.yaml); written by instructkit export\n"
    return {f"{name}.axolotl.yaml": head + yaml.safe_dump(doc, sort_keys=False)}
