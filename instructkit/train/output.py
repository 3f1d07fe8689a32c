"""Where a training stage writes: an atomic model directory plus its ``manifest.json``.

Training runs in ``OUT.partial/`` (checkpoints in ``OUT.partial/checkpoints``, a stable name that
``--resume`` finds after a crash); the finished model is renamed into ``OUT`` in one step, so a
crash never leaves a half model that looks complete. The manifest is written with temp file +
rename, and secrets (hub tokens, API keys) are redacted from it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import re
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from instructkit import __version__
from instructkit.errors import InputError, InstructkitError
from instructkit.shards import ShardSet, check_writable

LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers")
# Keys whose string values are never written into a manifest (TrainingArguments carry hub_token; a
# generator config may carry an API key). Not eos_token/pad_token (names of vocabulary entries) nor
# num_tokens (a count).
_SECRET_KEY = re.compile(r"(^|_)(token|hub_token|auth_token|access_token|api_key|apikey|password|secret)$")
_NOT_SECRET = {"eos_token", "pad_token", "bos_token", "unk_token", "sep_token", "cls_token", "mask_token"}


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries that shape training results, plus Python and instructkit."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"instructkit": __version__, "python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def world_size() -> int:
    """Processes in this training run (``accelerate launch`` / ``torchrun`` set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 (or a single process): the one that renames directories and writes the manifest."""
    return os.environ.get("RANK", "0") == "0"


def save_final(trainer, path: Path, tokenizer, *, merge_lora: bool):
    """Save the trained model to ``path`` and return it; no pickle file is left behind.

    A LoRA model is merged into its base weights first when ``merge_lora`` is set and training ran
    in one process (merging sharded ZeRO-3/FSDP weights is not supported: several processes save the
    adapters). Otherwise ``trainer.save_model`` writes the weights, gathering ZeRO-3/FSDP shards on
    every rank and writing on the main one.
    """
    model = trainer.model
    if merge_lora and hasattr(model, "merge_and_unload") and world_size() == 1:
        model = model.merge_and_unload()
        model.save_pretrained(path, safe_serialization=True)
    else:
        trainer.save_model(str(path))
    if is_main_process():
        tokenizer.save_pretrained(path)
        (Path(path) / "training_args.bin").unlink(missing_ok=True)  # a pickle; the manifest has the config
    trainer.accelerator.wait_for_everyone()
    return model


class OutputDir:
    """Where a training stage writes: ``OUT.partial/`` while training, ``OUT`` once finished.

    Checkpoints go to ``OUT.partial/checkpoints`` (a stable name, so ``--resume`` finds them after
    a crash); the final model is saved to ``OUT.partial/model`` and renamed into ``OUT`` at the end.

    Args:
        out: The model directory to produce.
        force: Replace an existing non-empty ``OUT`` (and discard an interrupted run's checkpoints).
        resume: Continue from the newest checkpoint of an interrupted run (or of ``OUT/checkpoints``).
    """

    def __init__(self, out: str | Path, *, force: bool = False, resume: bool = False):
        self.out = Path(out)
        self.partial = self.out.parent / (self.out.name + ".partial")
        self.checkpoints = self.partial / "checkpoints"
        self.model = self.partial / "model"
        self.force, self.resume = force, resume
        self._resumed_from: str | None = None
        if self.out.exists() and not self.out.is_dir():
            raise InputError("output path is a file", file=str(self.out))
        out_busy = self.out.is_dir() and any(self.out.iterdir())
        if out_busy and not (force or resume):
            raise InputError(
                "output directory exists and is not empty",
                file=str(self.out),
                hint="pass --force to replace it, or --resume to continue its training",
            )
        if self.partial.exists() and not (force or resume):
            raise InputError(
                f"an interrupted run left {self.partial}",
                file=str(self.out),
                hint="pass --resume to continue it from its last checkpoint, or --force to start over",
            )
        # Before the model loads (13 s for a small one), not after training.
        check_writable(self.out, probe_in=self.out.parent)

    def start(self) -> None:
        """Create ``OUT.partial`` (call once inputs and config are checked, just before training)."""
        if self.force and not self.resume and is_main_process():
            shutil.rmtree(self.partial, ignore_errors=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        if self.resume and not self.latest_checkpoint() and (self.out / "checkpoints").is_dir():
            for ckpt in (self.out / "checkpoints").glob("checkpoint-*"):
                if ckpt.is_dir():
                    shutil.copytree(ckpt, self.checkpoints / ckpt.name)
        if self.model.exists():
            shutil.rmtree(self.model)

    def abandon(self) -> None:
        """After a failure: keep ``OUT.partial`` only if it holds a checkpoint to resume from."""
        if is_main_process() and self.partial.exists() and self.latest_checkpoint() is None:
            shutil.rmtree(self.partial, ignore_errors=True)

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint with the highest step, or None."""
        found = []
        for c in self.checkpoints.glob("checkpoint-*") if self.checkpoints.is_dir() else []:
            with contextlib.suppress(ValueError):
                found.append((int(c.name.split("-")[-1]), c))
        return max(found)[1] if found else None

    def resume_from(self) -> str | None:
        """The checkpoint to pass to ``trainer.train(resume_from_checkpoint=...)``.

        Decided on the first call (after :meth:`start`) and remembered, so the manifest written after
        training names the checkpoint training resumed from, not the newest one it wrote.
        """
        if not self.resume:
            return None
        if self._resumed_from is None:
            ckpt = self.latest_checkpoint()
            if ckpt is None:
                raise InputError(
                    "--resume: no checkpoint to resume from",
                    file=str(self.out),
                    hint="checkpoints are written every save_steps steps; run without --resume",
                )
            self._resumed_from = str(ckpt)
        return self._resumed_from

    def commit(self, *, keep_checkpoints: bool = False) -> Path:
        """Rename the finished model into ``OUT`` (replacing an old one) and clean up (main process only)."""
        if not is_main_process():
            return self.out
        runs = self.checkpoints / "runs"  # TensorBoard events (report_to): transformers writes them in output_dir
        if runs.is_dir():
            os.rename(runs, self.model / "runs")
        if keep_checkpoints and self.latest_checkpoint():
            os.rename(self.checkpoints, self.model / "checkpoints")
        trash = None
        if self.out.exists():
            trash = self.out.parent / f".{self.out.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(self.out, trash)
        os.rename(self.model, self.out)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        shutil.rmtree(self.partial, ignore_errors=True)
        return self.out


def _is_secret(key: Any, value: Any) -> bool:
    name = str(key).lower()
    return isinstance(value, str) and bool(value) and name not in _NOT_SECRET and bool(_SECRET_KEY.search(name))


def _scrub(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: ("<redacted>" if _is_secret(k, v) else _scrub(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_scrub(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _scrub(dataclasses.asdict(obj))
    return str(obj)


def trainer_config_dict(args) -> dict:
    """The fully resolved TRL/transformers config as JSON-ready data, without secrets."""
    data = args.to_dict() if hasattr(args, "to_dict") else dataclasses.asdict(args)
    return _scrub(data)


def write_model_manifest(
    out: str | Path,
    *,
    stage: str,
    inputs: list[ShardSet],
    config: dict,
    metrics: dict,
    extra: dict | None = None,
    log_history: list[dict] | None = None,
    started: float | None = None,
) -> Path:
    """Write ``OUT/manifest.json`` atomically (temp file + rename); secrets are redacted.

    Args:
        out: The model directory.
        stage: ``sft``, ``reward``, ``rlhf-dpo`` ...
        inputs: The training data sets (path + fingerprint + records are recorded).
        config: Our params and the resolved trainer config (``{"params": ..., "trainer": ...}``).
        metrics: Final metrics (train loss, eval loss, accuracy ...).
        extra: More keys to record (base model, chat template, device ...).
        log_history: The trainer's per-step log (``trainer.state.log_history``).
        started: ``time.time()`` at the start, for ``elapsed_s``.
    """
    out = Path(out)
    manifest = {
        "format": "instructkit.model/1",
        "stage": stage,
        "inputs": [
            {"path": str(s.path), "fingerprint": s.fingerprint, "kind": s.kind, "records": len(s)} for s in inputs
        ],
        "config": _scrub(config),
        "metrics": _scrub(metrics),
        "versions": library_versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if started is not None:
        manifest["elapsed_s"] = round(time.time() - started, 3)
    if extra:
        manifest.update(_scrub(extra))
    if log_history is not None:
        manifest["log_history"] = _scrub(log_history)
    tmp = out / f".manifest.json.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out / "manifest.json")
    return out / "manifest.json"


def read_model_manifest(path: str | Path) -> dict:
    """The manifest of a model directory written by a training stage (``{}`` if it has none)."""
    p = Path(path) / "manifest.json"
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text("utf-8"))
    except ValueError as exc:
        raise InstructkitError(f"unreadable model manifest: {exc}", file=str(p)) from None
