"""``rlhf --algo a2c`` end to end: the CLI with a reward model, a recipe with a reward function, and a slow
learning test like PPO's (held-out reward rises, KL to the reference bounded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_rlhf_helpers import digits, prompt_records, write_prompts, write_reward_fn

from instructkit.recipe import Runner, load_recipe

GEN = 8
KL_BOUND = 40.0  # as in test_rlhf_learning.py: all-digit completions need about 28 nats over 8 tokens


def test_a2c_cli_with_a_reward_model(cli, tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    rm = tmp_path / "rm"
    AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1).save_pretrained(rm)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(rm)
    out = tmp_path / "a2c"
    cli(
        "rlhf",
        write_prompts(tmp_path / "prompts", n=8),
        "--algo",
        "a2c",
        "--policy",
        tiny_model,
        "--reward-model",
        rm,
        "-o",
        out,
        "--max-steps",
        2,
        "--set",
        "batch_size=4",
        "--set",
        "max_new_tokens=4",
        "--set",
        "save_steps=0",
    )
    AutoModelForCausalLM.from_pretrained(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "rlhf-a2c" and manifest["reward_model"] == str(rm)
    params = manifest["config"]["params"]
    assert params["ppo_epochs"] == 1 and params["mini_batch_size"] == 4  # one update per rollout
    assert [h["step"] for h in manifest["log_history"]] == [1, 2]
    # No ratio clipping: nothing is ever clipped.
    assert all(h["policy/clipfrac"] == 0.0 for h in manifest["log_history"])


def test_a2c_in_a_recipe_with_a_reward_function(tiny_model, tmp_path):
    prompts = write_prompts(tmp_path / "prompts", n=8)
    recipe = tmp_path / "a2c.yaml"
    recipe.write_text(f"""# instructkit run a2c.yaml
name: a2c
workdir: {tmp_path / "work"}
stages:
  - name: a2c
    run: rlhf
    inputs: ["{prompts}"]
    output: "{{workdir}}/a2c"
    params:
      algo: a2c
      policy: "{tiny_model}"
      reward_fn: ["{write_reward_fn(tmp_path, "chars")}"]
      max_steps: 2
      batch_size: 4
      max_new_tokens: 4
      save_steps: 0
""")
    rows = Runner(load_recipe(recipe), log=lambda m: None).execute()
    assert rows[0]["status"].startswith("ran")
    manifest = json.loads((Path(rows[0]["output"]) / "manifest.json").read_text())
    assert manifest["stage"] == "rlhf-a2c" and manifest["reward_fns"][0].endswith(":chars")
    assert len(manifest["log_history"]) == 2
    again = Runner(load_recipe(recipe), log=lambda m: None).execute()
    assert again[0]["status"].startswith("skipped")  # content-addressed cache, as for every stage


@pytest.mark.slow
def test_a2c_raises_heldout_reward_with_bounded_kl(cli, tiny_model, tmp_path):
    import torch

    from instructkit.train.common import load_causal_lm, load_tokenizer
    from instructkit.train.ppo.evaluate import evaluate_policy, reference_fn

    torch.manual_seed(0)
    out = tmp_path / "a2c"
    cli(
        "rlhf",
        write_prompts(tmp_path / "prompts", n=64, seed=1),
        "--algo",
        "a2c",
        "--policy",
        tiny_model,
        "--reward-fn",
        write_reward_fn(tmp_path),
        "-o",
        out,
        "--max-steps",
        40,
        "--lr",
        3e-3,
        "--set",
        "batch_size=16",
        "--set",
        f"max_new_tokens={GEN}",
        "--set",
        "kl_coef=0.05",
        "--set",
        "save_steps=0",
    )
    heldout = prompt_records(24, seed=99)
    tok = load_tokenizer(tiny_model)
    base = load_causal_lm(tiny_model, dtype="float32")
    start = evaluate_policy(base, tok, heldout, [digits], max_new_tokens=GEN)
    trained = load_causal_lm(out, dtype="float32")
    end = evaluate_policy(trained, tok, heldout, [digits], ref_fn=reference_fn(base), max_new_tokens=GEN)
    assert start["reward"] < 0.05
    assert end["reward"] > start["reward"] + 0.3, (start, end)
    assert 0.0 <= end["kl"] < KL_BOUND, end
