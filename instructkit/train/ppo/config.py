"""Every knob of our PPO, declared once (``--config`` YAML and ``--set key=value`` fill it).

The knobs every rlhf algorithm shares (policy, rewards, learning rate, seed, LoRA, ...) come from
:class:`~instructkit.train.rlhf.RLHFParams`; the fields redeclared here change a default or say what
the knob means for PPO (``max_steps`` counts rollout iterations, ``batch_size`` prompts per rollout).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from instructkit.errors import ConfigError
from instructkit.train.rlhf import RLHFParams


def _h(text: str) -> dict:
    return {"help": text}


@dataclass(kw_only=True)
class PPOParams(RLHFParams):
    """PPO hyperparameters. Defaults follow Ziegler et al. 2019 / Ouyang et al. 2022 where they
    give a value, scaled down for a single machine; every one is recorded in the manifest."""

    # --- schedule -------------------------------------------------------------------------------
    max_steps: int = field(default=100, metadata=_h("PPO iterations: each one is a rollout batch plus updates."))
    batch_size: int = field(default=16, metadata=_h("Prompts per rollout batch (per process)."))
    mini_batch_size: int = field(default=8, metadata=_h("Samples per gradient step inside a rollout batch."))
    ppo_epochs: int = field(default=4, metadata=_h("Passes over each rollout batch (Schulman et al. 2017: K epochs)."))
    learning_rate: float = field(default=1e-5, metadata=_h("AdamW learning rate (policy and value head)."))
    # --- generation -----------------------------------------------------------------------------
    max_prompt_length: int = field(default=256, metadata=_h("Prompt tokens kept (the last ones)."))
    max_new_tokens: int = field(default=64, metadata=_h("Completion length limit; longer is truncated."))
    temperature: float = field(default=1.0, metadata=_h("Sampling temperature (log-probs use the same)."))
    top_k: int = field(default=0, metadata=_h("Top-k sampling (0 = off: PPO needs the full distribution)."))
    top_p: float = field(default=1.0, metadata=_h("Nucleus sampling (1.0 = off)."))
    missing_eos_penalty: float | None = field(
        default=None,
        metadata=_h(
            "Added to the score of completions that hit max_new_tokens without EOS (e.g. -1.0); None = no penalty."
        ),
    )
    # --- rewards --------------------------------------------------------------------------------
    reward_norm: bool = field(default=True, metadata=_h("Normalise scores by a running mean/std."))
    reward_clip: float = field(default=10.0, metadata=_h("Clip (normalised) scores to [-c, c]."))
    reward_weights: list[float] | None = field(
        default=None, metadata=_h("Weight per reward source (reward model first, then reward fns); None = 1 each.")
    )
    # --- KL penalty (Ziegler et al. 2019) -------------------------------------------------------
    kl_coef: float = field(default=0.05, metadata=_h("Initial KL coefficient beta."))
    kl_control: Literal["adaptive", "fixed"] = field(default="adaptive", metadata=_h("adaptive or fixed beta."))
    kl_target: float = field(default=6.0, metadata=_h("Adaptive controller: target KL per sequence (nats)."))
    kl_horizon: int = field(default=10000, metadata=_h("Adaptive controller: horizon in samples."))
    # --- advantages and losses (Schulman et al. 2016, 2017) -------------------------------------
    gamma: float = field(default=1.0, metadata=_h("Discount (1.0: the episode is one completion)."))
    lam: float = field(default=0.95, metadata=_h("GAE lambda."))
    whiten_advantages: bool = field(default=True, metadata=_h("Whiten advantages per rollout batch."))
    cliprange: float = field(default=0.2, metadata=_h("Policy ratio clip epsilon."))
    cliprange_value: float = field(default=0.2, metadata=_h("Value clip around the rollout values."))
    vf_coef: float = field(default=0.1, metadata=_h("Value loss weight in the shared-trunk loss (critic=shared)."))
    ent_coef: float = field(default=0.0, metadata=_h("Entropy bonus weight (0 = track only)."))
    # --- critic (Ouyang et al. 2022 use a separate value model initialised from the reward model) -
    critic: Literal["shared", "separate"] = field(
        default="shared",
        metadata=_h("shared: a value head on the policy's trunk; separate: its own model and optimizer."),
    )
    critic_model: str | None = field(
        default=None,
        metadata=_h("critic=separate: the model dir to start it from; None = --reward-model, else the policy."),
    )
    critic_learning_rate: float | None = field(
        default=None, metadata=_h("critic=separate: the critic's AdamW learning rate; None = learning_rate.")
    )
    # --- model ----------------------------------------------------------------------------------
    lora_dropout: float = field(default=0.0, metadata=_h("LoRA dropout (0: rollouts and updates see one policy)."))
    bf16: str = field(
        default="auto",
        metadata=_h(
            "Mixed precision: auto (bf16 on a GPU that supports it), true, "
            "false. Weights and optimizer state stay float32."
        ),
    )
    # --- logging, checkpoints, held-out eval ----------------------------------------------------
    save_steps: int = field(default=50, metadata=_h("Write a checkpoint every N iterations (0 = only at the end)."))
    save_total_limit: int = field(default=2, metadata=_h("Checkpoints kept (oldest removed)."))
    eval_split: float = field(default=0.0, metadata=_h("Share of prompts held out for a start/end reward eval."))
    eval_max_prompts: int = field(default=64, metadata=_h("Held-out prompts evaluated at most."))

    def __post_init__(self) -> None:
        if self.batch_size % self.mini_batch_size:
            raise ConfigError(
                f"batch_size {self.batch_size} must be a multiple of mini_batch_size {self.mini_batch_size}"
            )
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0 (PPO samples), got {self.temperature}")
        if self.critic not in ("shared", "separate"):
            raise ConfigError(f"critic must be shared or separate, got {self.critic!r}")
        if self.critic == "shared" and (self.critic_model is not None or self.critic_learning_rate is not None):
            raise ConfigError("critic_model and critic_learning_rate apply only with critic=separate")
        for name in ("max_steps", "batch_size", "mini_batch_size", "ppo_epochs", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        super().__post_init__()


PPOConfig = PPOParams  # the name the PPO modules (and earlier code) use
