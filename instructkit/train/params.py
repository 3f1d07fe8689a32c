"""The params of the training stages, declared once: shared knobs, TRL Trainer knobs, the base model.

``TrainParams`` holds what every training stage has (sft, reward and every rlhf algorithm, ours and
TRL's); ``HFTrainerParams`` adds the knobs of a transformers/TRL ``Trainer``; ``FineTuneParams`` adds
the base ``model`` of sft and reward. Field names are the keys everywhere (flags, ``--set``, YAML,
recipes); ``flags`` metadata keeps the old short spellings (``--lr``, ``--grad-accum``, ``-m``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from instructkit.errors import ConfigError

# Experiment trackers (transformers' report_to names) that every training stage can log to.
TRACKERS = ("tensorboard", "wandb", "trackio", "mlflow")


def _h(text: str, *flags: str, record: bool = True) -> dict:
    meta: dict[str, Any] = {"help": text}
    if flags:
        meta["flags"] = flags
    if not record:
        meta["record"] = False
    return meta


@dataclass(kw_only=True)
class TrainParams:
    """Knobs shared by every training stage (sft, reward, every rlhf algorithm), declared once.

    Stages subclass this (through :class:`HFTrainerParams` for the TRL-backed ones) and add their own
    fields; a subclass may redeclare a field to change its default (DPO's learning rate).
    """

    learning_rate: float = field(default=2e-5, metadata=_h("Peak learning rate (AdamW).", "--lr"))
    max_steps: int | None = field(default=None, metadata=_h("Stop after this many optimizer steps (overrides epochs)."))
    batch_size: int = field(default=8, metadata=_h("Examples per device per forward pass."))
    seed: int = field(default=42, metadata=_h("Seed for init, shuffling, dropout, sampling and the eval split."))
    eval_split: float = field(default=0.0, metadata=_h("Fraction of records held out for evaluation (0: none)."))
    weight_decay: float = field(default=0.0, metadata=_h("AdamW weight decay."))
    max_grad_norm: float = field(default=1.0, metadata=_h("Gradient clipping norm."))
    bf16: str = field(default="auto", metadata=_h("auto (bf16 on a GPU that supports it), true or false."))
    save_steps: int | None = field(default=500, metadata=_h("Checkpoint every N steps (None: no checkpoints)."))
    save_total_limit: int | None = field(default=2, metadata=_h("Keep at most N checkpoints."))
    keep_checkpoints: bool = field(
        default=False, metadata=_h("Move the checkpoints into OUT/checkpoints at the end.", record=False)
    )
    chat_template: str | None = field(
        default=None,
        metadata=_h(
            "auto (the default): the model's own template when it has generation markers, else TRL's training "
            "variant of a known family, else ours for a ChatML model (keeping its default system prompt); "
            "model (its own, as is); chatml (ours, with generation markers: for base models); training (TRL's "
            "training variant); or a Jinja file. A pad token equal to end-of-turn is replaced by a distinct "
            "existing one (e.g. <|endoftext|>); both choices land in the manifest and the summary."
        ),
    )
    lora: bool = field(
        default=False,
        metadata=_h("Train LoRA adapters (peft) instead of all weights; merged into the saved model by default."),
    )
    lora_r: int = field(default=16, metadata=_h("LoRA rank."))
    lora_alpha: int = field(default=32, metadata=_h("LoRA scaling alpha."))
    lora_dropout: float = field(default=0.05, metadata=_h("LoRA dropout."))
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["all-linear"],
        metadata=_h("Modules to adapt (peft names; all-linear for every linear layer)."),
    )
    trust_remote_code: bool = field(
        default=False,
        metadata=_h("Allow model code from the model repository (off by default: it runs arbitrary Python)."),
    )
    resume: bool = field(
        default=False,
        metadata=_h(
            "Continue from the newest checkpoint of an interrupted run (OUT.partial/checkpoints) or of "
            "OUT/checkpoints.",
            record=False,
        ),
    )
    force: bool = field(
        default=False,
        metadata=_h("Replace an existing non-empty OUT (and an interrupted run's checkpoints).", record=False),
    )
    report_to: list[str] = field(
        default_factory=lambda: ["none"],
        metadata=_h(
            "Experiment trackers, comma-separated: none, tensorboard (event files in OUT/runs/), wandb "
            "(WANDB_MODE=offline works without network), trackio, mlflow. Each needs its package."
        ),
    )
    run_name: str | None = field(
        default=None, metadata=_h("Name of the run in the trackers and the model card (default: OUT's name).")
    )
    push_to_hub: bool = field(
        default=False,
        metadata=_h("Upload the finished model directory (weights, card, manifest) to the Hub after the commit."),
    )
    hub_model_id: str | None = field(
        default=None, metadata=_h("Hub repository for push_to_hub, e.g. user/name (default: OUT's name).")
    )
    hub_private: bool | None = field(
        default=None, metadata=_h("Create the Hub repository private (None: the Hub's default).")
    )

    def __post_init__(self) -> None:
        if isinstance(self.report_to, str):
            self.report_to = [t.strip() for t in self.report_to.split(",") if t.strip()]
        self.report_to = [str(t).lower() for t in self.report_to] or ["none"]
        bad = [t for t in self.report_to if t not in (*TRACKERS, "none")]
        if bad or ("none" in self.report_to and len(self.report_to) > 1):
            raise ConfigError(
                f"report_to must be none or some of {', '.join(TRACKERS)}, got {','.join(self.report_to)}",
                hint="for example: --set report_to=tensorboard,wandb",
            )
        if self.bf16 not in ("auto", "true", "false", True, False):
            raise ConfigError(f"bf16 must be auto, true or false, got {self.bf16!r}")
        if not 0.0 <= self.eval_split < 1.0:
            raise ConfigError(f"eval_split must be in [0, 1), got {self.eval_split}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.learning_rate < 0:
            raise ConfigError(f"learning_rate must be >= 0, got {self.learning_rate}")


@dataclass(kw_only=True)
class HFTrainerParams(TrainParams):
    """Knobs of the stages that run a transformers/TRL ``Trainer`` (sft, reward, dpo, kto, grpo, rloo)."""

    epochs: float = field(default=1.0, metadata=_h("Passes over the training data (ignored when max_steps is set)."))
    gradient_accumulation_steps: int = field(
        default=1, metadata=_h("Forward passes per optimizer step.", "--grad-accum")
    )
    max_length: int = field(default=1024, metadata=_h("Maximum tokens per example; longer ones are truncated."))
    warmup_ratio: float = field(default=0.0, metadata=_h("Fraction of steps of linear warmup."))
    lr_scheduler: str = field(default="linear", metadata=_h("linear, cosine, constant, ... (transformers names)."))
    optim: str = field(default="adamw_torch", metadata=_h("Optimizer name (transformers OptimizerNames)."))
    gradient_checkpointing: bool = field(
        default=False, metadata=_h("Recompute activations (saves memory, ~20% slower; off on the CPU).")
    )
    eval_steps: int | None = field(default=None, metadata=_h("Evaluate every N steps (None: at the end only)."))
    logging_steps: int = field(default=10, metadata=_h("Log the loss every N steps."))
    merge_lora: bool = field(
        default=True, metadata=_h("With lora: merge the adapters into the weights and save a full model.")
    )
    dtype: str = field(default="auto", metadata=_h("Weights dtype when loading: auto, float32, bfloat16, float16."))

    def __post_init__(self) -> None:
        for name in ("gradient_accumulation_steps", "max_length", "logging_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        super().__post_init__()


@dataclass(kw_only=True)
class FineTuneParams(HFTrainerParams):
    """sft and reward: a base model fine-tuned by a TRL trainer."""

    model: str | None = field(
        default=None, metadata=_h("Base model (required): a directory (save_pretrained) or a hub id.", "-m")
    )
