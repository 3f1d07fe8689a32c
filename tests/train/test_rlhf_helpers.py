"""Shared data for the rlhf tests (no tests here; imported by test_rlhf_*.py and test_ppo_*.py): prompt, preference and unpaired sets, a learnable programmatic reward."""

from __future__ import annotations

import random
from pathlib import Path

from instructkit.records import make_record, message
from instructkit.shards import ShardWriter

WORDS = "sea sky fox dog poem tips planets sun answer french paragraph light".split()

# The reward the learning tests use: the share of digit characters in the completion. A random tiny
# model writes about 1% digits (10 single-digit tokens out of ~520), so the signal is dense enough for
# a few dozen PPO steps, and the maximum (1.0) is far from the start.
REWARD_SOURCE = '''
def digits(prompts, completions, **kwargs):
    """Share of digit characters in each completion (TRL reward-function signature)."""
    out = []
    for c in completions:
        text = c[0]["content"] if isinstance(c, list) else c
        out.append(sum(ch.isdigit() for ch in text) / max(1, len(text)))
    return out


def chars(prompts, completions, **kwargs):
    """Completion length in characters / 10: dense (every batch has variance), for mechanics tests."""
    return [len(c[0]["content"]) / 10 for c in completions]
'''


_ns: dict = {}
exec(REWARD_SOURCE, _ns)
digits = _ns["digits"]


def prompt_records(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [
        make_record("prompt", prompt=[message("user", f"Write about the {rng.choice(WORDS)} number {i}.")])
        for i in range(n)
    ]


def write_prompts(out: Path, n: int = 40, seed: int = 0) -> Path:
    with ShardWriter(out, stage="test", conserving=False) as w:
        for rec in prompt_records(n, seed):
            w.write(rec)
    return w.path


def preference_records(n: int, seed: int = 0) -> list[dict]:
    """Chosen answers are digit strings, rejected ones are words: a learnable preference."""
    rng = random.Random(seed)
    recs = []
    for i in range(n):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 8)))
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
        recs.append(
            make_record(
                "preference",
                prompt=[message("user", f"Say something about {rng.choice(WORDS)} {i}.")],
                chosen=[message("assistant", digits)],
                rejected=[message("assistant", words)],
            )
        )
    return recs


def write_preferences(out: Path, n: int = 40, seed: int = 0) -> Path:
    with ShardWriter(out, stage="test", conserving=False) as w:
        for rec in preference_records(n, seed):
            w.write(rec)
    return w.path


def write_unpaired(out: Path, n: int = 12) -> Path:
    """Ingest's unpaired form: prompt records carrying ``completion`` and ``label``."""
    with ShardWriter(out, stage="test", conserving=False) as w:
        for i in range(n):
            good = i % 2 == 0
            w.write(
                make_record(
                    "prompt",
                    prompt=[message("user", f"Number {i}?")],
                    completion=[message("assistant", "42" if good else "the sea")],
                    label=good,
                )
            )
    return w.path


def write_reward_fn(tmp: Path, name: str = "digits") -> str:
    f = tmp / "rewards_digits.py"
    f.write_text(REWARD_SOURCE)
    return f"{f}:{name}"
