"""The one progress layer of every stage: a rich bar on stderr with counts, rate and an optional note.

- Shown only when stderr is a terminal and the user did not ask for quiet (``instructkit -q``, or
  ``INSTRUCTKIT_QUIET=1``, which child processes such as isolated training runs inherit). Off a
  terminal (CI, pipes, tests) nothing is drawn: the end-of-stage summary says what matters.
- ``Progress`` is the bar: ``with Progress("filter", total) as bar: bar.advance(n)``; the bar is also
  callable, so ``with progress_bar(...) as advance: advance(n)`` (the loop's spelling) works.
- ``trainer_callback`` puts the same bar, with the loss, on a transformers/TRL ``Trainer``; off a
  terminal it prints one line per logging step instead, so CI logs of a training run stay readable.

rich is imported when a bar is drawn, transformers when a trainer callback is built.
"""

from __future__ import annotations

import os
import sys
from typing import Any

QUIET_ENV = "INSTRUCTKIT_QUIET"


def set_quiet(quiet: bool = True) -> None:
    """Turn every progress bar (and the trainer's log lines) off or back on, in this process and its children."""
    if quiet:
        os.environ[QUIET_ENV] = "1"
    else:
        os.environ.pop(QUIET_ENV, None)


def is_quiet() -> bool:
    """Whether the user asked for quiet (``-q`` or ``INSTRUCTKIT_QUIET`` set to anything but 0/false)."""
    return os.environ.get(QUIET_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def enabled(quiet: bool | None = None) -> bool:
    """Whether a bar would be drawn: not quiet (argument, else the global setting) and stderr a terminal."""
    if quiet if quiet is not None else is_quiet():
        return False
    return _console().is_terminal


def _rate(speed: float | None, unit: str) -> str:
    if not speed:
        return ""
    per = f" {unit}/s" if unit else "/s"
    if speed >= 100:
        return f"{speed:,.0f}{per}"
    if speed >= 1:
        return f"{speed:.1f}{per}"
    one = unit[:-1] if unit.endswith("s") else unit or "item"
    return f"{1 / speed:.1f} s/{one}"


class Progress:
    """A progress bar: description, bar, done/total, rate, note, elapsed and remaining time.

    Args:
        description: The label (the stage, or ``stage: step``).
        total: Units of work, when known (else the bar pulses and shows the count).
        unit: What is counted, for the rate (``records``, ``steps``).
        quiet: True hides the bar; None follows ``is_quiet()``.
        transient: Remove the bar when done (the summary table follows); False keeps the last state.
    """

    def __init__(
        self,
        description: str,
        total: int | None = None,
        *,
        unit: str = "",
        quiet: bool | None = None,
        transient: bool = True,
    ):
        self.description, self.total, self.unit = description, total, unit
        self.quiet, self.transient = quiet, transient
        self._progress: Any = None
        self._task: Any = None

    @property
    def active(self) -> bool:
        """Whether a bar is being drawn."""
        return self._progress is not None

    def __enter__(self) -> Progress:
        if not enabled(self.quiet):
            return self
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._progress = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=_console(),
            transient=self.transient,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=self.total, rate="", note="")
        return self

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done."""
        if self._progress is not None:
            self._progress.advance(self._task, n)
            self._show_rate()

    __call__ = advance

    def update(self, *, completed: int | None = None, total: int | None = None, note: str | None = None) -> None:
        """Set the count done, the total or the note (text after the rate, e.g. ``loss 1.23``)."""
        if self._progress is None:
            return
        kwargs: dict[str, Any] = {}
        if completed is not None:
            kwargs["completed"] = completed
        if total is not None:
            kwargs["total"] = total
        if note is not None:
            kwargs["note"] = note
        self._progress.update(self._task, **kwargs)
        self._show_rate()

    def _show_rate(self) -> None:
        task = self._progress.tasks[0]
        self._progress.update(self._task, rate=_rate(task.speed, self.unit))

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def progress_bar(description: str, total: int | None = None, **kwargs: Any) -> Progress:
    """``with progress_bar("dedupe", total) as advance: advance(n)``: a :class:`Progress` (the loop's spelling)."""
    kwargs.setdefault("unit", "records")
    return Progress(description, total, **kwargs)


# --- trainers --------------------------------------------------------------------------------

# The few per-step numbers a terminal shows, in order, as (TRL log key, short name); each algorithm
# logs its own subset (sft: loss, lr; dpo: margins, accuracies; grpo/rloo: reward, kl ...). Everything
# TRL logs (DPO: about 20 keys, 400+ characters a line) stays in the manifest's log_history and in the
# trackers of report_to; ``instructkit -v`` prints every key here too.
LOG_KEYS = (
    ("loss", "loss"),
    ("eval_loss", "eval_loss"),
    ("reward", "reward"),
    ("reward_std", "reward_std"),
    ("kl", "kl"),
    ("rewards/margins", "margin"),
    ("rewards/accuracies", "acc"),
    ("eval_rewards/accuracies", "eval_acc"),
    ("accuracy", "acc"),
    ("entropy", "entropy"),
    ("learning_rate", "lr"),
    ("grad_norm", "grad_norm"),
)
BAR_KEYS = (("loss", "loss"), ("reward", "reward"), ("rewards/margins", "margin"))


def _num(v: Any) -> str:
    """4 decimals without trailing zeros (0.6931, 1); 3 significant digits for tiny or huge values (2e-05)."""
    if not isinstance(v, float):
        return str(v)
    if (v and abs(v) < 0.01) or abs(v) >= 1e6:
        return f"{v:.3g}"
    return f"{v:.4f}".rstrip("0").rstrip(".")


def step_line(logs: dict[str, Any], *, verbose: bool | None = None) -> str:
    """The text of one logging step: the :data:`LOG_KEYS` present (every key with ``-v``)."""
    if verbose is None:
        from instructkit.verbosity import level

        verbose = level() >= 1
    if verbose:
        return " ".join(f"{k}={_num(v)}" for k, v in logs.items() if k != "total_flos")
    return " ".join(f"{short}={_num(logs[k])}" for k, short in LOG_KEYS if k in logs)


def trainer_callback(*, description: str = "training", quiet: bool | None = None):
    """A ``transformers.TrainerCallback``: the bar with the loss on a terminal, one line per logging step
    on stderr otherwise (CI logs stay readable), nothing when quiet. Only the main process reports."""
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        def __init__(self) -> None:
            self.bar: Progress | None = None
            self.quiet = quiet if quiet is not None else is_quiet()

        def on_train_begin(self, args, state, control, **kwargs):
            if not state.is_local_process_zero or not enabled(self.quiet):
                return
            self.bar = Progress(description, state.max_steps, unit="steps", quiet=self.quiet, transient=False)
            self.bar.__enter__()
            self.bar.update(completed=state.global_step, note="loss -")

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if not state.is_local_process_zero or self.quiet:
                return
            if self.bar is not None:
                note = "  ".join(f"{short} {_num(logs[k])}" for k, short in BAR_KEYS if k in logs)
                if note:
                    self.bar.update(note=note)
                return
            line = step_line(logs)
            if line:
                print(f"step {state.global_step}/{state.max_steps} {line}", file=sys.stderr, flush=True)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.__exit__(None, None, None)
                self.bar = None

    return ProgressCallback()


def use_on_trainer(trainer, *, description: str = "training") -> None:
    """Replace transformers' printer/tqdm callbacks with :func:`trainer_callback` (public callback API)."""
    from transformers.trainer_callback import PrinterCallback
    from transformers.trainer_callback import ProgressCallback as TqdmCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(TqdmCallback)
    trainer.add_callback(trainer_callback(description=description))


__all__ = [
    "Progress",
    "enabled",
    "is_quiet",
    "progress_bar",
    "set_quiet",
    "trainer_callback",
    "use_on_trainer",
]
