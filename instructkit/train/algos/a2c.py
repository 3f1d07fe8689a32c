"""``--algo a2c``: advantage actor-critic on the PPO machinery (rollouts, KL-shaped rewards, GAE, value
head or separate critic), with one gradient step per rollout batch and no ratio or value clipping.

The policy loss is the plain policy gradient with GAE advantages, ``-E[A * log pi(a|s)]`` (Mnih et al.
2016, A3C, arXiv:1602.01783, synchronous as in A2C; Schulman et al. 2016 for GAE), the value loss
``0.5 * E[(V - R)^2]``. With one update per rollout the samples are on-policy, so no importance ratio
is needed: at that single step PPO's ratio would be exactly 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from instructkit.errors import ConfigError
from instructkit.train.algos import register
from instructkit.train.algos.ppo import PPO
from instructkit.train.ppo.config import PPOParams


@dataclass(kw_only=True)
class A2CParams(PPOParams):
    ppo_epochs: int = field(default=1, metadata={"help": "Updates per rollout batch: A2C makes exactly one."})
    mini_batch_size: int | None = field(
        default=None, metadata={"help": "Samples per gradient step; None: the whole rollout batch (one step)."}
    )

    def __post_init__(self) -> None:
        if self.ppo_epochs != 1:
            raise ConfigError(f"a2c makes one update per rollout: ppo_epochs must be 1, got {self.ppo_epochs}")
        if self.mini_batch_size is None:
            self.mini_batch_size = self.batch_size
        if self.mini_batch_size != self.batch_size:
            raise ConfigError(
                f"a2c makes one update per rollout: mini_batch_size ({self.mini_batch_size}) must equal "
                f"batch_size ({self.batch_size})",
                hint="leave mini_batch_size unset",
            )
        super().__post_init__()


def a2c_policy_loss(logprobs, old_logprobs, advantages, mask, *, cliprange: float = 0.0):
    """``-E[A * log pi]`` over completion tokens; stats as PPO's (clip fraction 0: nothing is clipped)."""
    import torch

    from instructkit.train.ppo.gae import masked_mean

    log_ratio = logprobs - old_logprobs
    loss = -masked_mean(advantages * logprobs, mask)
    stats = {
        "clipfrac": torch.zeros((), device=logprobs.device),
        "approx_kl": (0.5 * masked_mean(log_ratio**2, mask)).detach(),
        "ratio": masked_mean(torch.exp(log_ratio), mask).detach(),
    }
    return loss, stats


def a2c_value_loss(values, old_values, returns, mask, *, cliprange_value: float = 0.0):
    """``0.5 * E[(V - R)^2]`` over completion tokens (no clipping around the rollout values)."""
    import torch

    from instructkit.train.ppo.gae import masked_mean

    loss = 0.5 * masked_mean((values - returns) ** 2, mask)
    return loss, {"vf_clipfrac": torch.zeros((), device=values.device)}


def _trainer_class():
    from instructkit.train.ppo.trainer import PPOTrainer

    class A2CTrainer(PPOTrainer):
        policy_loss = staticmethod(a2c_policy_loss)
        value_loss = staticmethod(a2c_value_loss)

    return A2CTrainer


@register
class A2C(PPO):
    name = "a2c"
    params = A2CParams

    @property
    def trainer_class(self):  # type: ignore[override]
        return _trainer_class()
