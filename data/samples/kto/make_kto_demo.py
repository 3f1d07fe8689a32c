"""Write ``kto_en_demo.json``: a stand-in for LLaMA-Factory's KTO demo file, in its exact shape.

LLaMA-Factory's ``data/kto_en_demo.json`` is a JSON array of 300 rows, 150 with ``"label": true`` and 150
with ``"label": false``; each row is ``{"messages": [{"content", "role"}, ...], "label": bool}`` with
alternating ``user``/``assistant`` turns (some multi-turn), the last assistant message being the answer
the label judges. Its ``dataset_info.json`` entry declares ``"formatting": "sharegpt"``,
``"columns": {"messages": "messages", "kto_tag": "label"}`` and role/content tags ``role``, ``content``,
``user``, ``assistant``. The rows here are written by this project (no public text copied): short
arithmetic, capital-city and definition questions, good answers correct and polite, bad answers wrong,
evasive or rude.

    .venv/bin/python data/samples/kto/make_kto_demo.py   # rewrites kto_en_demo.json next to this file
"""

from __future__ import annotations

import json
import random
from pathlib import Path

CAPITALS = [
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Kenya", "Nairobi"),
    ("Canada", "Ottawa"),
    ("Peru", "Lima"),
    ("Norway", "Oslo"),
    ("Egypt", "Cairo"),
    ("Chile", "Santiago"),
    ("Spain", "Madrid"),
    ("India", "New Delhi"),
]
TERMS = [
    ("photosynthesis", "the process by which plants turn light, water and carbon dioxide into sugar and oxygen"),
    ("a prime number", "a whole number above 1 whose only divisors are 1 and itself"),
    ("gravity", "the attraction between masses that keeps planets in orbit"),
    ("an algorithm", "a finite sequence of steps that solves a problem"),
    ("evaporation", "the change of a liquid into a gas below its boiling point"),
]
BAD_STYLES = ("wrong", "evasive", "rude")


def _msg(role: str, content: str) -> dict:
    return {"content": content, "role": role}  # key order as in LLaMA-Factory's file


def _question(rng: random.Random, i: int) -> tuple[str, str, str]:
    """(question, good answer, wrong answer) of kind i % 3."""
    kind = i % 3
    if kind == 0:
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        return f"What is {a} + {b}?", f"{a} + {b} = {a + b}.", f"{a} + {b} = {a + b + rng.randint(1, 9)}."
    if kind == 1:
        country, capital = rng.choice(CAPITALS)
        other = rng.choice([c for _, c in CAPITALS if c != capital])
        return (
            f"What is the capital of {country}? (question {i})",
            f"The capital of {country} is {capital}.",
            f"The capital of {country} is {other}.",
        )
    term, meaning = rng.choice(TERMS)
    return (
        f"Explain {term} in one sentence for a student (case {i}).",
        f"In short, {term} is {meaning}.",
        f"{term.capitalize()} is a kind of weather pattern.",
    )


def rows(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    labels = [True] * 150 + [False] * 150
    rng.shuffle(labels)
    out = []
    for i, good in enumerate(labels):
        q, right, wrong = _question(rng, i)
        if good:
            answer = right
        else:
            style = BAD_STYLES[i % 3]
            answer = {"wrong": wrong, "evasive": "I would rather not say.", "rude": "Look it up yourself."}[style]
        messages = [_msg("user", q), _msg("assistant", answer)]
        if i % 10 == 0:  # a multi-turn row: an earlier exchange, then the judged answer
            q0, a0, _ = _question(rng, i + 1)
            messages = [_msg("user", q0), _msg("assistant", a0), *messages]
        out.append({"messages": messages, "label": good})
    return out


if __name__ == "__main__":
    path = Path(__file__).with_name("kto_en_demo.json")
    path.write_text(json.dumps(rows(), indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"{path}: 300 rows (150 label true, 150 label false)")
