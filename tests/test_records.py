"""Records: kinds, validation messages, stable ids, normalisation, message helpers."""

from __future__ import annotations

import pytest

from instructkit.errors import RecordError
from instructkit.records import (
    clean_text,
    conversation_text,
    kind_of,
    make_record,
    message,
    normalise_role,
    prompt_of,
    record_id,
    response_of,
    text_of,
    validate,
)

U, A = message("user", "Hi?"), message("assistant", "Hello!")


def test_message_normalises_role_and_text():
    assert message("human", "cafe\u0301\x07 ok\tx\n") == {"role": "user", "content": "café ok\tx\n"}
    assert message("gpt", None) == {"role": "assistant", "content": ""}
    assert [normalise_role(r) for r in ("GPT", " Human ", "observation", "function_call", "bot")] == [
        "assistant",
        "user",
        "tool",
        "assistant",
        "assistant",
    ]
    assert message("assistant", "", tool_calls=[{"id": "1"}], name=None) == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "1"}],
    }
    with pytest.raises(RecordError, match="unknown role 'wizard'"):
        message("wizard", "x")
    assert clean_text("a\x00b\x9fc\r\n") == "abc\r\n"


def test_make_record_ids_are_stable_and_content_addressed():
    a = make_record("sft", messages=[U, A], source={"file": "x", "line": 1})
    b = make_record("sft", messages=[U, A], source={"file": "y", "line": 9}, meta={"lang": "en"})
    c = make_record("sft", messages=[U, message("assistant", "Hey!")])
    assert a["id"] == b["id"] != c["id"] and len(a["id"]) == 16
    assert record_id(a) == a["id"] and a["meta"] == {"source": {"file": "x", "line": 1}}
    assert make_record("sft", id=7, messages=[U, A])["id"] == "7"  # a source id wins
    p = make_record("preference", prompt=[U], chosen=[A], rejected=[message("assistant", "No.")])
    assert kind_of(p) == "preference" and p["id"] != a["id"]


@pytest.mark.parametrize(
    "kind,fields,error",
    [
        ("sft", {"messages": []}, "'messages' must be a non-empty list"),
        ("sft", {"messages": [U]}, "has no assistant turn"),
        ("sft", {"messages": [U, U, A]}, "second 'user' turn in a row"),
        ("sft", {"messages": [U, A, message("system", "s")]}, "system message that is not the first"),
        ("sft", {"messages": [{"role": "user"}]}, "must be an object with 'role' and 'content'"),
        ("sft", {"messages": [{"role": "robot", "content": "x"}, A]}, "unknown role 'robot'"),
        ("preference", {"prompt": [U], "chosen": [A], "rejected": [U]}, "'rejected' must end with an assistant"),
        ("feedback", {"prompt": [U], "responses": [{"text": "x"}]}, "'responses' must be a list of objects"),
        (
            "feedback",
            {"prompt": [U], "responses": [{"content": "x"}], "judgments": [{"type": "vibes"}]},
            "judgments\\[0\\].type",
        ),
        ("nope", {"prompt": [U]}, "unknown record kind"),
    ],
)
def test_validate_names_the_problem(kind, fields, error):
    with pytest.raises(RecordError, match=error):
        validate({"id": "x", **fields}, kind)


def test_tool_conversation_validates():
    call = message("assistant", "", tool_calls=[{"type": "function", "function": {"name": "f", "arguments": "{}"}}])
    rec = make_record("sft", messages=[U, call, message("tool", "42"), message("assistant", "It is 42.")])
    assert validate(rec) == "sft"


def test_extra_fields_are_accepted_for_unpaired_preference():
    rec = make_record("prompt", id="k1", prompt=[U], completion=[A], label=True)
    assert validate(rec) == "prompt" and kind_of(rec) == "prompt"


def test_helpers():
    sft = make_record(
        "sft", messages=[message("system", "Be nice."), U, A, message("user", "More?"), message("assistant", "Sure.")]
    )
    assert prompt_of(sft)[-1] == {"role": "user", "content": "More?"} and response_of(sft) == "Sure."
    assert text_of(sft["messages"], ("user",)) == "Hi?\nMore?"
    pref = make_record("preference", prompt=[U], chosen=[A], rejected=[message("assistant", "No.")])
    assert response_of(pref) == "Hello!" and conversation_text(pref) == "Hi?\nHello!\nNo."
    fb = make_record("feedback", prompt=[U], responses=[{"content": "R1"}, {"content": "R2"}], judgments=[])
    assert kind_of(fb) == "feedback" and response_of(fb) == "R1" and conversation_text(fb) == "Hi?\nR1\nR2"
    with pytest.raises(RecordError, match="none of the fields of a known kind"):
        kind_of({"id": "x", "text": "raw"})
