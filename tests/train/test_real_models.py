"""Learning on a real model (slow): SmolLM2-135M-Instruct from its PyPI package, on real instruction data.

Run with ``make test-slow`` (in CI). Each test skips cleanly when the model package is not installed; data
comes from ../shared/data when present (public sets: GPTeacher role-play, the 175 Alpaca seed tasks),
else from data/samples (the reward test needs 400 real pairs, so it skips without ../shared/data).
Measured times are for this 2-core CPU, with both cores given to torch.
"""

from __future__ import annotations

import json
import random

import pytest

from instructkit.records import make_record, message
from instructkit.shards import ShardSet, ShardWriter

pytestmark = pytest.mark.slow


def _instruction_rows(shared_root, samples, n: int) -> list[dict]:
    """Real instruction/answer rows: GPTeacher role-play (3,146, MIT) when present, else the samples."""
    path = shared_root / "gpteacher_roleplay_alpaca.json"
    if path.is_file():
        rows = json.loads(path.read_text("utf-8"))
    else:
        rows = json.loads((samples / "alpaca.json").read_text("utf-8"))
    rows = [r for r in rows if r.get("output") and len(r["output"]) < 600 and len(r["instruction"]) < 400]
    random.Random(0).shuffle(rows)
    return rows[:n]


@pytest.fixture
def all_cores():
    """conftest pins torch to one thread for the tiny model; a 135M model wants every core."""
    import os

    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    yield
    torch.set_num_threads(before)


def _user(row: dict) -> str:
    return row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")


def _sft_set(path, rows):
    with ShardWriter(path, stage="test") as w:
        for r in rows:
            w.count_in()
            w.write(make_record("sft", messages=[message("user", _user(r)), message("assistant", r["output"])]))
    return ShardSet(w.path)


def test_sft_lowers_held_out_loss(smollm2, samples, tmp_path, all_cores):
    """LoRA SFT on 160 real examples (15 steps x 4; 4.4 minutes here, with another job on the machine) lowers the NLL of 40 unseen ones."""
    from conftest import SHARED_DATA

    from instructkit.eval.perplexity import perplexity
    from instructkit.models import load_causal_lm, load_tokenizer
    from instructkit.registry import run_stage

    rows = _instruction_rows(SHARED_DATA, samples, 200)  # 200 GPTeacher rows, or data/samples' 38 short ones
    if len(rows) < 30:
        pytest.skip("not enough instruction data")
    held, train = rows[: len(rows) // 5], rows[len(rows) // 5 :]
    res = run_stage(
        "sft",
        [_sft_set(tmp_path / "train", train).path],
        tmp_path / "sft",
        flags=dict(model=str(smollm2), lora=True, max_steps=15, batch_size=4, max_length=256),
        sets={"learning_rate": 3e-4, "save_steps": None, "seed": 0},
    )
    convs = [[message("user", _user(r)), message("assistant", r["output"])] for r in held]
    tok = load_tokenizer(res.path)  # the same (identically rendering) template for both models
    before = perplexity(load_causal_lm(smollm2, device="cpu"), tok, convs)["nll"]
    after = perplexity(load_causal_lm(res.path, device="cpu"), tok, convs)["nll"]
    assert res.manifest["tokenizer"]["pad_token"] == "<|endoftext|>"
    assert after < before - 0.05, (before, after)


def test_reward_model_on_the_smollm2_trunk_separates_real_answers(smollm2, samples, tmp_path, all_cores):
    """chosen = the dataset's answer, rejected = the answer to another prompt; >= 0.8 on >= 100 held-out pairs.

    20 steps x 8 pairs at 192 tokens: 10 minutes here (it was 40 steps at 256 tokens, 25 minutes, on one core).
    """
    from conftest import SHARED_DATA

    from instructkit.registry import run_stage

    rows = _instruction_rows(SHARED_DATA, samples, 400)
    if len(rows) < 400:
        pytest.skip("needs ../shared/data (GPTeacher) for 400 real pairs")
    with ShardWriter(tmp_path / "prefs", stage="test") as w:
        for i, r in enumerate(rows):
            other = rows[(i + 1 + i % 7) % len(rows)]  # an answer to another prompt
            w.count_in()
            w.write(
                make_record(
                    "preference",
                    prompt=[message("user", _user(r))],
                    chosen=[message("assistant", r["output"])],
                    rejected=[message("assistant", other["output"])],
                )
            )
    res = run_stage(
        "reward",
        [w.path],
        tmp_path / "rm",
        flags=dict(model=str(smollm2), lora=True, max_steps=20, batch_size=8, max_length=192),
        sets={"learning_rate": 3e-4, "eval_split": 0.25, "save_steps": None, "seed": 0},
    )
    metrics = res.manifest["metrics"]
    assert metrics["heldout_pairs"] >= 100
    assert metrics["heldout_accuracy"] >= 0.8, metrics


def test_self_instruct_with_smollm2_keeps_real_new_tasks(smollm2, samples, tmp_path, all_cores):
    """synth --method self-instruct --max-requests 8 from the 175 seed tasks keeps >= 3 valid, new tasks."""
    from conftest import SHARED_DATA

    from instructkit.registry import run_stage

    seeds = SHARED_DATA / "alpaca_seed_tasks.jsonl"
    if not seeds.is_file():
        seeds = samples / "self_instruct_seeds.jsonl"
    res = run_stage(
        "synth",
        [seeds],
        tmp_path / "synth",
        flags=dict(generator=str(smollm2), method="self-instruct", max_requests=8),
        sets={
            "prompt_style": "short",
            "num_instructions": 4,
            "batch_size": 5,
            "instance_max_new_tokens": 64,
            "temperature": 0.7,
            "top_p": 0.9,
            "device": "cpu",
        },
    )
    out = ShardSet(res.path)
    recs = list(out)
    seed_texts = {json.loads(line)["instruction"].strip().lower() for line in seeds.open()}
    users = [r["messages"][0]["content"] for r in recs]
    assert len(recs) >= 3, (out.manifest["counts"], [r["meta"]["reject"] for r in out.rejected])
    assert len(set(users)) == len(users) and not seed_texts & {u.strip().lower() for u in users}
    assert all(len(u.split()) > 3 and r["messages"][1]["content"].strip() for u, r in zip(users, recs, strict=True))
