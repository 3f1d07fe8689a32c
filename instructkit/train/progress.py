"""A rich progress bar for transformers/TRL trainers (a ``TrainerCallback``), or one line per log step
when stderr is not a terminal (CI logs stay readable)."""

from __future__ import annotations

import sys


def progress_callback(*, description: str = "training"):
    """A ``transformers.TrainerCallback`` that shows a rich progress bar with the loss on a terminal
    and prints one line per logging step otherwise (CI logs stay readable)."""
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        def __init__(self) -> None:
            self.progress = self.task = None
            self.tty = sys.stderr.isatty()
            self.loss: float | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            if not state.is_local_process_zero or not self.tty:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            from instructkit.cli.common import console

            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TimeRemainingColumn(),
                console=console,
            )
            self.task = self.progress.add_task(
                description, total=state.max_steps, completed=state.global_step, loss="-"
            )
            self.progress.start()

        def on_step_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if not state.is_local_process_zero:
                return
            if self.progress is not None:
                if "loss" in logs:
                    self.progress.update(self.task, loss=f"{logs['loss']:.4f}")
                return
            shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in logs.items() if k != "total_flos"}
            print(
                f"step {state.global_step}/{state.max_steps} " + " ".join(f"{k}={v}" for k, v in shown.items()),
                file=sys.stderr,
                flush=True,
            )

        def on_train_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.stop()
                self.progress = None

    return RichProgress()


def use_our_progress(trainer, *, description: str = "training") -> None:
    """Replace transformers' printer/tqdm callbacks with ours (public ``add/remove_callback`` API)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(progress_callback(description=description))
