"""``--algo ppo``: our PPO (TRL 1.x has none), the machinery of :mod:`instructkit.train.ppo`.

Rollouts from the policy, scores from a reward model and/or reward functions, a per-token KL penalty to
the frozen reference, GAE advantages, clipped policy and value losses (Ziegler et al. 2019; Ouyang et
al. 2022; Schulman et al. 2016, 2017). One line per iteration on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError
from instructkit.train.algos import register
from instructkit.train.algos.base import REWARD_REQUIRED, Algorithm
from instructkit.train.ppo.config import PPOParams
from instructkit.train.runner import Run, Trained
from instructkit.train.trackers import RUNS, StepTracker, active, run_name

# The per-iteration line: (stats key, short name).
LOG_KEYS = (
    ("reward/mean", "reward"),
    ("objective/kl", "kl"),
    ("objective/kl_coef", "beta"),
    ("policy/entropy", "entropy"),
    ("policy/clipfrac", "clipfrac"),
    ("loss/value", "vf_loss"),
    ("response/length", "len"),
)


def step_logger(name: str, total: int) -> Callable[[dict], None]:
    """One line per iteration on stderr (a log file stays readable; a terminal sees the same)."""

    def log(stats: dict) -> None:
        parts = [f"{short}={stats[k]:.4g}" for k, short in LOG_KEYS if k in stats]
        print(f"{name} step {stats['step']}/{total} " + " ".join(parts), file=sys.stderr, flush=True)

    return log


def _both(first: Callable[[dict], None], second: Callable[[dict], None]) -> Callable[[dict], None]:
    def log(stats: dict) -> None:
        first(stats)
        second(stats)

    return log


@register
class PPO(Algorithm):
    name = "ppo"
    params = PPOParams
    kinds = frozenset({"prompt", "sft", "preference"})
    reward = REWARD_REQUIRED
    accepts_ref_model = True
    summary_keys = (
        "steps",
        "reward/mean",
        "objective/kl",
        "policy/entropy",
        "policy/clipfrac",
        "loss/value",
        "eval/start_reward",
        "eval/end_reward",
        "eval/end_kl",
    )
    trainer_class: Any = None  # the PPOTrainer (a2c swaps in its own update)

    def check(self, p: PPOParams) -> None:
        super().check(p)
        if p.lora and p.ref_model:
            raise ConfigError("with lora the reference is the base model with adapters off: drop --ref-model")
        sources = int(bool(p.reward_model)) + len(p.reward_fn)
        if p.reward_weights is not None and len(p.reward_weights) != sources:
            raise ConfigError(
                f"reward_weights has {len(p.reward_weights)} values for {sources} reward sources (reward model first)"
            )

    def check_tokenizer(self, tokenizer: Any, model: str, p: Any) -> None:
        """Rollouts apply the chat template; a missing one is reported by the rollout code."""

    def prepare(self, run: Run) -> None:
        from accelerate import Accelerator

        from instructkit.train.common import device_info, resolve_bf16
        from instructkit.train.ppo.run import reward_sources

        p = run.params
        if len(run.train) < p.batch_size:
            raise ConfigError(
                f"batch_size {p.batch_size} is larger than the {len(run.train)} training prompts",
                hint="lower --set batch_size (and mini_batch_size) or add prompts",
            )
        self.accelerator = Accelerator(mixed_precision="bf16" if resolve_bf16(p.bf16, device_info()) else "no")
        self.sources = reward_sources(
            p.reward_model,
            list(p.reward_fn),
            device=self.accelerator.device,
            trust_remote_code=p.trust_remote_code,
            batch_size=p.batch_size,
        )
        run.data = {"train_prompts": len(run.train), "eval_prompts": len(run.eval)}

    def train(self, run: Run) -> Trained:
        from instructkit.train.common import load_causal_lm
        from instructkit.train.ppo.trainer import PPOTrainer

        p, tokenizer = run.params, run.tokenizer
        ckpt = run.outdir.resume_from()
        # Full fine-tuning resumes from the checkpoint's weights; LoRA loads the base, then the adapter.
        start_from = ckpt if ckpt and not p.lora else run.model
        model = load_causal_lm(start_from, trust_remote_code=p.trust_remote_code, dtype="float32")
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        ref = None
        if not p.lora:
            ref = load_causal_lm(p.ref_model or run.model, trust_remote_code=p.trust_remote_code, dtype="float32")
        critic = critic_from = None
        if p.critic == "separate":
            from instructkit.train.ppo.critic import load_critic

            # Resume restores the critic's weights from the checkpoint, as it does the policy's.
            saved = Path(ckpt) / "critic" if ckpt else None
            critic_from = p.critic_model or p.reward_model or run.model
            critic = load_critic(
                saved if saved is not None and saved.is_dir() else critic_from,
                tokenizer=tokenizer,
                trust_remote_code=p.trust_remote_code,
            )
        log = run.log or step_logger(self.name, p.max_steps)
        tracker = None
        if active(p.report_to):  # the same trackers (and OUT/runs/ for TensorBoard) as the TRL-backed stages
            from instructkit.params import recorded

            name = run_name(p, run.outdir.out)
            tracker = StepTracker(
                p.report_to, logdir=run.outdir.checkpoints / RUNS / name, name=name, config=recorded(p)
            )
            log = _both(log, tracker.log)
        trainer = (self.trainer_class or PPOTrainer)(
            p,
            policy=model,
            ref_model=ref,
            tokenizer=tokenizer,
            sources=self.sources,
            records=run.train,
            eval_records=run.eval,
            checkpoint_dir=run.outdir.checkpoints,
            log=log,
            accelerator=self.accelerator,
            critic=critic,
        )
        if ckpt:
            trainer.load_checkpoint(Path(ckpt))
        try:
            metrics = trainer.train()
        finally:
            if tracker is not None:
                tracker.close()
        trainer.save_model(run.outdir.model)
        config = {
            "implementation": "instructkit.train.ppo",
            "processes": self.accelerator.num_processes,
            "mixed_precision": self.accelerator.mixed_precision,
        }
        extra = {
            "critic_model": None if critic_from is None else str(critic_from),
            "ref_model": p.ref_model or ("policy (adapters off)" if p.lora else run.model),
        }
        return Trained(metrics, config, trainer.history, extra=extra)
