"""The LLM judge: parsing, position-bias cancellation, and real HTTP (a scripted server and the tiny model)."""

from __future__ import annotations

import re

import pytest
from openai_server import ScriptedServer, openai_server  # noqa: F401

from instructkit.eval.judge import Judge, combine, parse_rating, parse_verdict, question_text
from instructkit.generation import HttpGenerator


def test_parse_rating():
    assert parse_rating("Good answer. Rating: [[7]]") == 7.0
    assert parse_rating("[[8.5]]") == 8.5
    assert parse_rating("The format is [[rating]]; I give [[3]] then [[9]]") == 9.0  # the last one counts
    assert parse_rating("Rating: [6]") == 6.0  # FastChat's fallback pattern
    assert parse_rating("Rating: [[11]]") is None and parse_rating("[[0]]") is None  # outside 1-10
    assert parse_rating("no rating here") is None and parse_rating("") is None


def test_parse_verdict_and_combine():
    assert parse_verdict("A is more helpful. [[A]]") == "A"
    assert parse_verdict("[[B]]") == "B" and parse_verdict("tie: [[C]]") == "C"
    assert parse_verdict('Format: "[[A]]" if A is better... Final verdict: [[B]]') == "B"
    assert parse_verdict("A") is None and parse_verdict("[A]") is None
    # Second order judged (B, A): its "B" means our A.
    assert combine("A", "B") == "A" and combine("B", "A") == "B"
    assert combine("A", "A") == "tie"  # always the first position: position bias, cancelled
    assert combine("C", "B") == "tie" and combine("C", "C") == "tie"
    assert combine(None, "A") == "error" and combine("A", None) == "error"


def test_question_text():
    assert question_text([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]) == "q"
    multi = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    assert question_text(multi) == "User: a\nAssistant: b\nUser: c"


def _answers(body: dict) -> tuple[str, str]:
    text = body["messages"][-1]["content"]
    a = re.search(r"\[The Start of Assistant A's Answer\]\n(.*?)\n\[The End", text, re.S).group(1)
    b = re.search(r"\[The Start of Assistant B's Answer\]\n(.*?)\n\[The End", text, re.S).group(1)
    return a, b


def test_pairwise_both_orders_cancel_position_bias():
    questions = ["q1", "q2", "q3", "q4"]
    ours = ["good one", "good two", "bad", "good four"]
    ref = ["bad", "bad", "good three", "good ref"]

    # A fair judge: prefers the answer containing "good"; both "good" -> a tie.
    def fair(body):
        a, b = _answers(body)
        return "[[C]]" if ("good" in a) == ("good" in b) else ("[[A]]" if "good" in a else "[[B]]")

    with ScriptedServer(reply=fair) as server:
        out = Judge(HttpGenerator(server.url, "scripted")).pairwise(questions, ours, ref, n_boot=200)
    assert len(server.requests) == 8  # each pair judged twice
    assert out["verdicts"] == ["A", "A", "B", "tie"]
    assert (out["wins_a"], out["wins_b"], out["ties"], out["errors"]) == (2, 1, 1, 0)
    assert out["win_rate_a"] == pytest.approx((2 + 0.5) / 4)
    assert out["position_consistency"] == 1.0
    # Each pair is shown in both orders.
    shown = {_answers(r["body"]) for r in server.requests}
    assert ("good one", "bad") in shown and ("bad", "good one") in shown

    # A judge that always picks the first position: every pair is a tie, consistency 0.
    with ScriptedServer(reply="Assistant A is better. [[A]]") as server:
        biased = Judge(HttpGenerator(server.url, "scripted")).pairwise(questions, ours, ref, n_boot=50)
    assert biased["verdicts"] == ["tie"] * 4 and biased["win_rate_a"] == 0.5
    assert biased["position_consistency"] == 0.0


def test_unparseable_judgments_are_counted_not_fatal():
    replies = iter(["Rating: [[7]]", "I cannot rate this.", "[[2]]"])
    with ScriptedServer(reply=lambda body: next(replies)) as server:
        graded = Judge(HttpGenerator(server.url, "scripted", concurrency=1)).grade(["q"] * 3, ["a"] * 3)
    assert graded["ratings"] == [7.0, None, 2.0]
    assert graded["unparseable"] == 1 and graded["mean"] == pytest.approx(4.5)
    with ScriptedServer(reply="hmm") as server:
        out = Judge(HttpGenerator(server.url, "scripted")).pairwise(["q"], ["a"], ["b"])
    assert out["errors"] == 1 and out["win_rate_a"] is None and out["position_consistency"] is None


def test_judge_end_to_end_with_the_tiny_model(openai_server):  # noqa: F811
    gen = HttpGenerator(openai_server.url, openai_server.model, concurrency=4)
    judge = Judge(gen, max_new_tokens=8)
    graded = judge.grade(["What is 12 + 30?", "Say yes."], ["42", "Yes."])
    assert graded["n"] == 2 and graded["parsed"] + graded["unparseable"] == 2
    assert all(isinstance(t, str) for t in graded["judgments"])
    pair = judge.pairwise(["What is 12 + 30?"], ["42"], ["41"], n_boot=20)
    # The tiny model writes gibberish: whatever it says is parsed or counted, never a crash.
    assert pair["wins_a"] + pair["wins_b"] + pair["ties"] + pair["errors"] == 1
    assert gen.requests_sent == 2 + 2
