"""The ``rlhf --algo ppo`` stage: load data and models, train with :class:`PPOTrainer`, write the model
directory (HF ``save_pretrained``) and its manifest, atomically, with checkpoints for ``--resume``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError
from instructkit.train.common import (
    OutputDir,
    device_info,
    load_causal_lm,
    load_records,
    load_tokenizer,
    quiet_libraries,
    seed_everything,
    split_records,
    write_model_manifest,
)
from instructkit.train.ppo.config import PPOConfig


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
    cfg: PPOConfig,
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
    started = time.time()
    if cfg.lora and ref_model:
        raise ConfigError("with lora the reference is the base model with adapters off: drop --ref-model")
    records, sets = load_records(inputs, {"prompt", "sft", "preference"}, stage="rlhf --algo ppo")
    if cfg.reward_weights is not None and len(cfg.reward_weights) != int(bool(reward_model)) + len(reward_fns):
        raise ConfigError(
            f"reward_weights has {len(cfg.reward_weights)} values for "
            f"{int(bool(reward_model)) + len(reward_fns)} reward sources (reward model first)"
        )
    outdir = OutputDir(out, force=force, resume=resume)
    quiet_libraries()
    seed_everything(cfg.seed)
    tokenizer = load_tokenizer(policy, trust_remote_code=cfg.trust_remote_code, chat_template=cfg.chat_template)
    train_recs, eval_recs = split_records(records, cfg.eval_fraction, cfg.seed)
    if len(train_recs) < cfg.batch_size:
        raise ConfigError(
            f"batch_size {cfg.batch_size} is larger than the {len(train_recs)} training prompts",
            hint="lower --set batch_size (and mini_batch_size) or add prompts",
        )

    from accelerate import Accelerator

    from instructkit.train.common import resolve_bf16
    from instructkit.train.ppo.trainer import PPOTrainer

    accelerator = Accelerator(mixed_precision="bf16" if resolve_bf16(cfg.bf16, device_info()) else "no")
    sources = reward_sources(
        reward_model,
        list(reward_fns),
        device=accelerator.device,
        trust_remote_code=cfg.trust_remote_code,
        batch_size=cfg.batch_size,
    )
    outdir.start()
    try:
        ckpt = outdir.resume_from()
        # Full fine-tuning resumes from the checkpoint's weights; LoRA loads the base, then the adapter.
        start_from = ckpt if ckpt and not cfg.lora else policy
        model = load_causal_lm(start_from, trust_remote_code=cfg.trust_remote_code, dtype="float32")
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        ref = (
            None
            if cfg.lora
            else load_causal_lm(ref_model or policy, trust_remote_code=cfg.trust_remote_code, dtype="float32")
        )
        critic = critic_from = None
        if cfg.critic == "separate":
            from instructkit.train.ppo.critic import load_critic

            # Resume restores the critic's weights from the checkpoint, as it does the policy's.
            saved = Path(ckpt) / "critic" if ckpt else None
            critic_from = cfg.critic_model or reward_model or policy
            critic = load_critic(
                saved if saved is not None and saved.is_dir() else critic_from,
                tokenizer=tokenizer,
                trust_remote_code=cfg.trust_remote_code,
            )
        trainer = PPOTrainer(
            cfg,
            policy=model,
            ref_model=ref,
            tokenizer=tokenizer,
            sources=sources,
            records=train_recs,
            eval_records=eval_recs,
            checkpoint_dir=outdir.checkpoints,
            log=log,
            accelerator=accelerator,
            critic=critic,
        )
        if ckpt:
            trainer.load_checkpoint(Path(ckpt))
        metrics = trainer.train()
        trainer.save_model(outdir.model)
        if accelerator.is_main_process:
            write_model_manifest(
                outdir.model,
                stage="rlhf-ppo",
                inputs=sets,
                metrics=metrics,
                started=started,
                config={
                    "params": cfg,
                    "trainer": {
                        "implementation": "instructkit.train.ppo",
                        "processes": accelerator.num_processes,
                        "mixed_precision": accelerator.mixed_precision,
                    },
                },
                log_history=trainer.history,
                extra={
                    "algo": "ppo",
                    "policy": str(policy),
                    "reward_model": reward_model,
                    "reward_fns": list(reward_fns),
                    "critic_model": None if critic_from is None else str(critic_from),
                    "ref_model": ref_model or ("policy (adapters off)" if cfg.lora else str(policy)),
                    "device": device_info(),
                    "resumed_from": ckpt,
                    "data": {"train_prompts": len(train_recs), "eval_prompts": len(eval_recs)},
                },
            )
            path = outdir.commit()
        else:
            path = Path(out)
    except BaseException:
        outdir.abandon()
        raise
    return {"path": path, "metrics": metrics, "manifest": path / "manifest.json"}
