"""PPO with a separate critic (critic=separate, InstructGPT's value model initialised from the reward model)
on the tiny model: where its values come from, that it and only it learns the value loss, how it is built,
saved and restored on resume."""

from __future__ import annotations

import pytest
import torch
from test_rlhf_helpers import digits, prompt_records, write_prompts, write_reward_fn


@pytest.fixture(scope="module")
def rm_dir(tiny_model, tmp_path_factory):
    """A one-label reward model on the tiny trunk (random score head, so initial values are not all 0)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path_factory.mktemp("critic-rm") / "rm"
    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1)
    torch.nn.init.normal_(model.score.weight, std=0.5)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def parts(tiny_model):
    from instructkit.train.common import load_causal_lm, load_tokenizer

    return load_tokenizer(tiny_model), lambda: load_causal_lm(tiny_model, dtype="float32")


def _tensors(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _saved_critic(path) -> dict[str, torch.Tensor]:
    """A saved critic/ read straight from its safetensors files (trunk keys, then head keys)."""
    from safetensors.torch import load_file

    trunk = {f"trunk.{k}": v for k, v in load_file(str(path / "model.safetensors")).items()}
    head = {f"value_head.{k}": v for k, v in load_file(str(path / "value_head.safetensors")).items()}
    return {**trunk, **head}


def test_values_come_from_the_critic_and_only_it_learns_the_value_loss(parts, rm_dir):
    from transformers import AutoModelForSequenceClassification

    from instructkit.train.ppo.config import PPOConfig
    from instructkit.train.ppo.critic import load_critic
    from instructkit.train.ppo.trainer import PPOTrainer

    tok, load = parts
    cfg = PPOConfig(
        max_steps=1,
        batch_size=8,
        mini_batch_size=4,
        ppo_epochs=2,
        max_new_tokens=6,
        learning_rate=1e-3,
        save_steps=0,
        critic="separate",
        critic_learning_rate=3e-3,
    )
    critic = load_critic(rm_dir, tokenizer=tok)
    trainer = PPOTrainer(
        cfg,
        policy=load(),
        ref_model=load(),
        tokenizer=tok,
        sources=[digits],
        records=prompt_records(16),
        critic=critic,
    )
    assert trainer.unwrapped.value_head is None  # the policy has no value head at all
    assert [g["lr"] for g in trainer.critic_optimizer.param_groups] == [3e-3]
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [1e-3]
    batch = trainer.rollout(trainer.batch_indices(0))
    m, n = batch["mask"], batch["n"]
    # The rollout's values are the reward model's score head applied to its own trunk's hidden states
    # before each completion token: a direct forward of the RM, independent of the Critic class.
    rm = AutoModelForSequenceClassification.from_pretrained(rm_dir).eval()
    with torch.no_grad():
        hidden = rm.model(input_ids=batch["ids"], attention_mask=batch["attn"], position_ids=batch["pos"])
        direct = rm.score(hidden.last_hidden_state[:, -n - 1 : -1]).squeeze(-1)
    torch.testing.assert_close(batch["old_values"] * m, direct * m, atol=1e-4, rtol=0)
    assert float((batch["old_values"] * m).abs().sum()) > 0.1  # not the zero head of a fresh value head
    critic_before, policy_before = _tensors(trainer.unwrapped_critic), _tensors(trainer.unwrapped.policy)
    stats = trainer.update(batch)
    assert stats["loss/value"] > 0
    critic_after, policy_after = _tensors(trainer.unwrapped_critic), _tensors(trainer.unwrapped.policy)
    assert not torch.equal(critic_before["value_head.weight"], critic_after["value_head.weight"])
    assert any(not torch.equal(critic_before[k], critic_after[k]) for k in critic_before if k.startswith("trunk."))
    assert any(not torch.equal(policy_before[k], policy_after[k]) for k in policy_before)
    assert not any("value_head" in k for k in trainer.unwrapped.state_dict())


def test_load_critic_from_a_causal_lm_and_round_trip(parts, tiny_model, tmp_path):
    from instructkit.train.ppo.critic import load_critic

    tok, load = parts
    critic = load_critic(tiny_model, tokenizer=tok)
    lm = load()
    # The trunk is the causal LM's base model; the head starts at zero (V = 0, as the shared head does).
    assert all(torch.equal(v, lm.model.state_dict()[k]) for k, v in critic.trunk.state_dict().items())
    assert not critic.value_head.weight.any() and not critic.value_head.bias.any()
    with torch.no_grad():
        critic.value_head.weight.normal_()
        critic.value_head.bias.fill_(0.5)
    critic.save(tmp_path / "critic", tok)
    back = load_critic(tmp_path / "critic", tokenizer=tok)
    saved, loaded = _tensors(critic), _tensors(back)
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)


def test_critic_with_another_tokenizer_is_refused(parts, rm_dir, tmp_path):
    import shutil

    from instructkit.errors import ConfigError
    from instructkit.train.ppo.critic import load_critic

    tok, _ = parts
    other = tmp_path / "rm-other"
    shutil.copytree(rm_dir, other)
    from transformers import AutoTokenizer

    t = AutoTokenizer.from_pretrained(other)
    t.add_tokens(["<extra-token>"])
    t.save_pretrained(other)
    with pytest.raises(ConfigError, match="different tokenizer"):
        load_critic(other, tokenizer=tok)


def test_resume_restores_the_critic_weights(tiny_model, tmp_path, monkeypatch):
    from instructkit.train.common import load_tokenizer
    from instructkit.train.ppo.config import PPOConfig
    from instructkit.train.ppo.critic import load_critic
    from instructkit.train.ppo.run import run_ppo
    from instructkit.train.ppo.trainer import PPOTrainer

    prompts = write_prompts(tmp_path / "prompts", n=16)
    fn = write_reward_fn(tmp_path, "chars")
    out = tmp_path / "ppo-critic"
    cfg = PPOConfig(
        max_steps=3,
        batch_size=4,
        mini_batch_size=2,
        ppo_epochs=1,
        max_new_tokens=4,
        save_steps=2,
        learning_rate=1e-3,
        critic="separate",
        critic_learning_rate=1e-2,
    )

    def crash(stats):
        if stats["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ppo([prompts], policy=str(tiny_model), out=out, cfg=cfg, reward_fns=[fn], log=crash)
    ckpt = tmp_path / "ppo-critic.partial" / "checkpoints" / "checkpoint-2"
    assert (ckpt / "critic" / "config.json").is_file() and (ckpt / "critic_optimizer.pt").is_file()
    assert not (ckpt / "value_head.safetensors").exists()
    saved = _saved_critic(ckpt / "critic")
    fresh = _tensors(load_critic(tiny_model, tokenizer=load_tokenizer(tiny_model)))
    assert any(not torch.equal(saved[k], fresh[k]) for k in fresh)  # two steps moved the critic

    seen = {}
    original = PPOTrainer.load_checkpoint

    def spy(self, path):
        original(self, path)
        seen["critic"] = _tensors(self.unwrapped_critic)
        seen["opt_steps"] = [float(s["step"]) for s in self.critic_optimizer.state_dict()["state"].values()]

    monkeypatch.setattr(PPOTrainer, "load_checkpoint", spy)
    result = run_ppo([prompts], policy=str(tiny_model), out=out, cfg=cfg, reward_fns=[fn], resume=True)
    restored = seen["critic"]
    assert restored.keys() == saved.keys() and all(torch.equal(restored[k], saved[k]) for k in saved)
    assert seen["opt_steps"] and all(s == 4.0 for s in seen["opt_steps"])  # 2 iterations x 2 minibatches
    assert (result["path"] / "critic" / "value_head.safetensors").is_file()
