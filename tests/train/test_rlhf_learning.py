"""Learning tests on the tiny model (CPU, a minute or more each: ``slow``).

The programmatic reward is the share of digit characters in a completion (a random tiny model writes
about 1%). Each online algorithm must raise the mean reward on *held-out* prompts well above the
starting policy's, with the KL to the reference bounded; PPO must also raise the score of a reward
model trained by the ``reward`` stage on a learnable synthetic preference (digits over words); DPO
must raise the held-out chosen-over-rejected log-probability margin.
"""

from __future__ import annotations

import json

import pytest
from test_rlhf_helpers import digits, prompt_records, write_preferences, write_prompts, write_reward_fn

pytestmark = pytest.mark.slow

GEN = 8  # completion tokens: short, so a step is cheap and the KL stays comparable across algorithms
# The reference is near uniform over ~520 ids, so a policy collapsed onto one token sits at about
# 8 * ln(520) = 50 nats; all-digit completions spread over the ~15 digit tokens need about 8 * ln(520/15)
# = 28. The bound lets the policy get there and no further.
KL_BOUND = 40.0


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("rlhf-learn")
    return {
        "root": root,
        "prompts": write_prompts(root / "prompts", n=64, seed=1),
        "fn": write_reward_fn(root),
        "heldout": prompt_records(24, seed=99),
    }


def _heldout(model_dir, base_dir, records, sources):
    from instructkit.train.common import load_causal_lm, load_tokenizer
    from instructkit.train.ppo.evaluate import evaluate_policy, reference_fn

    tok = load_tokenizer(base_dir)
    base = load_causal_lm(base_dir, dtype="float32")
    start = evaluate_policy(base, tok, records, sources, max_new_tokens=GEN)
    trained = load_causal_lm(model_dir, dtype="float32")
    end = evaluate_policy(trained, tok, records, sources, ref_fn=reference_fn(base), max_new_tokens=GEN)
    return start, end


def test_ppo_raises_heldout_reward_with_bounded_kl(cli, tiny_model, sets, tmp_path):
    import torch

    torch.manual_seed(0)
    out = tmp_path / "ppo"
    cli(
        "rlhf",
        sets["prompts"],
        "--algo",
        "ppo",
        "--policy",
        tiny_model,
        "--reward-fn",
        sets["fn"],
        "-o",
        out,
        "--max-steps",
        30,
        "--lr",
        3e-3,
        "--set",
        "batch_size=16",
        "--set",
        "mini_batch_size=8",
        "--set",
        f"max_new_tokens={GEN}",
        "--set",
        "kl_coef=0.05",
        "--set",
        "kl_control=adaptive",
        "--set",
        "kl_target=4",
        "--set",
        "kl_horizon=500",
        "--set",
        "save_steps=0",
    )
    start, end = _heldout(out, tiny_model, sets["heldout"], [digits])
    assert start["reward"] < 0.05
    assert end["reward"] > start["reward"] + 0.3, (start, end)
    assert 0.0 <= end["kl"] < KL_BOUND, end
    history = json.loads((out / "manifest.json").read_text())["log_history"]
    # The adaptive controller (Ziegler et al. 2019) raised beta once the KL passed its target of 4 nats.
    assert history[-1]["objective/kl_coef"] > 0.05


@pytest.mark.parametrize("algo, beta", [("grpo", 0.1), ("rloo", 0.02)])
def test_trl_online_algos_raise_heldout_reward(cli, tiny_model, sets, tmp_path, algo, beta):
    import torch

    torch.manual_seed(0)
    out = tmp_path / algo
    cli(
        "rlhf",
        sets["prompts"],
        "--algo",
        algo,
        "--policy",
        tiny_model,
        "--reward-fn",
        sets["fn"],
        "-o",
        out,
        "--max-steps",
        30,
        "--lr",
        1e-2,
        "--set",
        "lr_scheduler=constant",
        "--set",
        "batch_size=16",
        "--set",
        "num_generations=8",
        "--set",
        f"max_completion_length={GEN}",
        "--set",
        "logging_steps=5",
        "--set",
        f"beta={beta}",
        "--set",
        "save_steps=null",
    )
    start, end = _heldout(out, tiny_model, sets["heldout"], [digits])
    assert end["reward"] > start["reward"] + 0.3, (start, end)
    assert 0.0 <= end["kl"] < KL_BOUND, end


def test_ppo_raises_a_trained_reward_models_score(cli, tiny_model, sets, tmp_path):
    from instructkit.train.ppo.rewards import RewardModelScorer

    prefs = write_preferences(tmp_path / "prefs", n=96, seed=3)
    rm = tmp_path / "rm"
    cli(
        "reward",
        prefs,
        "--model",
        tiny_model,
        "-o",
        rm,
        "--max-steps",
        60,
        "--lr",
        3e-3,
        "--batch-size",
        16,
        "--eval-split",
        0.2,
        "--seed",
        0,
    )
    rm_metrics = json.loads((rm / "manifest.json").read_text())["metrics"]
    assert rm_metrics["heldout_accuracy"] >= 0.9, rm_metrics  # the preference is learnable
    out = tmp_path / "ppo-rm"
    cli(
        "rlhf",
        sets["prompts"],
        "--algo",
        "ppo",
        "--policy",
        tiny_model,
        "--reward-model",
        rm,
        "-o",
        out,
        "--max-steps",
        30,
        "--lr",
        3e-3,
        "--set",
        "batch_size=16",
        "--set",
        "mini_batch_size=8",
        "--set",
        f"max_new_tokens={GEN}",
        "--set",
        "kl_coef=0.05",
        "--set",
        "save_steps=0",
    )
    scorer = RewardModelScorer(str(rm), device="cpu")
    start, end = _heldout(out, tiny_model, sets["heldout"], [scorer])
    history = json.loads((out / "manifest.json").read_text())["log_history"]
    assert end["reward"] > start["reward"] + 1.0, (start, end)  # in reward-model units (logits)
    assert end["kl"] < KL_BOUND
    assert history[-1]["reward/mean"] > history[0]["reward/mean"]


def test_dpo_raises_heldout_margin(cli, tiny_model, tmp_path):
    prefs = write_preferences(tmp_path / "prefs", n=80, seed=5)
    out = tmp_path / "dpo"
    cli(
        "rlhf",
        prefs,
        "--algo",
        "dpo",
        "--policy",
        tiny_model,
        "-o",
        out,
        "--max-steps",
        40,
        "--lr",
        3e-3,
        "--set",
        "batch_size=8",
        "--set",
        "eval_split=0.2",
        "--set",
        "lr_scheduler=constant",
        "--seed",
        0,
    )
    m = json.loads((out / "manifest.json").read_text())["metrics"]
    assert m["heldout_logp_margin"] > m["heldout_start_logp_margin"] + 5.0, m
    assert m["heldout_reward_accuracy"] >= 0.9 and m["heldout_reward_margin"] > 0.5, m
