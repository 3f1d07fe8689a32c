"""A deterministic test double for synth: scripted replies chosen by what the prompt asks for.

It has the shape of ``instructkit.generation`` generators (``generate`` and ``describe``) and counts
every conversation it answers, so resume tests can prove that no request is sent twice.
"""

from __future__ import annotations

import hashlib
import re

VERBS = [
    "Explain",
    "Summarize",
    "Compare",
    "Classify",
    "Translate",
    "Rewrite",
    "Describe",
    "List",
    "Suggest",
    "Evaluate",
    "Outline",
    "Predict",
    "Estimate",
    "Critique",
    "Plan",
    "Name",
]
TOPICS = [
    "photosynthesis in desert plants",
    "the causes of inflation",
    "a recipe for lentil soup",
    "the rules of chess openings",
    "renewable energy policy",
    "medieval trade routes",
    "sleep hygiene",
    "password security habits",
    "volcanic island formation",
    "the history of jazz",
    "tidal energy",
    "urban beekeeping",
    "budget travel in Portugal",
    "ocean acidification",
    "learning a second language",
    "the water cycle",
    "bicycle maintenance",
    "compound interest",
    "ancient Roman roads",
    "coral reefs",
]
AUDIENCES = ["a ten-year-old", "a busy manager", "a first-year student", "a retired engineer", "a tourist"]


def _h(*parts) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def instruction_list(prompt: str, seed: int, n: int = 4) -> str:
    """Alpaca-format items continuing the prompt (first item without its label, like a completion)."""
    start = int(re.search(r"(\d+)\. Instruction:\s*$", prompt).group(1))
    out = []
    for k in range(n):
        h = _h(prompt, seed, k)
        inst = (
            f"{VERBS[h % len(VERBS)]} {TOPICS[(h // 7) % len(TOPICS)]} for "
            f"{AUDIENCES[(h // 131) % len(AUDIENCES)]} in {3 + h % 5} sentences."
        )
        num = start + k
        label = "" if k == 0 else f"{num}. Instruction: "
        out.append(f"{label}{inst}\n{num}. Input:\n<noinput>\n{num}. Output:\nA short answer about item {h % 997}.")
    return " " + "\n###\n".join(out) + "\n###"


class FakeGenerator:
    """Scripted replies; ``script(prompt, seed)`` overrides the default for every request."""

    def __init__(self, script=None, name: str = "fake"):
        self.script, self.name = script, name
        self.calls = 0  # generate() invocations
        self.answered = 0  # conversations answered
        self.prompts: list[str] = []

    def describe(self) -> dict:
        return {"backend": "fake", "model": self.name}

    def reply(self, prompt: str, seed: int) -> str:
        if self.script is not None:
            return self.script(prompt, seed)
        if prompt.rstrip().endswith("Instruction:") and "List of" in prompt:
            return instruction_list(prompt, seed)
        if prompt.rstrip().endswith("Is it classification?"):
            task = prompt.rstrip().rsplit("Task:", 1)[-1].lower()
            return "Yes" if ("classify" in task or "whether" in task) else "No"
        if prompt.rstrip().endswith("Class label:"):
            return " Positive\nInput: I loved every minute of it."
        if prompt.rstrip().endswith("Input:"):
            return " <noinput>\nOutput: Here is a concise and correct answer.\n\nTask: something else"
        if "Your Judgement" in prompt:
            return "Not Equal"
        if prompt.rstrip().endswith("#Rewritten Prompt#:") or prompt.rstrip().endswith("#Created Prompt#:"):
            given = prompt.split("Prompt#:\n", 1)[1].rsplit("\n#", 1)[0].strip()
            return f"{given} Also justify each step with one concrete example number {_h(prompt, seed) % 89}."
        return (
            "Here is a detailed answer that walks through the reasoning step by step, "
            f"with an example and a short summary at the end (variant {_h(prompt, seed) % 1000})."
        )

    def generate(self, conversations, *, max_new_tokens=256, temperature=0.0, top_p=1.0, seed=0, n=1):
        self.calls += 1
        out = []
        for conv in conversations:
            self.answered += 1
            prompt = conv[-1]["content"]
            self.prompts.append(prompt)
            out.append(self.reply(prompt, seed))
        return out if n == 1 else [[o] * n for o in out]
