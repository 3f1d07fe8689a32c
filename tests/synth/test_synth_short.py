"""Self-Instruct for small chat generators (prompt_style=short): one task per request, then its answer."""

from __future__ import annotations

from pathlib import Path

from instructkit.shards import ShardSet, verify
from instructkit.synth import SynthParams, run_synth
from instructkit.synth.parse import parse_single_instruction
from instructkit.synth.prompts import SHORT_MAX_NEW_TOKENS, short_instruction_prompt

SEEDS = Path(__file__).parents[1] / "data" / "synth_seeds.jsonl"
TOPICS = ["tidal energy", "urban beekeeping", "compound interest", "coral reefs", "the history of jazz", "chess"]
VERBS = ["Explain", "Plan", "Compare", "Describe", "Summarize", "Critique"]


class ChatFake:
    """Replies as SmolLM2 does to the two prompts: a chatty one-task reply, then a plain answer."""

    def __init__(self, repeat: bool = False):
        self.calls: list[tuple[str, int]] = []
        self.repeat, self.n = repeat, 0

    def describe(self) -> dict:
        return {"backend": "fake", "model": "chat-fake"}

    def generate(self, conversations, *, max_new_tokens, temperature=0.0, top_p=1.0, seed=0, n=1):
        out = []
        for conv in conversations:
            prompt = conv[-1]["content"]
            self.calls.append((prompt, max_new_tokens))
            if prompt.startswith("Give me one more example of a task"):
                i = 0 if self.repeat else self.n
                self.n += 1
                out.append(f"Sure! Here is a new task:\n\n**Task:** {VERBS[i % 6]} {TOPICS[i % 6]} in two sentences.")
            else:
                out.append(f"A short answer about {prompt.split(' ', 1)[1]}")
        return out


def test_parse_single_instruction_handles_chat_replies():
    cases = {
        "Sure! Here is a new task:\n\n**Task:** Plan a picnic menu for six people.": "Plan a picnic menu for six people.",
        "4. Write a haiku about rain.\n5. Another one": "Write a haiku about rain.",
        '"Explain how tides work."\n\nThis task asks...': "Explain how tides work.",
        "New task: Describe a sunset over the sea.": "Describe a sunset over the sea.",
        "Instruction 3: Name three rivers in Europe.": "Name three rivers in Europe.",
    }
    for reply, want in cases.items():
        assert [i.instruction for i in parse_single_instruction(reply)] == [want], reply
    assert parse_single_instruction("") == [] and parse_single_instruction("Here is a new task:\n\n") == []


def test_prompt_lists_the_instructions_only():
    text = short_instruction_prompt(
        [{"instruction": "Name a  colour.", "input": "x", "output": "red"}, {"instruction": "b"}]
    )
    assert text.endswith(":\n- Name a colour.\n- b") and "red" not in text


def test_short_style_keeps_answered_tasks_with_small_budgets(tmp_path):
    gen = ChatFake()
    params = SynthParams(prompt_style="short", num_instructions=4, batch_size=2, instance_max_new_tokens=64)
    writer, stats = run_synth(SEEDS, gen, tmp_path / "out", params)
    recs = list(ShardSet(writer.path))
    assert len(recs) == 4 == stats["accepted"] and verify(writer.path) == []
    for r in recs:
        user, reply = r["messages"][0]["content"], r["messages"][1]["content"]
        assert user.split(" ")[0] in VERBS and "\n" not in user  # the task only, no input
        assert reply == f"A short answer about {user.split(' ', 1)[1]}"
    asks = [mx for p, mx in gen.calls if p.startswith("Give me one more example of a task")]
    answers = [mx for p, mx in gen.calls if not p.startswith("Give me one more example of a task")]
    assert len(asks) == 4 and set(asks) == {SHORT_MAX_NEW_TOKENS} and set(answers) == {64}  # seconds, not minutes


def test_short_style_rejects_an_echo_of_the_request(tmp_path):
    class Echo(ChatFake):
        def generate(self, conversations, **kw):
            replies = super().generate(conversations, **kw)
            return [
                "Give me one more example of a task, similar to these." if c[-1]["content"].startswith("Give me") else r
                for c, r in zip(conversations, replies, strict=True)
            ]

    params = SynthParams(prompt_style="short", num_instructions=2, batch_size=2, patience=1)
    writer, _ = run_synth(SEEDS, Echo(), tmp_path / "out", params)
    assert ShardSet(writer.path).manifest["counts"]["rejected"]["rouge_similar"] == 2


def test_short_style_rejects_repeats_by_rouge(tmp_path):
    params = SynthParams(prompt_style="short", num_instructions=3, batch_size=2, patience=2)
    writer, stats = run_synth(SEEDS, ChatFake(repeat=True), tmp_path / "out", params)
    counts = ShardSet(writer.path).manifest["counts"]
    assert counts["kept"] == 1 and counts["rejected"]["rouge_similar"] >= 1
    assert counts["in"] == counts["kept"] + sum(counts["rejected"].values())
