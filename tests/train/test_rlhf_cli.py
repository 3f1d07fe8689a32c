"""`instructkit rlhf` through the real CLI on the tiny model: every algorithm runs a few steps and writes a
model that AutoModelForCausalLM loads plus a manifest with its metrics; resume; user errors exit 2."""

from __future__ import annotations

import json

import pytest
from test_rlhf_helpers import write_preferences, write_prompts, write_reward_fn, write_unpaired


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("rlhf-data")
    return {
        "prompts": write_prompts(root / "prompts", n=16),
        "prefs": write_preferences(root / "prefs", n=12),
        "unpaired": write_unpaired(root / "unpaired"),
        "fn": write_reward_fn(root),
        "dense": write_reward_fn(root, "chars"),
    }


def _loads(path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path)
    manifest = json.loads((path / "manifest.json").read_text())
    return model, manifest


def test_ppo_cli_smoke_logs_every_step(cli, tiny_model, data, tmp_path):
    out = tmp_path / "ppo"
    cli(
        "rlhf",
        data["prompts"],
        "--algo",
        "ppo",
        "--policy",
        tiny_model,
        "--reward-fn",
        data["fn"],
        "-o",
        out,
        "--max-steps",
        2,
        "--set",
        "batch_size=4",
        "--set",
        "mini_batch_size=2",
        "--set",
        "max_new_tokens=6",
        "--set",
        "eval_split=0.25",
        "--set",
        "save_steps=0",
    )
    _, manifest = _loads(out)
    assert manifest["stage"] == "rlhf-ppo" and manifest["config"]["params"]["max_new_tokens"] == 6
    assert [h["step"] for h in manifest["log_history"]] == [1, 2]
    for key in ("reward/mean", "objective/kl", "policy/entropy", "policy/clipfrac", "loss/value"):
        assert all(key in h for h in manifest["log_history"]), key
    assert {"eval/start_reward", "eval/end_reward", "eval/end_kl"} <= set(manifest["metrics"])
    assert manifest["inputs"][0]["fingerprint"] and manifest["versions"]["torch"]
    assert (out / "value_head" / "value_head.safetensors").is_file() and not list(out.glob("*.pt")) + list(
        out.glob("*.bin")
    )
    assert [f.name for f in out.glob("*.safetensors")] == ["model.safetensors"]  # vLLM loads every top-level one


def test_ppo_separate_critic_from_the_reward_model_writes_critic_dir(cli, tiny_model, data, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    rm = tmp_path / "rm"
    AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1).save_pretrained(rm)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(rm)
    out = tmp_path / "ppo-critic"
    cli(
        "rlhf",
        data["prompts"],
        "--algo",
        "ppo",
        "--policy",
        tiny_model,
        "--reward-model",
        rm,
        "-o",
        out,
        "--max-steps",
        2,
        "--set",
        "critic=separate",
        "--set",
        "critic_learning_rate=1e-2",
        "--set",
        "batch_size=4",
        "--set",
        "mini_batch_size=2",
        "--set",
        "max_new_tokens=4",
        "--set",
        "save_steps=0",
    )
    _, manifest = _loads(out)
    assert manifest["critic_model"] == str(rm) and manifest["config"]["params"]["critic"] == "separate"
    assert all("loss/value" in h for h in manifest["log_history"])
    assert not (out / "value_head").exists() and not (out / "value_head.safetensors").exists()  # no head on the policy
    critic = out / "critic"
    assert {"config.json", "model.safetensors", "value_head.safetensors"} <= {f.name for f in critic.iterdir()}
    assert not list(critic.glob("*.pt")) + list(critic.glob("*.bin"))
    trunk = AutoModel.from_pretrained(critic)  # a plain HF model directory
    start = AutoModelForSequenceClassification.from_pretrained(rm)
    # Initialised from the reward model (head from its score head), then trained at critic_learning_rate.
    assert not torch.equal(load_file(str(critic / "value_head.safetensors"))["weight"], start.score.weight)
    assert any(not torch.equal(p, start.model.state_dict()[k]) for k, p in trunk.state_dict().items())


def test_ppo_lora_saves_a_merged_model(cli, tiny_model, data, tmp_path):
    out = tmp_path / "ppo-lora"
    cli(
        "rlhf",
        data["prompts"],
        "--algo",
        "ppo",
        "--policy",
        tiny_model,
        "--reward-fn",
        data["fn"],
        "-o",
        out,
        "--lora",
        "--max-steps",
        1,
        "--lr",
        1e-2,
        "--set",
        "batch_size=4",
        "--set",
        "mini_batch_size=4",
        "--set",
        "max_new_tokens=4",
    )
    model, manifest = _loads(out)
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert manifest["config"]["params"]["lora"] is True and manifest["ref_model"] == "policy (adapters off)"


@pytest.mark.parametrize("lora", [False, True])
def test_ppo_resume_continues_from_the_checkpoint_step(tiny_model, data, tmp_path, lora):
    from instructkit.train.ppo.config import PPOConfig
    from instructkit.train.ppo.run import run_ppo

    out = tmp_path / "ppo-resume"
    cfg = PPOConfig(
        max_steps=4,
        batch_size=4,
        mini_batch_size=4,
        ppo_epochs=1,
        max_new_tokens=4,
        save_steps=2,
        lora=lora,
        learning_rate=1e-2,
    )

    def crash(stats):
        if stats["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ppo([data["prompts"]], policy=str(tiny_model), out=out, cfg=cfg, reward_fns=[data["dense"]], log=crash)
    assert not out.exists() and (tmp_path / "ppo-resume.partial" / "checkpoints" / "checkpoint-2").is_dir()
    seen = []
    result = run_ppo(
        [data["prompts"]],
        policy=str(tiny_model),
        out=out,
        cfg=cfg,
        reward_fns=[data["dense"]],
        resume=True,
        log=lambda s: seen.append(s["step"]),
    )
    manifest = json.loads(result["manifest"].read_text())
    assert seen == [3, 4]  # resumed after step 2, not from scratch
    assert [h["step"] for h in manifest["log_history"]] == [1, 2, 3, 4]
    assert manifest["resumed_from"].endswith("checkpoint-2")
    # The resumed run started from the checkpoint's weights, not the base: step 3's KL to the reference
    # is that of a policy already updated twice (a fresh start would have KL exactly 0 at its first step).
    assert abs(manifest["log_history"][2]["objective/kl"]) > 1e-6


@pytest.mark.parametrize("algo", ["grpo", "rloo"])
def test_online_trl_algos_smoke(cli, tiny_model, data, tmp_path, algo):
    out = tmp_path / algo
    cli(
        "rlhf",
        data["prompts"],
        "--algo",
        algo,
        "--policy",
        tiny_model,
        "--reward-fn",
        data["fn"],
        "-o",
        out,
        "--max-steps",
        2,
        "--set",
        "batch_size=4",
        "--set",
        "num_generations=4",
        "--set",
        "max_completion_length=6",
        "--set",
        "logging_steps=1",
    )
    _, manifest = _loads(out)
    assert manifest["stage"] == f"rlhf-{algo}"
    logged = [h for h in manifest["log_history"] if "reward" in h]
    assert len(logged) == 2 and all("kl" in h and "entropy" in h for h in logged)
    assert manifest["config"]["trainer"]["num_generations"] == 4 and manifest["config"]["trainer"]["beta"] == 0.04


def test_dpo_smoke_with_loss_variant_and_heldout_margins(cli, tiny_model, data, tmp_path):
    out = tmp_path / "dpo"
    cli(
        "rlhf",
        data["prefs"],
        "--algo",
        "dpo",
        "--policy",
        tiny_model,
        "-o",
        out,
        "--loss",
        "ipo",
        "--max-steps",
        2,
        "--set",
        "batch_size=4",
        "--set",
        "eval_split=0.25",
        "--set",
        "logging_steps=1",
    )
    _, manifest = _loads(out)
    assert manifest["config"]["trainer"]["loss_type"] == ["ipo"]
    assert all("rewards/margins" in h and "rewards/accuracies" in h for h in manifest["log_history"] if "loss" in h)
    assert {
        "heldout_start_logp_margin",
        "heldout_logp_margin",
        "heldout_reward_margin",
        "heldout_reward_accuracy",
    } <= set(manifest["metrics"])


def test_kto_on_pairs_and_on_unpaired_labels(cli, tiny_model, data, tmp_path):
    out = tmp_path / "kto"
    cli(
        "rlhf",
        data["prefs"],
        data["unpaired"],
        "--algo",
        "kto",
        "--policy",
        tiny_model,
        "-o",
        out,
        "--max-steps",
        2,
        "--set",
        "batch_size=4",
        "--set",
        "logging_steps=1",
    )
    _, manifest = _loads(out)
    assert manifest["data"]["train_rows"] == 2 * 12 + 12  # a pair gives two rows, an unpaired record one
    assert any("rewards/margins" in h for h in manifest["log_history"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--algo", "ppo"], "needs a reward"),
        (["--algo", "dpo"], "needs 'preference' records"),
        (["--algo", "grpo", "--reward-fn", "x:y", "--ref-model", "z"], "--ref-model"),
        (["--algo", "dpo", "--loss", "nope"], "loss_type must be one of"),
        (["--algo", "ppo", "--set", "no_such_knob=1"], "unknown key"),
        (["--algo", "ppo", "--set", "batch_size=6", "--set", "mini_batch_size=4"], "multiple of"),
        (["--algo", "bogus"], "unknown --algo"),
        (["--algo", "ppo", "--reward-fn", "no_such_module_xyz:f"], "cannot import"),
        (["--algo", "ppo", "--reward-fn", "x:y", "--set", "critic_model=rm"], "only with critic=separate"),
        (["--algo", "ppo", "--reward-fn", "x:y", "--set", "critic=both"], "critic"),
    ],
)
def test_user_errors_exit_2_with_one_line(cli, tiny_model, data, tmp_path, args, message):
    result = cli("rlhf", data["prompts"], "--policy", tiny_model, "-o", tmp_path / "x", *args, ok=False)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_reward_model_must_be_a_classifier(cli, tiny_model, data, tmp_path):
    result = cli(
        "rlhf",
        data["prompts"],
        "--algo",
        "ppo",
        "--policy",
        tiny_model,
        "--reward-model",
        tiny_model,
        "-o",
        tmp_path / "x",
        ok=False,
    )
    assert result.exit_code == 2 and "not a reward model" in result.output


def test_help_lists_options_and_example(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich shortens long option names in narrow terminals
    out = cli("rlhf", "--help").output
    for opt in (
        "--algo",
        "--policy",
        "--reward-model",
        "--reward-fn",
        "--ref-model",
        "--loss",
        "--lora",
        "--resume",
        "--trust-remote-code",
        "Example:",
    ):
        assert opt in out
    listed = cli("rlhf", "x", "--algo", "ppo", "--policy", "p", "-o", "o", "--list-params").output
    assert "kl_target" in listed and "cliprange" in listed


@pytest.mark.parametrize("algo", ["ppo", "grpo", "dpo"])
def test_gpu_recipes_are_valid_configs(algo):
    from pathlib import Path

    from instructkit.train.common import load_params
    from instructkit.train.rlhf import params_class

    path = Path(__file__).resolve().parents[2] / "recipes" / f"rlhf-{algo}-gpu.yaml"
    assert path.read_text().startswith("# instructkit rlhf ")  # the header comment gives the command
    load_params(params_class(algo), config=path)  # every key is known and well-typed
