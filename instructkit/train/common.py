"""Shared plumbing of the training stages (sft, reward, rlhf): data, models, params, output, manifest.

Every stage that trains follows the same shape, TRL's example scripts made strict:

1. ``load_params`` builds a typed params dataclass from defaults < ``--config`` YAML < flags < ``--set``.
2. ``load_records`` reads shard sets and refuses records of the wrong kind, naming the set.
3. ``load_tokenizer`` / ``load_causal_lm`` (from :mod:`instructkit.models`) load a model dir or hub id
   (safetensors only; no remote code unless asked).
4. ``OutputDir`` (output.py) trains into ``OUT.partial/`` (checkpoints under ``OUT.partial/checkpoints``) and
   renames the finished model into ``OUT`` at the end, so a crash never leaves a half model at ``OUT``
   and ``--resume`` finds the checkpoints of the interrupted run.
5. ``write_model_manifest`` (output.py) records data fingerprints, the resolved trainer config, library versions,
   final metrics and the log history.

TRL's defaults move inside 1.x (FIELD-NOTES.md): ``trainer_kwargs`` sets every knob that changes
results explicitly, and the manifest records the full resolved config.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, TypeVar

from instructkit.config import build, load_yaml, parse_sets
from instructkit.errors import ConfigError, InputError

# Re-exported: the stages (and other engineers' code) import these from here. The model loaders
# live in instructkit.models, the one loading layer of every stage.
from instructkit.models import load_causal_lm, load_sequence_classifier, load_tokenizer
from instructkit.shards import ShardSet
from instructkit.train.output import (
    LIBRARIES,
    OutputDir,
    library_versions,
    read_model_manifest,
    trainer_config_dict,
    write_model_manifest,
)
from instructkit.train.params import FineTuneParams, HFTrainerParams, TrainParams
from instructkit.train.progress import progress_callback, use_our_progress
from instructkit.train.trackers import run_name

T = TypeVar("T")


# --- parameters ------------------------------------------------------------------------------


def load_params(
    cls: type[T],
    *,
    config: str | Path | None = None,
    sets: list[str] | None = None,
    flags: dict[str, Any] | None = None,
    what: str | None = None,
) -> T:
    """Build a params dataclass with the one precedence rule: defaults < ``config`` < ``sets`` < ``flags``.

    For code that builds a training Params class without the stage registry (tests, notebooks);
    stages go through ``registry.build_params``, which applies the same rule. Flags whose value is
    None are "not given". Unknown keys are a ConfigError listing the valid ones.
    """
    from instructkit.registry import normalize_keys

    values: dict[str, Any] = normalize_keys(load_yaml(config)) if config is not None else {}
    values.update(normalize_keys(parse_sets(sets)))
    values.update({k: v for k, v in normalize_keys(flags).items() if v is not None})
    return build(cls, values, source=str(config) if config is not None else None, what=what)


# --- data ------------------------------------------------------------------------------------

_KIND_HINTS = {
    "sft": "pass a set of 'sft' records (ingest output, or annotate-import --binarize for demonstrations)",
    "preference": "pass a set of 'preference' records (annotate-import --binarize, or ingest a preference format)",
    "prompt": "pass a set of 'prompt' records (or 'sft'/'preference' sets, whose prompts are used)",
}


def load_records(
    paths: list[str | Path], kinds: set[str], *, stage: str | None = None
) -> tuple[list[dict], list[ShardSet]]:
    """Read every record of the shard sets at ``paths``, accepting only the given kinds.

    Args:
        paths: Shard set paths (a vNNNN dir or its parent).
        kinds: Record kinds the stage accepts, e.g. ``{"sft"}``.
        stage: The stage name, for messages (``sft needs 'sft' records``).

    Raises:
        InputError: when no path is given, a set is empty, or a set holds a kind not accepted.
    """
    from instructkit.records import kind_of

    if not paths:
        raise InputError("no input shard set given", hint="pass one or more shard set paths")
    stage = stage or "/".join(sorted(kinds))
    wanted = " or ".join(repr(k) for k in sorted(kinds))
    records: list[dict] = []
    sets: list[ShardSet] = []
    for path in paths:
        s = ShardSet(path)
        set_kinds = set(s.manifest.get("kinds") or {}) or ({s.kind} if s.kind not in ("mixed", "empty") else set())
        bad = set_kinds - kinds
        if bad:
            raise InputError(
                f"{stage} needs {wanted} records; {s.path} holds {', '.join(map(repr, sorted(bad)))}",
                hint=_KIND_HINTS.get(next(iter(sorted(kinds))), "pass a set of the right kind"),
            )
        n = 0
        for rec in s:
            k = kind_of(rec)
            if k not in kinds:
                raise InputError(
                    f"{stage} needs {wanted} records; {s.path} holds {k!r} (record {rec.get('id')})",
                    hint=_KIND_HINTS.get(next(iter(sorted(kinds))), "pass a set of the right kind"),
                )
            records.append(rec)
            n += 1
        if n == 0:
            raise InputError(f"shard set {s.path} is empty", hint="check the stage that wrote it")
        sets.append(s)
    return records, sets


def split_records(records: list[dict], fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """A deterministic train/held-out split (at least one record each side when fraction > 0)."""
    if fraction <= 0:
        return records, []
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, round(len(records) * fraction))
    if n_eval >= len(records):
        raise ConfigError(
            f"eval_split {fraction} leaves no training records out of {len(records)}",
            hint="lower --eval-split or add data",
        )
    held = set(order[:n_eval])
    return [r for i, r in enumerate(records) if i not in held], [r for i, r in enumerate(records) if i in held]


def quiet_libraries() -> None:
    """Silence the tqdm bars of datasets/transformers and their info logs (our progress bar and summary
    say what matters; errors still show). ``-v`` and the user's TRANSFORMERS_VERBOSITY / DATASETS_VERBOSITY
    win (instructkit/verbosity.py)."""
    from instructkit.verbosity import apply_to_hf_libraries

    apply_to_hf_libraries()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (transformers.set_seed does all three)."""
    from transformers import set_seed

    random.seed(seed)
    set_seed(seed)


def device_info() -> dict[str, Any]:
    """What we train on: cpu or cuda, the GPU name, and whether bf16 is supported."""
    import torch

    if torch.cuda.is_available():
        return {
            "device": "cuda",
            "gpus": torch.cuda.device_count(),
            "name": torch.cuda.get_device_name(0),
            "bf16": bool(torch.cuda.is_bf16_supported()),
        }
    return {"device": "cpu", "gpus": 0, "name": "cpu", "bf16": False}


def flash_attention_available() -> bool:
    """Whether a varlen attention kernel (FlashAttention 2/3) can run here: needs CUDA and the package."""
    import importlib.util

    import torch

    return torch.cuda.is_available() and any(
        importlib.util.find_spec(m) is not None for m in ("flash_attn", "flash_attn_interface")
    )


# --- trainer config --------------------------------------------------------------------------


def resolve_bf16(value: str | bool, device: dict[str, Any]) -> bool:
    """``auto`` means bf16 on a GPU that supports it and fp32 on the CPU."""
    if value in (True, "true"):
        if not device["bf16"]:
            raise ConfigError(
                "bf16=true but this device does not support bf16", hint="use --set bf16=auto (fp32 on the CPU)"
            )
        return True
    if value in (False, "false"):
        return False
    return bool(device["bf16"])


def trainer_kwargs(p: HFTrainerParams, output_dir: Path, *, has_eval: bool) -> dict[str, Any]:
    """Keyword arguments common to every TRL config (SFTConfig, RewardConfig, DPOConfig, ...).

    Every setting that changes results is set here rather than left to a default that TRL may move
    (the base config turns gradient checkpointing on and logs every 10 steps; pad_to_multiple_of
    became 'auto'). On the CPU: ``use_cpu``, fp32, no checkpointing. Keys that only some configs
    have (``max_length``, ``pad_to_multiple_of``: SFT, Reward, DPO) are added by each stage.
    """
    device = device_info()
    cpu = device["device"] == "cpu"
    bf16 = resolve_bf16(p.bf16, device)
    kw: dict[str, Any] = dict(
        output_dir=str(output_dir),
        learning_rate=p.learning_rate,
        num_train_epochs=p.epochs,
        max_steps=p.max_steps if p.max_steps is not None else -1,
        per_device_train_batch_size=p.batch_size,
        per_device_eval_batch_size=p.batch_size,
        gradient_accumulation_steps=p.gradient_accumulation_steps,
        warmup_steps=p.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of total steps
        lr_scheduler_type=p.lr_scheduler,
        weight_decay=p.weight_decay,
        max_grad_norm=p.max_grad_norm,
        optim=p.optim,
        seed=p.seed,
        data_seed=p.seed,
        bf16=bf16,
        fp16=False,
        use_cpu=cpu,
        activation_checkpointing=bool(p.gradient_checkpointing) and not cpu,
        logging_strategy="steps",
        logging_steps=p.logging_steps,
        logging_first_step=True,
        save_strategy="steps" if p.save_steps else "no",
        save_steps=p.save_steps or 500,
        save_total_limit=p.save_total_limit,
        eval_strategy=("steps" if p.eval_steps else "no") if has_eval else "no",
        eval_steps=p.eval_steps,
        report_to=p.report_to,  # TensorBoard writes in output_dir/runs; OutputDir.commit moves it to OUT/runs
        run_name=run_name(p, Path(output_dir).parent),
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=True,
        # Recorded only: the finished OUT (weights, card, manifest) is uploaded after the commit
        # (instructkit.train.card.push_model), not the checkpoints the Trainer would push at every save.
        push_to_hub=False,
        hub_model_id=p.hub_model_id,
        hub_private_repo=p.hub_private,
    )
    return kw


def peft_config(p: TrainParams, task_type: str):
    """A LoRA config (peft) when ``p.lora`` is on, else None."""
    if not p.lora:
        return None
    from peft import LoraConfig

    target = p.lora_target_modules
    return LoraConfig(
        r=p.lora_r,
        lora_alpha=p.lora_alpha,
        lora_dropout=p.lora_dropout,
        task_type=task_type,
        target_modules=target[0] if target == ["all-linear"] else target,
    )


__all__ = [
    "LIBRARIES",
    "OutputDir",
    "FineTuneParams",
    "HFTrainerParams",
    "TrainParams",
    "device_info",
    "flash_attention_available",
    "library_versions",
    "load_causal_lm",
    "load_params",
    "load_records",
    "load_sequence_classifier",
    "load_tokenizer",
    "peft_config",
    "progress_callback",
    "quiet_libraries",
    "read_model_manifest",
    "resolve_bf16",
    "seed_everything",
    "split_records",
    "trainer_config_dict",
    "trainer_kwargs",
    "use_our_progress",
    "write_model_manifest",
]
