"""Supervised fine-tuning on ``sft`` shard sets with TRL's ``SFTTrainer``.

Loss on assistant tokens only (``assistant_only_loss=True``: the template's ``{% generation %}``
blocks, checked before training by :mod:`instructkit.train.checks`). Linear like TRL's example
script: load data, check it, build the config, train, save, write the manifest.

Packing concatenates examples into ``max_length`` blocks. With eager or sdpa attention TRL's
padding-free batches let an example attend to the one before it (FIELD-NOTES.md: logits off by 0.12),
so packing is only allowed where a varlen kernel (FlashAttention 2/3) is available, on a GPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError
from instructkit.train.checks import OVERLONG_POLICIES, preflight_sft
from instructkit.train.common import (
    OutputDir,
    TrainParams,
    device_info,
    flash_attention_available,
    load_causal_lm,
    load_records,
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
from instructkit.train.data import sft_dataset
from instructkit.train.output import is_main_process, save_final


@dataclass(kw_only=True)
class SFTParams(TrainParams):
    """Parameters of ``instructkit sft`` (YAML keys; ``--set key=value`` overrides)."""

    chat_template: str | None = field(
        default=None,
        metadata={
            "help": "None: the model's; chatml: ours, for base models; training: TRL's variant for known families; "
            "or a Jinja file."
        },
    )
    overlong: str = field(
        default="truncate", metadata={"help": "Examples over max_length: truncate (keep the start), drop, or error."}
    )
    packing: bool = field(
        default=False,
        metadata={"help": "Pack examples into max_length blocks (GPU with FlashAttention only; refused on the CPU)."},
    )
    packing_strategy: str = field(
        default="bfd",
        metadata={"help": "bfd (best-fit decreasing), bfd_split (splits overflow) or wrapped (cuts mid-example)."},
    )
    loss_type: str = field(default="nll", metadata={"help": "nll, or dft (Dynamic Fine-Tuning, arXiv 2508.05629)."})
    merge_lora: bool = field(
        default=True,
        metadata={
            "help": "With lora: merge the adapters into the weights and save a full model (false: adapters only)."
        },
    )
    neftune_noise_alpha: float | None = field(
        default=None, metadata={"help": "NEFTune embedding noise (Jain et al. 2023, arXiv 2310.05914); None: off."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.overlong not in OVERLONG_POLICIES:
            raise ValueError(f"overlong must be one of {', '.join(OVERLONG_POLICIES)}, got {self.overlong!r}")
        if self.packing_strategy not in ("bfd", "bfd_split", "wrapped"):
            raise ValueError(f"packing_strategy must be bfd, bfd_split or wrapped, got {self.packing_strategy!r}")
        if self.loss_type not in ("nll", "dft"):
            raise ValueError(f"loss_type must be nll or dft, got {self.loss_type!r}")


def check_packing(params: SFTParams) -> str | None:
    """The attention implementation packing needs, or None without packing; refuse unsafe packing."""
    if not params.packing:
        return None
    if not flash_attention_available():
        raise ConfigError(
            "packing is refused here: without a varlen attention kernel (FlashAttention on a GPU), eager/sdpa "
            "attention lets each packed example attend to the examples packed before it",
            hint="train without --packing, or on a GPU with flash-attn installed",
        )
    return "flash_attention_2"


def sft_config(params: SFTParams, output_dir: Path, *, has_eval: bool):
    """The ``trl.SFTConfig`` with every knob that changes results set explicitly."""
    from trl import SFTConfig

    return SFTConfig(
        **trainer_kwargs(params, output_dir, has_eval=has_eval),
        max_length=params.max_length,
        truncation_mode="keep_start",
        assistant_only_loss=True,
        completion_only_loss=None,  # our data is conversational: assistant_only_loss decides the mask
        packing=params.packing,
        packing_strategy=params.packing_strategy,
        padding_free=params.packing,
        eval_packing=False,
        pad_to_multiple_of=None,
        shuffle_dataset=False,  # the Trainer's sampler shuffles with the seed every epoch
        loss_type=params.loss_type,
        neftune_noise_alpha=params.neftune_noise_alpha,
        activation_offloading=False,
        dataset_num_proc=None,
        model_init_kwargs=None,
    )


def run_sft(
    inputs: list[str | Path],
    *,
    model: str,
    out: str | Path,
    params: SFTParams,
    force: bool = False,
    resume: bool = False,
    callbacks: list[Any] = (),
) -> dict[str, Any]:
    """Train ``model`` on the ``sft`` sets ``inputs`` and write a model directory at ``out``.

    Args:
        inputs: Shard set paths holding ``sft`` records.
        model: A model directory or hub id.
        out: The model directory to write (atomically, see :class:`OutputDir`).
        params: The resolved parameters.
        force: Replace an existing ``out``.
        resume: Continue from the newest checkpoint of an interrupted run.
        callbacks: Extra ``transformers.TrainerCallback`` objects (tests use them).

    Returns:
        ``{"path", "metrics", "preflight", "manifest"}``.
    """
    started = time.time()
    records, sets = load_records(inputs, {"sft"}, stage="sft")
    outdir = OutputDir(out, force=force, resume=resume)
    attn = check_packing(params)
    quiet_libraries()
    seed_everything(params.seed)
    tokenizer = load_tokenizer(model, trust_remote_code=params.trust_remote_code, chat_template=params.chat_template)
    train_recs, eval_recs = split_records(records, params.eval_split, params.seed)
    train_recs, pre = preflight_sft(
        train_recs, tokenizer, max_length=params.max_length, overlong=params.overlong, model=str(model)
    )
    pre_eval = None
    if eval_recs:
        eval_recs, pre_eval = preflight_sft(
            eval_recs, tokenizer, max_length=params.max_length, overlong=params.overlong, model=str(model)
        )

    from trl import SFTTrainer

    lm = load_causal_lm(
        model,
        trust_remote_code=params.trust_remote_code,
        dtype=params.dtype,
        **({"attn_implementation": attn} if attn else {}),
    )
    if len(tokenizer) > lm.get_input_embeddings().weight.shape[0]:
        lm.resize_token_embeddings(len(tokenizer))  # --chat-template chatml added <|im_start|>/<|im_end|>
    outdir.start()
    try:
        config = sft_config(params, outdir.checkpoints, has_eval=bool(eval_recs))
        trainer = SFTTrainer(
            model=lm,
            args=config,
            train_dataset=sft_dataset(train_recs),
            eval_dataset=sft_dataset(eval_recs) if eval_recs else None,
            processing_class=tokenizer,
            peft_config=peft_config(params, "CAUSAL_LM"),
            callbacks=list(callbacks),
        )
        use_our_progress(trainer, description="sft")
        resumed_from = outdir.resume_from()
        result = trainer.train(resume_from_checkpoint=resumed_from)
        metrics = dict(result.metrics)
        metrics["global_step"] = trainer.state.global_step
        if eval_recs:
            metrics.update(trainer.evaluate())
        save_final(trainer, outdir.model, tokenizer, merge_lora=params.lora and params.merge_lora)
        if is_main_process():
            write_model_manifest(
                outdir.model,
                stage="sft",
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
                    "data": {"train": pre.as_dict(), "eval": pre_eval.as_dict() if pre_eval else None},
                },
            )
        path = outdir.commit(keep_checkpoints=params.keep_checkpoints)
    except BaseException:
        outdir.abandon()
        raise
    return {"path": path, "metrics": metrics, "preflight": pre.as_dict(), "manifest": path / "manifest.json"}
