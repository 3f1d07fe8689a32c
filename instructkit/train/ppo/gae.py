"""Generalised advantage estimation and whitening (Schulman et al. 2016, arXiv:1506.02438).

Tensors are ``[batch, T]`` over completion tokens; ``mask`` is 1 on real completion tokens (up to
and including EOS) and 0 on padding and on anything generated after EOS.
"""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` is 1 (0 where the mask is empty)."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of ``x`` over masked positions (Bessel-corrected by default, as in Ziegler et al. 2019)."""
    mean = masked_mean(x, mask)
    centred = (x - mean) ** 2
    var = masked_mean(centred, mask)
    n = mask.sum()
    if unbiased and n > 1:
        var = var * n / (n - 1)
    return var


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x - mean) / std over masked positions; masked-out positions become 0."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return out * mask.to(x.dtype)


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, *, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns by GAE.

    delta_t = r_t + gamma * V_{t+1} - V_t,  A_t = delta_t + gamma * lam * A_{t+1}  (Schulman et al. 2016,
    eq. 16), with V and A zero past the last real token, so the value after the final token (EOS, or
    the last one of a truncated completion) is 0: each completion is one episode. Returns are
    ``A_t + V_t``, the value targets.

    Args:
        rewards: ``[B, T]`` per-token rewards (KL penalty on every token, score on the last).
        values: ``[B, T]`` value estimates from the rollout.
        mask: ``[B, T]`` 1 on real completion tokens.
        gamma: Discount.
        lam: GAE lambda (1.0 = Monte Carlo returns minus baseline, 0.0 = one-step TD).
    """
    m = mask.to(values.dtype)
    rewards, values = rewards * m, values * m
    T = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(T)):
        next_value = values[:, t + 1] if t + 1 < T else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = (delta + gamma * lam * last) * m[:, t]
        advantages[:, t] = last
    returns = advantages + values
    return advantages, returns
