"""The PPO loop: rollout batch -> scores -> KL-shaped rewards -> GAE -> K epochs of minibatch updates.

The algorithm of Ziegler et al. 2019 and Ouyang et al. 2022 (section 3.5), with the PPO update of
Schulman et al. 2017 and GAE of Schulman et al. 2016. It runs on ``accelerate``: the same code on
one CPU, one GPU, or ``accelerate launch`` over several (each process samples its own prompts;
gradients are averaged by the prepared module).
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch

from instructkit.errors import ConfigError
from instructkit.records import prompt_of
from instructkit.train.ppo.config import PPOConfig
from instructkit.train.ppo.evaluate import evaluate_policy
from instructkit.train.ppo.gae import gae, masked_mean, whiten
from instructkit.train.ppo.kl import make_controller, per_token_kl, shaped_rewards
from instructkit.train.ppo.losses import policy_loss, value_loss
from instructkit.train.ppo.rewards import RunningMoments, score
from instructkit.train.ppo.rollout import encode_prompts, generate
from instructkit.train.ppo.value import HEAD_NAME, VALUE_DIR, PolicyWithValue, head_file, reference_logprobs


class PPOTrainer:
    """Trains ``policy`` (a loaded causal LM) against reward ``sources`` on prompt ``records``.

    Args:
        cfg: Every hyperparameter.
        policy: The causal LM to train (already loaded; LoRA is applied here when ``cfg.lora``).
        ref_model: The frozen reference, or None with LoRA (the base with adapters off is the reference).
        tokenizer: The policy's tokenizer (chat template required).
        sources: Reward callables (reward-model scorers and/or functions), summed with ``cfg.reward_weights``.
        records: Training prompt records (any kind with a prompt).
        eval_records: Held-out prompt records for the start/end evaluation (may be empty).
        checkpoint_dir: Where ``checkpoint-N`` directories go.
        log: Called with each step's stats (the CLI prints them).
        critic: A separate :class:`~instructkit.train.ppo.critic.Critic` (``cfg.critic == "separate"``),
            trained by its own AdamW at ``critic_learning_rate``; None: a value head on the policy's trunk.
    """

    # The update's losses (A2C, algos/a2c.py, swaps in unclipped ones).
    policy_loss = staticmethod(policy_loss)
    value_loss = staticmethod(value_loss)

    def __init__(
        self,
        cfg: PPOConfig,
        *,
        policy,
        ref_model,
        tokenizer,
        sources: list[Callable],
        records: list[dict],
        eval_records: list[dict] | None = None,
        checkpoint_dir: Path | None = None,
        log: Callable[[dict], None] | None = None,
        accelerator=None,
        critic=None,
    ):
        from accelerate import Accelerator

        from instructkit.train.common import device_info, resolve_bf16

        self.cfg, self.tokenizer, self.sources = cfg, tokenizer, sources
        self.records, self.eval_records = records, eval_records or []
        self.checkpoint_dir, self.log = checkpoint_dir, log or (lambda stats: None)
        bf16 = resolve_bf16(cfg.bf16, device_info())
        self.accelerator = accelerator or Accelerator(mixed_precision="bf16" if bf16 else "no")
        if cfg.lora and not hasattr(policy, "disable_adapter"):
            from peft import LoraConfig, get_peft_model

            target = cfg.lora_target_modules
            policy = get_peft_model(
                policy,
                LoraConfig(
                    r=cfg.lora_r,
                    lora_alpha=cfg.lora_alpha,
                    lora_dropout=cfg.lora_dropout,
                    task_type="CAUSAL_LM",
                    target_modules=target[0] if target == ["all-linear"] else target,
                ),
            )
        # Dropout off everywhere: rollout and update must score tokens with the same policy, or the
        # ratio pi/pi_old is not 1 on the first minibatch (TRL's former PPO did the same).
        policy.eval()
        self.ref_model = ref_model
        if ref_model is not None:
            ref_model.eval().requires_grad_(False).to(self.accelerator.device)
        if (critic is None) != (cfg.critic == "shared"):
            raise ValueError(f"critic={cfg.critic} needs {'a' if critic is None else 'no'} separate critic model")
        model = PolicyWithValue(policy, value_head=critic is None)
        self.model, self.optimizer = self.accelerator.prepare(model, self._adamw(model, cfg.learning_rate))
        self.critic = self.critic_optimizer = None
        if critic is not None:
            lr = cfg.critic_learning_rate if cfg.critic_learning_rate is not None else cfg.learning_rate
            critic.eval()  # dropout off: rollout and update values come from one function
            self.critic, self.critic_optimizer = self.accelerator.prepare(critic, self._adamw(critic, lr))
        self.kl_ctl = make_controller(cfg.kl_control, cfg.kl_coef, cfg.kl_target, cfg.kl_horizon)
        self.moments = RunningMoments()
        self.step, self.history = 0, []
        self.prompt_ids = encode_prompts(tokenizer, [prompt_of(r) for r in records], cfg.max_prompt_length)

    # --- pieces -------------------------------------------------------------------------------

    def _adamw(self, module, lr: float) -> torch.optim.AdamW:
        params = [p for p in module.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=lr, weight_decay=self.cfg.weight_decay)

    @property
    def unwrapped(self) -> PolicyWithValue:
        return self.accelerator.unwrap_model(self.model)

    @property
    def unwrapped_critic(self):
        """The separate critic (None with the shared value head)."""
        return None if self.critic is None else self.accelerator.unwrap_model(self.critic)

    def forward(self, ids, attn, pos, n) -> dict[str, torch.Tensor]:
        """Policy log-probs and entropies, and values from the value head or the separate critic."""
        out = self.model(ids, attn, pos, n, self.cfg.temperature, with_values=self.critic is None)
        if self.critic is not None:
            out["values"] = self.critic(ids, attn, pos, n)
        return out

    def _step(self, loss, module, optimizer) -> None:
        self.accelerator.backward(loss)
        if self.cfg.max_grad_norm:
            self.accelerator.clip_grad_norm_(module.parameters(), self.cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def ref_logprobs(self, ids, attn, pos, n):
        """Reference log-probs: the frozen model, or the LoRA policy with its adapters switched off."""
        if self.ref_model is None:
            policy = self.unwrapped.policy
            with policy.disable_adapter():
                return reference_logprobs(policy, ids, attn, pos, n, self.cfg.temperature)
        return reference_logprobs(self.ref_model, ids, attn, pos, n, self.cfg.temperature)

    def batch_indices(self, step: int) -> list[int]:
        """Prompt indices of a step: consecutive slices of seeded per-epoch permutations, distinct per
        process; a pure function of the step, so a resumed run sees the same prompts."""
        n, b = len(self.records), self.cfg.batch_size
        start = (step * self.accelerator.num_processes + self.accelerator.process_index) * b
        out = []
        for pos in range(start, start + b):
            epoch, i = divmod(pos, n)
            perm = list(range(n))
            random.Random(self.cfg.seed + epoch).shuffle(perm)
            out.append(perm[i])
        return out

    @torch.no_grad()
    def rollout(self, idx: list[int]) -> dict:
        """Sample, score, and compute everything the update needs (old log-probs, values, advantages)."""
        cfg = self.cfg
        roll = generate(
            self.unwrapped.policy,
            self.tokenizer,
            [self.prompt_ids[i] for i in idx],
            max_new_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature,
            top_k=cfg.top_k,
            top_p=cfg.top_p,
        )
        recs = [self.records[i] for i in idx]
        columns = {k: [r.get(k) for r in recs] for k in recs[0] if k not in ("prompt", "messages", "completion")}
        columns["completion_ids"] = [
            r[: int(m.sum())].tolist() for r, m in zip(roll.response, roll.response_mask, strict=True)
        ]
        raw, per_source = score(
            self.sources, cfg.reward_weights, [prompt_of(r) for r in recs], roll.completions, **columns
        )
        scores = raw.clone()
        if cfg.missing_eos_penalty is not None:
            scores[~roll.has_eos.cpu()] += cfg.missing_eos_penalty
        if cfg.reward_norm:
            self.moments.update(self.accelerator.gather(scores.to(self.accelerator.device)).cpu())
            scores = self.moments.normalise(scores)
        scores = scores.clamp(-cfg.reward_clip, cfg.reward_clip).to(self.accelerator.device)
        ids, attn, pos = roll.full()
        n, mask = roll.response.shape[1], roll.response_mask
        out = self.forward(ids, attn, pos, n)
        ref = self.ref_logprobs(ids, attn, pos, n)
        kl = per_token_kl(out["logprobs"], ref, mask)
        rewards = shaped_rewards(scores, kl, mask, self.kl_ctl.value)
        advantages, returns = gae(rewards, out["values"], mask, gamma=cfg.gamma, lam=cfg.lam)
        if cfg.whiten_advantages:
            advantages = whiten(advantages, mask)
        stats = {
            "reward/mean": float(raw.mean()),
            "reward/std": float(raw.std()) if len(raw) > 1 else 0.0,
            "reward/normalised": float(scores.mean()),
            **{f"reward/{k}": v for k, v in per_source.items()},
            "objective/kl": float(kl.sum(1).mean()),
            "objective/kl_coef": self.kl_ctl.value,
            "policy/entropy": float(masked_mean(out["entropy"], mask)),
            "response/length": float(mask.sum(1).float().mean()),
            "response/eos_fraction": float(roll.has_eos.float().mean()),
        }
        return {
            "ids": ids,
            "attn": attn,
            "pos": pos,
            "mask": mask,
            "n": n,
            "old_logprobs": out["logprobs"],
            "old_values": out["values"],
            "advantages": advantages,
            "returns": returns,
            "stats": stats,
        }

    def update(self, batch: dict) -> dict[str, float]:
        """``ppo_epochs`` passes of minibatch steps over one rollout batch (Schulman et al. 2017, Alg. 1)."""
        cfg, sums, count = self.cfg, {}, 0
        size = batch["ids"].shape[0]
        for _ in range(cfg.ppo_epochs):
            perm = torch.randperm(size)
            for start in range(0, size, cfg.mini_batch_size):
                mb = perm[start : start + cfg.mini_batch_size].to(batch["ids"].device)
                mask = batch["mask"][mb]
                out = self.forward(batch["ids"][mb], batch["attn"][mb], batch["pos"][mb], batch["n"])
                pg, pg_stats = self.policy_loss(
                    out["logprobs"], batch["old_logprobs"][mb], batch["advantages"][mb], mask, cliprange=cfg.cliprange
                )
                vf, vf_stats = self.value_loss(
                    out["values"],
                    batch["old_values"][mb],
                    batch["returns"][mb],
                    mask,
                    cliprange_value=cfg.cliprange_value,
                )
                entropy = masked_mean(out["entropy"], mask)
                if self.critic is None:  # one trunk, one loss (vf_coef balances the two objectives)
                    loss = pg + cfg.vf_coef * vf - cfg.ent_coef * entropy
                    self._step(loss, self.model, self.optimizer)
                else:  # two models, two optimizers: the value loss never reaches the policy
                    loss = pg - cfg.ent_coef * entropy
                    self._step(loss, self.model, self.optimizer)
                    self._step(vf, self.critic, self.critic_optimizer)
                stats = {
                    "loss/policy": pg,
                    "loss/value": vf,
                    "loss/total": loss,
                    "policy/clipfrac": pg_stats["clipfrac"],
                    "policy/approx_kl": pg_stats["approx_kl"],
                    "value/clipfrac": vf_stats["vf_clipfrac"],
                }
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
                count += 1
        return {k: v / count for k, v in sums.items()}

    # --- loop ---------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, float]:
        """Reward and KL on the held-out prompts ({} when there are none)."""
        if not self.eval_records:
            return {}
        return evaluate_policy(
            self.unwrapped.policy,
            self.tokenizer,
            self.eval_records[: self.cfg.eval_max_prompts],
            self.sources,
            ref_fn=self.ref_logprobs,
            max_new_tokens=self.cfg.max_new_tokens,
            max_prompt_length=self.cfg.max_prompt_length,
            temperature=self.cfg.temperature,
            batch_size=self.cfg.batch_size,
            weights=self.cfg.reward_weights,
        )

    def train(self) -> dict:
        """Run until ``cfg.max_steps``; returns the final metrics (the last step's stats and held-out eval)."""
        cfg = self.cfg
        metrics: dict = {}
        if self.step == 0 and self.eval_records:
            metrics.update({f"eval/start_{k}": v for k, v in self.evaluate().items()})
        while self.step < cfg.max_steps:
            t0 = time.time()
            batch = self.rollout(self.batch_indices(self.step))
            t1 = time.time()
            stats = {**batch["stats"], **self.update(batch)}
            n_samples = batch["ids"].shape[0] * self.accelerator.num_processes
            self.kl_ctl.update(stats["objective/kl"], n_samples)
            self.step += 1
            stats.update(
                {"step": self.step, "time/rollout_s": round(t1 - t0, 4), "time/update_s": round(time.time() - t1, 4)}
            )
            self.history.append(stats)
            self.log(stats)
            if cfg.save_steps and self.step % cfg.save_steps == 0 and self.step < cfg.max_steps:
                self.save_checkpoint()
        last = self.history[-1] if self.history else {}
        metrics.update({k: v for k, v in last.items() if k != "step"})
        metrics["steps"] = self.step
        if self.eval_records:
            metrics.update({f"eval/end_{k}": v for k, v in self.evaluate().items()})
        return metrics

    # --- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self) -> Path | None:
        """``checkpoint-N/``: policy weights (or LoRA adapter), value head or ``critic/`` (with its optimizer
        state), optimizer, loop state."""
        self.accelerator.wait_for_everyone()
        if self.checkpoint_dir is None or not self.accelerator.is_main_process:
            return None
        path = Path(self.checkpoint_dir) / f"checkpoint-{self.step}"
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.unwrapped.policy.save_pretrained(tmp)
        self._save_values(tmp)
        torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
        if self.critic is not None:
            torch.save(self.critic_optimizer.state_dict(), tmp / "critic_optimizer.pt")
        state = {
            "step": self.step,
            "kl_coef": self.kl_ctl.value,
            "moments": self.moments.state_dict(),
            "history": self.history,
            "torch_rng": torch.get_rng_state().tolist(),
        }
        (tmp / "trainer_state.json").write_text(json.dumps(state))
        tmp.rename(path)
        done = sorted(Path(self.checkpoint_dir).glob("checkpoint-*[0-9]"), key=lambda p: int(p.name.split("-")[-1]))
        for old in done[: max(0, len(done) - max(1, self.cfg.save_total_limit))]:
            shutil.rmtree(old, ignore_errors=True)
        return path

    def load_checkpoint(self, path: Path) -> None:
        """Restore the state ``save_checkpoint`` wrote (policy weights, and a separate critic's weights from
        ``critic/``, are loaded by the caller; a LoRA adapter is loaded here)."""
        path = Path(path)
        if self.cfg.lora:
            from peft import set_peft_model_state_dict
            from safetensors.torch import load_file

            set_peft_model_state_dict(self.unwrapped.policy, load_file(path / "adapter_model.safetensors"))
        if (path / "critic").is_dir() != (self.critic is not None):
            raise ConfigError(
                f"{path} was written with critic={'shared' if self.critic is not None else 'separate'}",
                hint="resume with the critic setting of the interrupted run",
            )
        if self.critic is None:
            self.unwrapped.load_head(head_file(path))
        else:
            state = torch.load(path / "critic_optimizer.pt", map_location="cpu", weights_only=True)
            self.critic_optimizer.load_state_dict(state)
        self.optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
        state = json.loads((path / "trainer_state.json").read_text())
        self.step, self.history = state["step"], state["history"]
        self.kl_ctl.value = state["kl_coef"]
        self.moments.load_state_dict(state["moments"])
        torch.set_rng_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))

    def save_model(self, out: Path) -> None:
        """The final policy as a plain HF model dir (LoRA merged into the weights) plus tokenizer."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        policy = self.unwrapped.policy
        if self.cfg.lora:
            policy = policy.merge_and_unload()
        policy.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        self._save_values(Path(out))

    def _save_values(self, path: Path) -> None:
        """The shared value head (``value_head/value_head.safetensors``) or the separate critic (``critic/``).

        Both live in a subfolder: vLLM loads every ``*.safetensors`` at the top of a model directory that
        has no index, so a second weights file there would break loading the policy.
        """
        if self.critic is None:
            (path / VALUE_DIR).mkdir(parents=True, exist_ok=True)
            self.unwrapped.save_head(path / VALUE_DIR / HEAD_NAME)
        else:
            self.unwrapped_critic.save(path / "critic", self.tokenizer)
