"""The training stages on the registry: one vocabulary (``--set max_steps=N`` for sft, reward and every
rlhf algorithm), old flag spellings as aliases, the RL algorithm registry, summaries in the Result."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_rlhf_helpers import write_prompts, write_reward_fn

from instructkit import registry
from instructkit.errors import ConfigError

ALGOS = ["a2c", "dpo", "grpo", "kto", "ppo", "rloo"]


@pytest.mark.parametrize(
    "stage, flags",
    [("sft", {"model": "m"}), ("reward", {"model": "m"})] + [("rlhf", {"algo": a, "policy": "p"}) for a in ALGOS],
)
def test_set_max_steps_works_for_every_stage_and_algorithm(stage, flags):
    params = registry.build_params(registry.get(stage), sets={"max_steps": 4}, flags=flags)
    assert params.max_steps == 4
    # the flag wins over --set, the same key in both
    assert (
        registry.build_params(registry.get(stage), sets={"max_steps": 4}, flags={**flags, "max_steps": 2}).max_steps
        == 2
    )


def test_algorithm_registry_finds_every_module_and_lists_names_on_a_miss():
    from instructkit.train.algos import lookup, names
    from instructkit.train.rlhf import RLHFParams, params_class

    assert names() == ALGOS
    for name in ALGOS:
        algo = lookup(name)
        assert algo.name == name and issubclass(algo.params, RLHFParams) and params_class(name) is algo.params
        assert algo.kinds and algo.summary_keys and algo.stage == f"rlhf-{name}"
    with pytest.raises(ConfigError, match="unknown --algo 'nope'") as exc:
        lookup("nope")
    assert "a2c, dpo, grpo, kto, ppo, rloo" in str(exc.value)


def test_no_algorithm_is_named_outside_its_module():
    root = Path(__file__).resolve().parents[2] / "instructkit"
    for path in [root / "train" / "rlhf.py", root / "train" / "runner.py", root / "stages.py"]:
        assert not re.search(r"algo\s*(==|in)\s*", path.read_text()), path
    assert not (root / "cli" / "rlhf.py").exists() and not (root / "cli" / "sft.py").exists()


def test_loss_is_refused_where_an_algorithm_has_no_variants():
    with pytest.raises(ConfigError, match="does not apply"):
        registry.build_params(registry.get("rlhf"), flags={"algo": "ppo", "policy": "p", "loss_type": "ipo"})
    dpo = registry.build_params(registry.get("rlhf"), flags={"algo": "dpo", "policy": "p", "loss_type": "ipo,hinge"})
    assert dpo.loss_type == ["ipo", "hinge"]


def test_old_flag_spellings_are_aliases(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out = cli("sft", "--help").output
    for flag in ("--lr", "--epochs", "--grad-accum", "--max-steps", "-m", "--model", "--resume", "--force"):
        assert flag in out, flag
    listed = cli("rlhf", "x", "--algo", "dpo", "-m", "p", "-o", "o", "--list-params").output
    assert "label_smoothing" in listed and "kl_target" not in listed


def test_ppo_set_max_steps_end_to_end_with_summary(cli, tiny_model, tmp_path):
    prompts = write_prompts(tmp_path / "prompts", n=8)
    out = tmp_path / "ppo"
    r = cli(
        "rlhf",
        prompts,
        "-a",
        "ppo",
        "-m",
        tiny_model,
        "--reward-fn",
        write_reward_fn(tmp_path, "chars"),
        "-o",
        out,
        "--set",
        "max_steps=2",
        "--batch-size",
        "4",
        "--set",
        "mini_batch_size=4",
        "--set",
        "max_new_tokens=4",
        "--set",
        "save_steps=0",
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert [h["step"] for h in manifest["log_history"]] == [1, 2]
    params = manifest["config"]["params"]
    assert params["max_steps"] == 2 and params["algo"] == "ppo" and params["policy"] == str(tiny_model)
    assert "force" not in params and "resume" not in params
    assert "reward/mean" in r.output and str(out) in r.output


def test_a2c_losses_by_hand():
    import torch

    from instructkit.train.algos.a2c import a2c_policy_loss, a2c_value_loss

    logp = torch.tensor([[-1.0, -2.0, -0.5]])
    old = torch.tensor([[-1.0, -1.0, -0.5]])
    adv = torch.tensor([[2.0, -1.0, 4.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])  # the third token is padding
    loss, stats = a2c_policy_loss(logp, old, adv, mask)
    # -(2 * -1 + -1 * -2) / 2 = 0: no ratio, no clipping, padding ignored
    assert loss.item() == pytest.approx(0.0) and stats["clipfrac"].item() == 0.0
    assert stats["approx_kl"].item() == pytest.approx(0.5 * (0 + 1) / 2)
    loss, _ = a2c_policy_loss(torch.tensor([[-0.5, -0.25]]), old[:, :2], torch.tensor([[1.0, 2.0]]), mask[:, :2])
    assert loss.item() == pytest.approx(-(1 * -0.5 + 2 * -0.25) / 2)  # = 0.5
    # a gradient step raises the log-prob of the positive-advantage token: dL/dlogp = -A / n
    lp = torch.tensor([[-0.5, -0.25]], requires_grad=True)
    a2c_policy_loss(lp, old[:, :2], torch.tensor([[1.0, -2.0]]), mask[:, :2])[0].backward()
    assert lp.grad.tolist() == [[-0.5, 1.0]]
    v = torch.tensor([[1.0, 3.0, 9.0]])
    vloss, _ = a2c_value_loss(v, torch.zeros_like(v), torch.tensor([[2.0, 1.0, 0.0]]), mask)
    assert vloss.item() == pytest.approx(0.5 * (1 + 4) / 2)  # unclipped: old values play no part


def test_a2c_params_make_one_update_per_rollout():
    from instructkit.train.algos.a2c import A2CParams

    p = registry.build_params(registry.get("rlhf"), flags={"algo": "a2c", "policy": "p", "batch_size": 4})
    assert isinstance(p, A2CParams) and p.ppo_epochs == 1 and p.mini_batch_size == 4
    with pytest.raises(ConfigError, match="ppo_epochs must be 1"):
        A2CParams(ppo_epochs=2)


def test_a2c_smoke(cli, tiny_model, tmp_path):
    out = tmp_path / "a2c"
    cli(
        "rlhf",
        write_prompts(tmp_path / "prompts", n=8),
        "--algo",
        "a2c",
        "--policy",
        tiny_model,
        "--reward-fn",
        write_reward_fn(tmp_path, "chars"),
        "-o",
        out,
        "--max-steps",
        2,
        "--batch-size",
        4,
        "--set",
        "max_new_tokens=4",
        "--set",
        "save_steps=0",
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "rlhf-a2c" and [h["step"] for h in manifest["log_history"]] == [1, 2]
    assert all(h["policy/clipfrac"] == 0.0 for h in manifest["log_history"])
