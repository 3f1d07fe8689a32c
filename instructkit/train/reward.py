"""Reward model training on ``preference`` shard sets with TRL's ``RewardTrainer``.

The Bradley-Terry pairwise loss ``-log sigmoid(r(x, y_c) - r(x, y_r) [- margin])`` (Bradley and Terry
1952; Ouyang et al. 2022, InstructGPT, section 3.5; margins as in Llama 2, Touvron et al. 2023)
trains a sequence-classification head with one output. Held-out pairwise accuracy and mean margin are
computed by us after training, pair by pair, on the exact held-out records (not averaged per batch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError
from instructkit.train.checks import training_messages
from instructkit.train.common import (
    OutputDir,
    TrainParams,
    device_info,
    load_records,
    load_sequence_classifier,
    load_tokenizer,
    peft_config,
    quiet_libraries,
    seed_everything,
    split_records,
    trainer_config_dict,
    trainer_kwargs,
    use_our_progress,
    write_model_manifest,
)
from instructkit.train.data import MARGIN_POLICIES, preference_dataset
from instructkit.train.output import is_main_process, save_final, world_size


@dataclass(kw_only=True)
class RewardParams(TrainParams):
    """Parameters of ``instructkit reward`` (YAML keys; ``--set key=value`` overrides)."""

    learning_rate: float = field(default=1e-5, metadata={"help": "Peak learning rate (AdamW)."})
    eval_split: float = field(default=0.1, metadata={"help": "Fraction of pairs held out for accuracy and margin."})
    chat_template: str | None = field(
        default=None, metadata={"help": "None: the model's; chatml: ours; training: TRL's variant; or a Jinja file."}
    )
    margins: str = field(
        default="none",
        metadata={"help": "none (plain Bradley-Terry) or meta (subtract each pair's meta.margin inside the loss)."},
    )
    margin_scale: float = field(default=1.0, metadata={"help": "Multiplier applied to meta margins."})
    center_rewards_coefficient: float | None = field(
        default=None, metadata={"help": "Weight of the mean-zero reward penalty (Eisenstein et al. 2023); None: off."}
    )
    merge_lora: bool = field(default=True, metadata={"help": "With lora: save a merged full model."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.margins not in MARGIN_POLICIES:
            raise ValueError(f"margins must be one of {', '.join(MARGIN_POLICIES)}, got {self.margins!r}")


def reward_config(params: RewardParams, output_dir: Path, *, has_eval: bool):
    """The ``trl.RewardConfig`` with every knob that changes results set explicitly."""
    from trl import RewardConfig

    return RewardConfig(
        **trainer_kwargs(params, output_dir, has_eval=has_eval),
        max_length=params.max_length,
        pad_to_multiple_of=None,
        center_rewards_coefficient=params.center_rewards_coefficient,
        disable_dropout=True,
        activation_offloading=False,
        dataset_num_proc=None,
        model_init_kwargs=None,
    )


def score_pairs(
    model, tokenizer, records: list[dict], *, batch_size: int = 8, max_length: int | None = None
) -> list[tuple[float, float]]:
    """``(reward(chosen), reward(rejected))`` for each preference record, via the chat template."""
    import torch

    texts = []
    for r in records:
        prompt = training_messages(r["prompt"])
        for side in ("chosen", "rejected"):
            texts.append(tokenizer.apply_chat_template(prompt + training_messages(r[side]), tokenize=False))
    model.eval()
    device = next(model.parameters()).device
    scores: list[float] = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size * 2):
            batch = tokenizer(
                texts[i : i + batch_size * 2],
                return_tensors="pt",
                padding=True,
                truncation=max_length is not None,
                max_length=max_length,
                add_special_tokens=False,
            )
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
            scores.extend(logits[:, 0].float().tolist())
    return [(scores[2 * i], scores[2 * i + 1]) for i in range(len(records))]


def pair_metrics(pairs: list[tuple[float, float]]) -> dict[str, float]:
    """Pairwise accuracy (ties count as wrong) and mean margin ``r_c - r_r``."""
    if not pairs:
        return {}
    return {
        "accuracy": sum(c > r for c, r in pairs) / len(pairs),
        "mean_margin": sum(c - r for c, r in pairs) / len(pairs),
        "pairs": len(pairs),
    }


def run_reward(
    inputs: list[str | Path],
    *,
    model: str,
    out: str | Path,
    params: RewardParams,
    force: bool = False,
    resume: bool = False,
    callbacks: list[Any] = (),
) -> dict[str, Any]:
    """Train a reward model from ``model`` on the ``preference`` sets ``inputs``; write it at ``out``.

    Returns:
        ``{"path", "metrics", "manifest"}``; metrics hold ``heldout_accuracy`` and ``heldout_mean_margin``
        when ``eval_split > 0``.
    """
    started = time.time()
    records, sets = load_records(inputs, {"preference"}, stage="reward")
    outdir = OutputDir(out, force=force, resume=resume)
    quiet_libraries()
    seed_everything(params.seed)
    tokenizer = load_tokenizer(model, trust_remote_code=params.trust_remote_code, chat_template=params.chat_template)
    if tokenizer.pad_token_id is None:
        raise ConfigError(
            f"the tokenizer of {model} has no pad token",
            hint="the reward head reads the last non-pad token: add a distinct pad token",
        )
    if not tokenizer.chat_template:
        raise ConfigError(f"{model} has no chat template", hint="pass --chat-template chatml")
    train_recs, eval_recs = split_records(records, params.eval_split, params.seed)
    train_ds = preference_dataset(train_recs, margins=params.margins, margin_scale=params.margin_scale)

    from trl import RewardTrainer

    rm = load_sequence_classifier(model, trust_remote_code=params.trust_remote_code, dtype=params.dtype)
    if len(tokenizer) > rm.get_input_embeddings().weight.shape[0]:
        rm.resize_token_embeddings(len(tokenizer))
    rm.config.pad_token_id = tokenizer.pad_token_id
    outdir.start()
    try:
        config = reward_config(params, outdir.checkpoints, has_eval=bool(eval_recs))
        eval_ds = preference_dataset(eval_recs, margins="none") if eval_recs else None
        trainer = RewardTrainer(
            model=rm,
            args=config,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=peft_config(params, "SEQ_CLS"),
            callbacks=list(callbacks),
        )
        use_our_progress(trainer, description="reward")
        resumed_from = outdir.resume_from()
        result = trainer.train(resume_from_checkpoint=resumed_from)
        metrics = dict(result.metrics)
        metrics["global_step"] = trainer.state.global_step
        final = save_final(trainer, outdir.model, tokenizer, merge_lora=params.lora and params.merge_lora)
        if eval_recs and world_size() == 1:
            held = pair_metrics(
                score_pairs(final, tokenizer, eval_recs, batch_size=params.batch_size, max_length=params.max_length)
            )
            metrics.update({f"heldout_{k}": v for k, v in held.items()})
        elif eval_recs:  # several processes: TRL's batch-averaged eval metrics, gathered across ranks
            ev = trainer.evaluate()
            metrics.update(
                heldout_accuracy=ev.get("eval_accuracy"),
                heldout_mean_margin=ev.get("eval_margin"),
                heldout_pairs=len(eval_recs),
            )
        if is_main_process():
            write_model_manifest(
                outdir.model,
                stage="reward",
                inputs=sets,
                metrics=metrics,
                started=started,
                config={"params": params, "trainer": trainer_config_dict(config)},
                log_history=trainer.state.log_history,
                extra={
                    "base_model": str(model),
                    "chat_template": params.chat_template or "model",
                    "device": device_info(),
                    "resumed_from": resumed_from,
                    "data": {"train_pairs": len(train_recs), "eval_pairs": len(eval_recs)},
                },
            )
        path = outdir.commit(keep_checkpoints=params.keep_checkpoints)
    except BaseException:
        outdir.abandon()
        raise
    return {"path": path, "metrics": metrics, "manifest": path / "manifest.json"}
