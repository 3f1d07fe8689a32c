"""PPO losses on completion tokens (Schulman et al. 2017, arXiv:1707.06347), token-level as in
Ziegler et al. 2019 and Ouyang et al. 2022: every completion token is one action."""

from __future__ import annotations

import torch

from instructkit.train.ppo.gae import masked_mean


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    cliprange: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate: L = -E[min(r A, clip(r, 1-eps, 1+eps) A)], r = exp(logp - logp_old)
    (Schulman et al. 2017, eq. 7). Returns the loss and stats: clip fraction (share of tokens where
    the clipped term is the active one) and the approximate KL to the rollout policy,
    0.5 * E[(logp - logp_old)^2].
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    stats = {
        "clipfrac": masked_mean((clipped > unclipped).float(), mask).detach(),
        "approx_kl": (0.5 * masked_mean(log_ratio**2, mask)).detach(),
        "ratio": masked_mean(ratio, mask).detach(),
    }
    return loss, stats


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, *, cliprange_value: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped value loss: 0.5 * E[max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)], the form of
    the OpenAI baselines PPO2 code that Ziegler et al. 2019 build on."""
    clipped_values = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    loss1 = (values - returns) ** 2
    loss2 = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(loss1, loss2), mask)
    stats = {"vf_clipfrac": masked_mean((loss2 > loss1).float(), mask).detach()}
    return loss, stats


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy of the categorical softmax(logits): logsumexp(z) - sum p z."""
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[token] for each position: ``[B, T, V]``, ``[B, T]`` -> ``[B, T]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return torch.gather(logp, 2, tokens.unsqueeze(-1)).squeeze(-1)
