"""Experiment trackers (``report_to``): checks before training, and the logger our own PPO/A2C loop uses.

The TRL-backed stages hand ``report_to`` and ``run_name`` to transformers, whose callbacks do the
logging. transformers 5 has no ``logging_dir``: TensorBoard writes under ``output_dir/runs/`` (our
``OUT.partial/checkpoints/runs/``), which :meth:`~instructkit.train.output.OutputDir.commit` moves to
``OUT/runs/`` (checkpoints themselves are deleted at the commit). Our PPO/A2C loop logs through
:class:`StepTracker` into the same place, so ``tensorboard --logdir OUT/runs`` shows every stage.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError

# report_to name -> (module to import, pip package)
PACKAGES = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "wandb": ("wandb", "wandb"),
    "trackio": ("trackio", "trackio"),
    "mlflow": ("mlflow", "mlflow"),
}
RUNS = "runs"  # the TensorBoard folder, in output_dir while training and in OUT once committed


def active(report_to: list[str]) -> list[str]:
    """The trackers asked for (``["none"]`` -> ``[]``)."""
    return [t for t in report_to if t != "none"]


def check_trackers(report_to: list[str]) -> None:
    """Refuse a tracker whose package is missing, before any model loads."""
    for name in active(report_to):
        module, package = PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"report_to={name} needs the {package} package, which is not installed",
                hint=f"pip install {package} (or: pip install 'instructkit[track]'), or drop it from report_to",
            )


def run_name(p: Any, out: Path) -> str:
    """The run's name in every tracker: ``run_name`` or the model directory's name."""
    return p.run_name or Path(out).name.removesuffix(".partial")


class StepTracker:
    """Send each step's stats of our own training loop to the trackers of ``report_to``.

    Args:
        report_to: Tracker names (``tensorboard``, ``wandb``, ``trackio``, ``mlflow``).
        logdir: Where TensorBoard event files go (``OUT.partial/checkpoints/runs/NAME``).
        name: The run name.
        config: The run's params (logged once by the trackers that record a config).
    """

    def __init__(self, report_to: list[str], *, logdir: Path, name: str, config: dict[str, Any]):
        self.sinks: list[tuple[Callable[[dict, int], None], Callable[[], None]]] = []
        for tracker in active(report_to):
            self.sinks.append(getattr(self, f"_{tracker}")(logdir, name, config))

    @staticmethod
    def _tensorboard(logdir: Path, name: str, config: dict):
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(logdir))
        writer.add_text("params", "\n".join(f"{k}: {v}" for k, v in config.items()))

        def log(stats: dict, step: int) -> None:
            for k, v in stats.items():
                writer.add_scalar(f"train/{k}", v, step)
            writer.flush()

        return log, writer.close

    @staticmethod
    def _wandb(logdir: Path, name: str, config: dict):
        import wandb

        run = wandb.init(project=os.environ.get("WANDB_PROJECT", "instructkit"), name=name, config=config)
        return (lambda stats, step: run.log({f"train/{k}": v for k, v in stats.items()}, step=step)), run.finish

    @staticmethod
    def _trackio(logdir: Path, name: str, config: dict):
        import trackio

        trackio.init(project=os.environ.get("TRACKIO_PROJECT", "instructkit"), name=name, config=config)
        return (lambda stats, step: trackio.log({f"train/{k}": v for k, v in stats.items()}, step=step)), trackio.finish

    @staticmethod
    def _mlflow(logdir: Path, name: str, config: dict):
        import mlflow

        mlflow.start_run(run_name=name)
        mlflow.log_params({k: str(v)[:500] for k, v in config.items()})  # mlflow caps a param value at 500 chars
        return (lambda stats, step: mlflow.log_metrics(stats, step=step)), mlflow.end_run

    def log(self, stats: dict[str, Any]) -> None:
        """One step's numeric stats (``stats["step"]`` is the step)."""
        step = int(stats.get("step", 0))
        numbers = {k: float(v) for k, v in stats.items() if k != "step" and isinstance(v, (int, float))}
        for log, _ in self.sinks:
            log(numbers, step)

    def close(self) -> None:
        for _, close in self.sinks:
            close()
        self.sinks = []


def close_trainer_trackers(trainer: Any) -> None:
    """Close the trackers of a transformers Trainer at the end of the stage.

    - TensorBoard: ``Trainer.evaluate()`` after training reopens a writer that nothing closes; its last
      events would stay unflushed. Closing flushes them before ``OUT/runs/`` moves into place.
    - wandb, trackio: transformers leaves the run open at the end of training, so the next stage of a
      recipe (same process) would log into it; finishing also flushes an offline run to disk.
    """
    for cb in trainer.callback_handler.callbacks:
        writer = getattr(cb, "tb_writer", None)
        if writer is not None:
            writer.close()
            cb.tb_writer = None
    report_to = getattr(trainer.args, "report_to", None) or []
    if "wandb" in report_to:
        import wandb

        if wandb.run is not None:
            wandb.finish()
    if "trackio" in report_to:
        import trackio

        trackio.finish()
