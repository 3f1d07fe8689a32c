"""`instructkit sft` and `instructkit reward`: train on shard sets with TRL's SFTTrainer / RewardTrainer.

Only typer/rich/stdlib at module top: torch, transformers and trl are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from instructkit.cli.common import ConfigOpt, SetOpt, console, print_table

InputsArg = Annotated[list[Path], typer.Argument(help="Input shard sets (a vNNNN dir or its parent).")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Base model: a directory (save_pretrained) or a hub id.")]
ModelOutOpt = Annotated[
    Path,
    typer.Option(
        "-o",
        "--output",
        help="Model directory to write (written atomically: trained in OUT.partial/, renamed at the end).",
    ),
]
ChatTemplateOpt = Annotated[
    Optional[str],
    typer.Option(
        "--chat-template",
        help="chatml (ours, with generation markers: for base models), training (TRL's training "
        "variant of a known family's template), or a Jinja file. Default: the model's own.",
    ),
]
LoraOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--lora/--no-lora",
        help="Train LoRA adapters (peft); merged into the saved model unless merge_lora=false.",
        show_default=False,
    ),
]
ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Continue from the newest checkpoint of an interrupted "
        "run (OUT.partial/checkpoints) or of OUT/checkpoints.",
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Replace an existing non-empty OUT (and an interrupted run's checkpoints).")
]
MaxStepsOpt = Annotated[
    Optional[int], typer.Option("--max-steps", min=1, help="Stop after N optimizer steps (overrides --epochs).")
]
EpochsOpt = Annotated[Optional[float], typer.Option("--epochs", help="Passes over the data (default 1).")]
LrOpt = Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate.")]
MaxLenOpt = Annotated[Optional[int], typer.Option("--max-length", min=1, help="Maximum tokens per example.")]
EvalSplitOpt = Annotated[Optional[float], typer.Option("--eval-split", help="Fraction held out for evaluation.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed (default 42).")]
BatchOpt = Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Examples per device per step.")]
AccumOpt = Annotated[Optional[int], typer.Option("--grad-accum", min=1, help="Gradient accumulation steps.")]
TrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code",
        help="Allow model code from the model repository (off by default: it runs arbitrary Python).",
    ),
]


def _flags(**kwargs) -> dict:
    return {k: v for k, v in kwargs.items() if v is not None}


def _summary(title: str, result: dict, keys: list[tuple[str, str]]) -> None:
    m = result["metrics"]
    rows = [(label, f"{m[k]:.4f}" if isinstance(m.get(k), float) else m.get(k)) for label, k in keys if k in m]
    rows.append(("time", f"{m.get('train_runtime', 0):.1f}s training"))
    rows.append(("output", str(result["path"])))
    print_table(title, rows, ("", "value"))


def sft(
    inputs: InputsArg,
    model: ModelOpt,
    output: ModelOutOpt,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    chat_template: ChatTemplateOpt = None,
    lora: LoraOpt = None,
    packing: Annotated[
        Optional[bool],
        typer.Option(
            "--packing/--no-packing",
            help="Pack examples into max-length blocks: only on a GPU with FlashAttention "
            "(refused elsewhere: eager/sdpa attention leaks across packed examples).",
            show_default=False,
        ),
    ] = None,
    resume: ResumeOpt = False,
    max_steps: MaxStepsOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    max_length: MaxLenOpt = None,
    eval_split: EvalSplitOpt = None,
    batch_size: BatchOpt = None,
    grad_accum: AccumOpt = None,
    seed: SeedOpt = None,
    trust_remote_code: TrustOpt = False,
    force: ForceOpt = False,
) -> None:
    """Supervised fine-tuning on sft shard sets (TRL SFTTrainer), loss on assistant tokens only.

    Before training, every example is tokenized with the chat template and checked: a non-empty
    assistant mask that includes the end-of-turn token, and a pad token distinct from end-of-turn.
    Writes a Hugging Face model directory plus manifest.json (data fingerprints, resolved config,
    library versions, metrics). Settings: defaults < --config YAML < flags < --set key=value.

    Example: instructkit sft out/filter --model out/tiny -o out/sft --max-steps 50 --eval-split 0.1
    """
    from instructkit.train.common import load_params
    from instructkit.train.sft import SFTParams, run_sft

    params = load_params(
        SFTParams,
        config=config,
        sets=set_,
        what="sft",
        flags=_flags(
            chat_template=chat_template,
            lora=lora,
            packing=packing,
            max_steps=max_steps,
            epochs=epochs,
            learning_rate=lr,
            max_length=max_length,
            eval_split=eval_split,
            batch_size=batch_size,
            gradient_accumulation_steps=grad_accum,
            seed=seed,
            trust_remote_code=trust_remote_code or None,
        ),
    )
    result = run_sft(inputs, model=model, out=output, params=params, force=force, resume=resume)
    pre = result["preflight"]
    result["metrics"].update(
        examples=pre["kept"],
        tokens=pre["tokens"],
        assistant_tokens=pre["assistant_tokens"],
        truncated=pre["truncated"],
        dropped=pre["dropped"] or 0,
    )
    _summary(
        "sft",
        result,
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
    typer.echo(str(result["path"]))


def reward(
    inputs: InputsArg,
    model: ModelOpt,
    output: ModelOutOpt,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    chat_template: ChatTemplateOpt = None,
    lora: LoraOpt = None,
    margins: Annotated[
        Optional[str],
        typer.Option(
            "--margins",
            help="none (plain Bradley-Terry) or meta (use meta.margin / meta.annotate.margin, e.g. "
            "rating differences from annotate-import, inside the loss).",
        ),
    ] = None,
    resume: ResumeOpt = False,
    max_steps: MaxStepsOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    max_length: MaxLenOpt = None,
    eval_split: Annotated[
        Optional[float],
        typer.Option("--eval-split", help="Fraction of pairs held out for accuracy and margin (default 0.1)."),
    ] = None,
    batch_size: BatchOpt = None,
    grad_accum: AccumOpt = None,
    seed: SeedOpt = None,
    trust_remote_code: TrustOpt = False,
    force: ForceOpt = False,
) -> None:
    """Train a Bradley-Terry reward model on preference shard sets (TRL RewardTrainer).

    The output is a sequence-classification model directory (num_labels=1) that
    AutoModelForSequenceClassification loads, plus manifest.json. Reports held-out pairwise
    accuracy and mean margin (chosen minus rejected reward), computed pair by pair.

    Example: instructkit reward out/prefs --model out/tiny -o out/rm --max-steps 100 --eval-split 0.2
    """
    from instructkit.train.common import load_params
    from instructkit.train.reward import RewardParams, run_reward

    params = load_params(
        RewardParams,
        config=config,
        sets=set_,
        what="reward",
        flags=_flags(
            chat_template=chat_template,
            lora=lora,
            margins=margins,
            max_steps=max_steps,
            epochs=epochs,
            learning_rate=lr,
            max_length=max_length,
            eval_split=eval_split,
            batch_size=batch_size,
            gradient_accumulation_steps=grad_accum,
            seed=seed,
            trust_remote_code=trust_remote_code or None,
        ),
    )
    result = run_reward(inputs, model=model, out=output, params=params, force=force, resume=resume)
    _summary(
        "reward",
        result,
        [
            ("steps", "global_step"),
            ("train loss", "train_loss"),
            ("held-out pairs", "heldout_pairs"),
            ("held-out accuracy", "heldout_accuracy"),
            ("held-out mean margin", "heldout_mean_margin"),
        ],
    )
    if "heldout_accuracy" not in result["metrics"]:
        console.print("[yellow]no held-out split (--eval-split 0): accuracy not measured[/]")
    typer.echo(str(result["path"]))
