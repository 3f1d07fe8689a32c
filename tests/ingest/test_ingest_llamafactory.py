"""LLaMA-Factory content-part messages (v1 data engine: ``{type, value}`` parts, ``chosen_messages`` /
``rejected_messages``): auto-detected over openai/sharegpt, read into canonical records."""

from __future__ import annotations

import json

from instructkit.records import validate
from instructkit.shards import ShardSet


def _text(value):
    return [{"type": "text", "value": value}]


# Rows in the shapes of LLaMA-Factory v1's SFTSample / DPOSample (src/llamafactory/v1/utils/types.py).
SFT = {
    "messages": [
        {"role": "system", "content": _text("You are a helpful assistant."), "loss_weight": 0.0},
        {"role": "user", "content": _text("What is the capital of France?"), "loss_weight": 0.0},
        {"role": "assistant", "content": _text("Paris."), "loss_weight": 1.0},
    ],
    "tools": "",
    "extra_info": "split=train",
}
CONVERSATIONS = {
    "conversations": [
        {"role": "user", "content": [{"type": "text", "value": "Add 2 "}, {"type": "text", "value": "and 3."}]},
        {"role": "assistant", "content": _text("5")},
    ]
}
REASONING_TOOLS = {
    "messages": [
        {"role": "user", "content": _text("Weather in Paris?")},
        {
            "role": "assistant",
            "content": [
                {"type": "reasoning", "value": "\nI should call the weather tool.\n"},
                {"type": "tool_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})},
            ],
        },
        {"role": "tool", "content": _text('{"temp_c": 18}')},
        {"role": "assistant", "content": _text("It is 18 °C in Paris.")},
    ],
    "tools": json.dumps([{"name": "get_weather", "parameters": {"type": "object"}}]),
}
PAIR = {
    "chosen_messages": [
        {"role": "user", "content": _text("Name a primary colour."), "loss_weight": 0.0},
        {"role": "assistant", "content": _text("Red."), "loss_weight": 1.0},
    ],
    "rejected_messages": [
        {"role": "user", "content": _text("Name a primary colour."), "loss_weight": 0.0},
        {"role": "assistant", "content": _text("Green, probably."), "loss_weight": 1.0},
    ],
}
IMAGE = {
    "messages": [
        {"role": "user", "content": [{"type": "image_url", "value": "cat.png"}, {"type": "text", "value": "What?"}]},
        {"role": "assistant", "content": _text("A cat.")},
    ]
}


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _records(tmp_path):
    s = ShardSet(tmp_path / "out")
    for r in s:
        validate(r)
    return s, {json.dumps(r["meta"]["source"]["line"]): r for r in s}


def test_sft_rows_are_detected_and_read(cli, tmp_path):
    path = _write(tmp_path / "lf.jsonl", [SFT, CONVERSATIONS, REASONING_TOOLS])
    cli("ingest", path, "-o", tmp_path / "out")
    s, by_line = _records(tmp_path)
    assert s.manifest["stats"]["formats"] == {"llamafactory": 3} and s.kind == "sft"
    first = by_line["1"]
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert first["messages"][2]["content"] == "Paris."
    assert first["meta"]["loss_weights"] == {"messages": [0.0, 0.0, 1.0]}
    assert first["meta"]["extra"] == {"tools": "", "extra_info": "split=train"}
    assert by_line["2"]["messages"][0]["content"] == "Add 2 and 3."
    call, tool, answer = by_line["3"]["messages"][1:]
    assert call["content"] == "<think>\nI should call the weather tool.\n</think>\n\n"
    assert call["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert tool["role"] == "tool" and answer["content"] == "It is 18 °C in Paris."
    assert "get_weather" in by_line["3"]["meta"]["extra"]["tools"]


def test_chosen_and_rejected_messages_become_a_preference_pair(cli, tmp_path):
    path = _write(tmp_path / "pairs.jsonl", [PAIR])
    cli("ingest", path, "-o", tmp_path / "out")
    s, by_line = _records(tmp_path)
    pair = by_line["1"]
    assert s.kind == "preference" and pair["meta"]["format"] == "llamafactory"
    assert pair["prompt"] == [{"role": "user", "content": "Name a primary colour."}]
    assert pair["chosen"] == [{"role": "assistant", "content": "Red."}]
    assert pair["rejected"] == [{"role": "assistant", "content": "Green, probably."}]
    assert pair["meta"]["loss_weights"]["chosen_messages"] == [0.0, 1.0]


def test_plain_openai_and_sharegpt_rows_are_not_taken(cli, tmp_path, samples):
    cli("ingest", samples / "openai_messages.jsonl", samples / "sharegpt.json", "-o", tmp_path / "out")
    assert "llamafactory" not in ShardSet(tmp_path / "out").manifest["stats"]["formats"]


def test_media_parts_fail_or_are_quarantined(cli, tmp_path):
    path = _write(tmp_path / "media.jsonl", [SFT, IMAGE])
    result = cli("ingest", path, "-o", tmp_path / "a", ok=False)
    assert result.exit_code == 2 and "image_url" in result.output and "only text" in result.output
    cli("ingest", path, "-o", tmp_path / "b", "--format", "llamafactory", "--on-error", "skip")
    s = ShardSet(tmp_path / "b")
    assert s.manifest["counts"]["kept"] == 1 and s.manifest["counts"]["quarantined"] == {"invalid_record": 1}
