"""The one skeleton of every training stage (sft, reward, each rlhf algorithm).

Load records -> output dir -> seed -> tokenizer -> split -> [the task's part: data, model, train,
save] -> manifest -> commit. A :class:`Task` supplies only what differs: the record kinds it
accepts, checks before anything loads, and :meth:`Task.train`, which loads its model, trains and
saves into ``run.outdir.model``. TRL-backed tasks share :func:`fit` (progress bar, resume, metrics).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError
from instructkit.params import recorded
from instructkit.train.card import base_license, push_model, write_model_card
from instructkit.train.checks import prepare_tokenizer
from instructkit.train.common import (
    OutputDir,
    device_info,
    load_records,
    load_tokenizer,
    quiet_libraries,
    seed_everything,
    split_records,
    use_our_progress,
    write_model_manifest,
)
from instructkit.train.output import is_main_process
from instructkit.train.trackers import check_trackers, close_trainer_trackers, run_name


@dataclass
class Run:
    """What a task's :meth:`Task.train` has in hand: params, tokenizer, split records, output dir."""

    params: Any
    model: str
    tokenizer: Any
    train: list[dict]
    eval: list[dict]
    outdir: OutputDir
    callbacks: list[Any] = field(default_factory=list)
    log: Any = None  # per-step stats callback (our PPO); None: the task's default
    data: dict[str, Any] = field(default_factory=dict)  # the manifest's "data" entry
    choices: dict[str, Any] = field(default_factory=dict)  # chat template and pad token picked (checks.py)
    trainers: list[Any] = field(default_factory=list)  # transformers Trainers run (their trackers close at the end)


@dataclass
class Trained:
    """What :meth:`Task.train` returns once the model is saved in ``run.outdir.model``."""

    metrics: dict[str, Any]
    trainer_config: dict[str, Any]
    log_history: list[dict]
    extra: dict[str, Any] = field(default_factory=dict)  # more manifest keys (algo, reward model ...)
    returns: dict[str, Any] = field(default_factory=dict)  # more keys of the returned dict (sft preflight)


class Task:
    """One training stage's part of the skeleton. Subclasses set the attributes and ``train``."""

    stage: str = ""  # the manifest's stage: sft, reward, rlhf-dpo ...
    title: str = ""  # for messages: sft, rlhf --algo dpo
    kinds: frozenset[str] = frozenset()
    model_field: str = "model"  # the params field naming the model to train
    assistant_masks: bool = False  # needs {% generation %} markers (assistant-only loss): picks a template

    def check(self, p: Any) -> None:
        """Refuse inconsistent params before anything is read or loaded."""

    def check_tokenizer(self, tokenizer: Any, run_model: str, p: Any) -> None:
        """Refuse a tokenizer the task cannot train with (no chat template, no pad token)."""

    def prepare(self, run: Run) -> None:
        """Check and shape the split records (``run.train``/``run.eval``, ``run.data``) before OUT is touched."""

    def extra(self, run: Run) -> dict[str, Any]:
        """Manifest keys of this task (base model, chat template ...)."""
        return {"base_model": run.model, "chat_template": run.choices.get("chat_template") or "model"}

    def train(self, run: Run) -> Trained:  # pragma: no cover - abstract
        raise NotImplementedError

    def summary(self, result: dict[str, Any]) -> dict[str, Any]:
        """Rows of the end-of-stage table from the returned dict."""
        return {}


def run_training(
    task: Task,
    inputs: list[str | Path],
    out: str | Path,
    params: Any,
    *,
    callbacks: list[Any] = (),
    log: Any = None,
) -> dict[str, Any]:
    """Train with ``task`` on the shard sets ``inputs`` and write a model directory at ``out``.

    Returns:
        ``{"path", "metrics", "manifest"}`` (the manifest's path) plus the task's ``returns``.
    """
    started = time.time()
    model = getattr(params, task.model_field)
    if not model:
        flag = "--" + task.model_field.replace("_", "-")
        raise ConfigError(f"{task.title} needs {task.model_field!r}", hint=f"pass {flag} MODEL (a directory or hub id)")
    task.check(params)
    check_trackers(params.report_to)
    records, sets = load_records(inputs, set(task.kinds), stage=task.title)
    outdir = OutputDir(out, force=params.force, resume=params.resume)
    quiet_libraries()
    seed_everything(params.seed)
    explicit = None if params.chat_template in (None, "auto", "model") else params.chat_template
    tokenizer = load_tokenizer(model, trust_remote_code=params.trust_remote_code, chat_template=explicit)
    choices = prepare_tokenizer(
        tokenizer, chat_template=params.chat_template, model=str(model), markers=task.assistant_masks
    )
    task.check_tokenizer(tokenizer, model, params)
    train_recs, eval_recs = split_records(records, params.eval_split, params.seed)
    run = Run(params, str(model), tokenizer, train_recs, eval_recs, outdir, list(callbacks), log, choices=choices)
    task.prepare(run)
    outdir.start()
    try:
        trained = task.train(run)
        for trainer in run.trainers:
            close_trainer_trackers(trainer)
        if is_main_process():
            manifest_path = write_model_manifest(
                outdir.model,
                stage=task.stage,
                inputs=sets,
                metrics=trained.metrics,
                started=started,
                config={"params": recorded(params), "trainer": trained.trainer_config},
                log_history=trained.log_history,
                extra={
                    **task.extra(run),
                    **trained.extra,
                    "tokenizer": choices,
                    "device": device_info(),
                    "resumed_from": outdir.resume_from(),
                    "data": run.data,
                    "run_name": run_name(params, outdir.out),
                    "base_model_license": base_license(str(model)),
                },
            )
            write_model_card(outdir.model, json.loads(manifest_path.read_text("utf-8")), defaults=_defaults(params))
        path = outdir.commit(keep_checkpoints=params.keep_checkpoints)
    except BaseException:
        outdir.abandon()
        raise
    if params.push_to_hub and is_main_process():
        push_model(path, params.hub_model_id or path.name, private=params.hub_private)
    result = {"path": path, "metrics": trained.metrics, "manifest": path / "manifest.json", **trained.returns}
    return {**result, "tokenizer": choices}


def _defaults(params: Any) -> dict[str, Any] | None:
    """The recorded params of a default instance of ``type(params)`` (None if it cannot be built)."""
    try:
        return recorded(type(params)())
    except Exception:  # noqa: BLE001 - the card then lists every param
        return None


def fit(trainer: Any, run: Run, *, description: str) -> dict[str, Any]:
    """Train a transformers/TRL trainer (our progress bar, resuming when asked); its final metrics."""
    run.trainers.append(trainer)
    use_our_progress(trainer, description=description)
    result = trainer.train(resume_from_checkpoint=run.outdir.resume_from())
    metrics = dict(result.metrics)
    metrics["global_step"] = trainer.state.global_step
    return metrics


def summary_rows(metrics: dict[str, Any], keys: list[tuple[str, str]]) -> dict[str, Any]:
    """``{label: metrics[key]}`` for the keys present, then the training time."""
    rows = {label: metrics[k] for label, k in keys if metrics.get(k) is not None}
    rows["time"] = f"{metrics.get('train_runtime', 0):.1f}s training"
    return rows


def as_result(task: Task, result: dict[str, Any]):
    """The registry's :class:`~instructkit.registry.Result` of a training run."""
    import json

    from instructkit.registry import Result

    manifest = json.loads(result["manifest"].read_text("utf-8")) if result["manifest"].is_file() else {}
    summary = task.summary(result)
    picked = result.get("tokenizer") or {}
    if picked:
        summary["chat template"] = picked["chat_template"]
        summary["pad token"] = f"{picked['pad_token']} (id {picked['pad_token_id']}): {picked['pad_token_choice']}"
    return Result(path=result["path"], manifest=manifest, summary=summary)
