"""Reward sources of a PPO run, and ``run_ppo``: the Python entry point of ``rlhf --algo ppo``.

The stage itself is :class:`instructkit.train.algos.ppo.PPO` on the common training skeleton
(:mod:`instructkit.train.runner`): load data and models, train with :class:`PPOTrainer`, write the
model directory (HF ``save_pretrained``) and its manifest, atomically, with checkpoints for ``--resume``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError
from instructkit.train.ppo.config import PPOParams


def reward_sources(
    reward_model: str | None, reward_fns: list[str], *, device, trust_remote_code: bool = False, batch_size: int = 16
) -> list[Callable]:
    """The reward model scorer (first) and the reward functions, in ``reward_weights`` order."""
    from instructkit.train.ppo.rewards import RewardModelScorer, load_reward_fn

    if not reward_model and not reward_fns:
        raise ConfigError("ppo needs a reward: --reward-model RM and/or --reward-fn module:function")
    sources: list[Callable] = []
    if reward_model:
        sources.append(
            RewardModelScorer(reward_model, device=device, trust_remote_code=trust_remote_code, batch_size=batch_size)
        )
    sources.extend(load_reward_fn(spec) for spec in reward_fns)
    return sources


def run_ppo(
    inputs: list[str | Path],
    *,
    policy: str,
    out: str | Path,
    cfg: PPOParams,
    reward_model: str | None = None,
    reward_fns: list[str] = (),
    ref_model: str | None = None,
    force: bool = False,
    resume: bool = False,
    log: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Train ``policy`` with PPO on the prompts of ``inputs`` (prompt, sft or preference sets).

    Returns:
        ``{"path", "metrics", "manifest"}``.
    """
    from instructkit.train.rlhf import run_rlhf

    return run_rlhf(
        inputs,
        out=out,
        params=cfg,
        log=log,
        algo="ppo",
        policy=str(policy),
        reward_model=reward_model,
        reward_fn=list(reward_fns),
        ref_model=ref_model,
        force=force,
        resume=resume,
    )
