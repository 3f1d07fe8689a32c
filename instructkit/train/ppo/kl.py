"""The KL penalty to the frozen reference and its coefficient controllers (Ziegler et al. 2019,
arXiv:1909.08593, section 2.2; used by Ouyang et al. 2022, eq. 2)."""

from __future__ import annotations

import torch


def per_token_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The sampled estimate of KL(pi || pi_ref) per token, log pi(y_t) - log pi_ref(y_t) (the "k1"
    estimator: unbiased for the sequence KL because the tokens are sampled from pi); 0 where masked."""
    return (logprobs - ref_logprobs) * mask.to(logprobs.dtype)


def shaped_rewards(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """Per-token rewards R_t = -beta * KL_t, plus the sequence score on the last real token.

    This is R(x, y) = r(x, y) - beta * log(pi(y|x) / pi_ref(y|x)) of Ziegler et al. 2019 (eq. 2),
    spread over tokens so that GAE sees the penalty where it is incurred.

    Args:
        scores: ``[B]`` sequence scores (reward model and/or functions, normalised).
        kl: ``[B, T]`` per-token KL estimates (already masked).
        mask: ``[B, T]`` 1 on real completion tokens; every row must have at least one.
        kl_coef: beta.
    """
    rewards = -kl_coef * kl
    last = mask.long().sum(1).clamp(min=1) - 1  # completions are left-aligned: index of EOS/last token
    rewards[torch.arange(rewards.shape[0]), last] += scores.to(rewards.dtype)
    return rewards * mask.to(rewards.dtype)


class FixedKLController:
    """A constant beta."""

    def __init__(self, kl_coef: float):
        self.value = kl_coef

    def update(self, current_kl: float, n_samples: int) -> None:
        pass


class AdaptiveKLController:
    """Ziegler et al. 2019, section 2.2: e_t = clip(KL_t / KL_target - 1, -0.2, 0.2);
    beta_{t+1} = beta_t * (1 + K_beta * e_t), with K_beta = n_samples / horizon (their K_beta = 0.1
    over a horizon of 10,000 samples)."""

    def __init__(self, kl_coef: float, target: float, horizon: int):
        self.value = kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, current_kl: float, n_samples: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_samples / self.horizon


def make_controller(mode: str, kl_coef: float, target: float, horizon: int):
    """The controller named by ``PPOConfig.kl_control``."""
    if mode == "fixed":
        return FixedKLController(kl_coef)
    return AdaptiveKLController(kl_coef, target, horizon)
