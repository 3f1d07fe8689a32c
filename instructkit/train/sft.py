"""Supervised fine-tuning on ``sft`` shard sets with TRL's ``SFTTrainer``.

Loss on assistant tokens only (``assistant_only_loss=True``: the template's ``{% generation %}``
blocks, checked before training by :mod:`instructkit.train.checks`). Linear like TRL's example
script: load data, check it, build the config, train, save, write the manifest.

Packing concatenates examples into ``max_length`` blocks. With eager or sdpa attention TRL's
padding-free batches let an example attend to the one before it (FIELD-NOTES.md: logits off by 0.12),
so packing is only allowed where a varlen kernel (FlashAttention 2/3) is available, on a GPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError
from instructkit.train.checks import OVERLONG_POLICIES, preflight_sft
from instructkit.train.common import (
    FineTuneParams,
    flash_attention_available,
    load_causal_lm,
    peft_config,
    trainer_config_dict,
    trainer_kwargs,
)
from instructkit.train.data import sft_dataset
from instructkit.train.output import save_final
from instructkit.train.runner import Run, Task, Trained, as_result, fit, run_training, summary_rows


@dataclass(kw_only=True)
class SFTParams(FineTuneParams):
    """Parameters of ``instructkit sft`` (YAML keys; ``--set key=value`` overrides)."""

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
    neftune_noise_alpha: float | None = field(
        default=None, metadata={"help": "NEFTune embedding noise (Jain et al. 2023, arXiv 2310.05914); None: off."}
    )

    def __post_init__(self) -> None:
        if self.overlong not in OVERLONG_POLICIES:
            raise ConfigError(f"overlong must be one of {', '.join(OVERLONG_POLICIES)}, got {self.overlong!r}")
        if self.packing_strategy not in ("bfd", "bfd_split", "wrapped"):
            raise ConfigError(f"packing_strategy must be bfd, bfd_split or wrapped, got {self.packing_strategy!r}")
        if self.loss_type not in ("nll", "dft"):
            raise ConfigError(f"loss_type must be nll or dft, got {self.loss_type!r}")
        super().__post_init__()


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


class SFT(Task):
    """Supervised fine-tuning: preflight every example, then TRL's ``SFTTrainer``."""

    stage = title = "sft"
    kinds = frozenset({"sft"})
    assistant_masks = True

    def check(self, p: SFTParams) -> None:
        check_packing(p)

    def prepare(self, run: Run) -> None:
        p = run.params
        run.train, pre = preflight_sft(
            run.train, run.tokenizer, max_length=p.max_length, overlong=p.overlong, model=run.model
        )
        pre_eval = None
        if run.eval:
            run.eval, pre_eval = preflight_sft(
                run.eval, run.tokenizer, max_length=p.max_length, overlong=p.overlong, model=run.model
            )
        run.data = {"train": pre.as_dict(), "eval": pre_eval.as_dict() if pre_eval else None}

    def train(self, run: Run) -> Trained:
        from trl import SFTTrainer

        p, tokenizer = run.params, run.tokenizer
        attn = check_packing(p)
        lm = load_causal_lm(
            run.model,
            trust_remote_code=p.trust_remote_code,
            dtype=p.dtype,
            **({"attn_implementation": attn} if attn else {}),
        )
        if len(tokenizer) > lm.get_input_embeddings().weight.shape[0]:
            lm.resize_token_embeddings(len(tokenizer))  # --chat-template chatml added <|im_start|>/<|im_end|>
        config = sft_config(p, run.outdir.checkpoints, has_eval=bool(run.eval))
        trainer = SFTTrainer(
            model=lm,
            args=config,
            train_dataset=sft_dataset(run.train),
            eval_dataset=sft_dataset(run.eval) if run.eval else None,
            processing_class=tokenizer,
            peft_config=peft_config(p, "CAUSAL_LM"),
            callbacks=run.callbacks,
        )
        metrics = fit(trainer, run, description="sft")
        if run.eval:
            metrics.update(trainer.evaluate())
        save_final(trainer, run.outdir.model, tokenizer, merge_lora=p.lora and p.merge_lora)
        return Trained(
            metrics,
            trainer_config_dict(config),
            trainer.state.log_history,
            returns={"preflight": run.data["train"]},
        )

    def summary(self, result: dict[str, Any]) -> dict[str, Any]:
        pre = result["preflight"]
        metrics = {
            **result["metrics"],
            "examples": pre["kept"],
            "tokens": pre["tokens"],
            "assistant_tokens": pre["assistant_tokens"],
            "truncated": pre["truncated"],
            "dropped": pre["dropped"] or 0,
        }
        return summary_rows(
            metrics,
            [
                ("steps", "global_step"),
                ("examples", "examples"),
                ("tokens", "tokens"),
                ("assistant tokens", "assistant_tokens"),
                ("truncated", "truncated"),
                ("dropped", "dropped"),
                ("train loss", "train_loss"),
                ("eval loss", "eval_loss"),
            ],
        )


def run(inputs: list[str], out: Path, params: SFTParams):
    """The ``sft`` stage (registry entry): train, then the summary rows of the end-of-stage table."""
    return as_result(SFT(), run_training(SFT(), inputs, out, params))


def run_sft(
    inputs: list[str | Path],
    *,
    out: str | Path,
    params: SFTParams,
    model: str | None = None,
    force: bool | None = None,
    resume: bool | None = None,
    callbacks: list[Any] = (),
) -> dict[str, Any]:
    """Train on the ``sft`` sets ``inputs`` and write a model directory at ``out`` (Python API).

    Args:
        inputs: Shard set paths holding ``sft`` records.
        out: The model directory to write (atomically, see :class:`~instructkit.train.output.OutputDir`).
        params: The resolved parameters; ``model``, ``force`` and ``resume`` override their fields.
        callbacks: Extra ``transformers.TrainerCallback`` objects (tests use them).

    Returns:
        ``{"path", "metrics", "preflight", "manifest"}``.
    """
    given = {"model": model, "force": force, "resume": resume}
    params = dataclasses.replace(params, **{k: v for k, v in given.items() if v is not None})
    return run_training(SFT(), inputs, out, params, callbacks=callbacks)
