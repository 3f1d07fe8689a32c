"""instructkit chat: piped input, streamed replies, /system, /reset, /save as an sft record."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from instructkit.cli.app import app
from instructkit.records import validate


def test_chat_piped_input_saves_sft_record(tmp_path, tiny_model):
    saved = tmp_path / "chats" / "c.jsonl"
    script = (
        f"Hello there\n/system Be brief.\nAgain\n/save {saved}\n/reset\n/save {saved}\nAfter reset\n/save {saved}\n"
    )
    result = CliRunner().invoke(
        app,
        ["chat", str(tiny_model), "--max-new-tokens", "6", "--temperature", "1.0", "--seed", "3"],
        input=script,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "[system message set]" in result.output
    assert "[saved 2 turn(s)" in result.output and "[conversation reset]" in result.output
    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    assert len(rows) == 2  # one record per /save; /reset forgot the first conversation
    first, second = rows
    assert validate(first) == "sft" and validate(second) == "sft"
    roles = [m["role"] for m in first["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert first["messages"][0]["content"] == "Be brief."
    assert [m["content"] for m in first["messages"] if m["role"] == "user"] == ["Hello there", "Again"]
    # every streamed reply was printed as it is saved
    for m in first["messages"]:
        if m["role"] == "assistant":
            assert m["content"] in result.output
    assert [m["content"] for m in second["messages"] if m["role"] == "user"] == ["After reset"]
    assert second["messages"][0] == {"role": "system", "content": "Be brief."}  # /reset keeps the system message


def test_streamed_reply_equals_greedy_generation(tiny_model):
    from instructkit.cli.chat import LocalChat
    from instructkit.generation import LocalGenerator

    conv = [{"role": "user", "content": "Name a colour."}]
    pieces: list[str] = []
    reply = LocalChat(str(tiny_model), device="cpu", trust_remote_code=False).reply(
        conv, pieces.append, max_new_tokens=12, temperature=0.0, top_p=1.0
    )
    assert "".join(pieces) == reply
    expected = LocalGenerator(tiny_model, device="cpu").generate([conv], max_new_tokens=12)[0]
    assert reply == expected
