"""instructkit.progress: one bar for every stage; silent off a terminal and when quiet."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from instructkit import progress


@pytest.fixture
def terminal(monkeypatch):
    """Make stderr look like a terminal; returns the buffer the bar draws into."""
    from rich.console import Console

    buf = io.StringIO()
    monkeypatch.setattr(progress, "_console", lambda: Console(file=buf, force_terminal=True, width=120))
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    return buf


def test_silent_off_a_terminal(monkeypatch):
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    with progress.progress_bar("filter", 10) as advance:  # pytest captures stderr: not a terminal
        advance(3)
        assert not advance.active


def test_counts_rate_and_note_on_a_terminal(terminal):
    with progress.Progress("filter", 10, unit="records", transient=False) as bar:
        bar.advance(4)
        bar(2)  # the loop's spelling: the bar is its own advance function
        bar.update(note="kept 5")
        assert bar.active
        task = bar._progress.tasks[0]
        assert task.completed == 6 and task.total == 10 and task.fields["note"] == "kept 5"
    assert not bar.active
    text = terminal.getvalue()
    assert "filter" in text and "6/10" in text and "kept 5" in text


def test_quiet_hides_the_bar(terminal, monkeypatch):
    with progress.Progress("x", 5, quiet=True) as bar:
        bar.advance()
        assert not bar.active
    progress.set_quiet()
    assert progress.is_quiet() and not progress.enabled()
    progress.set_quiet(False)
    assert not progress.is_quiet() and progress.enabled()
    monkeypatch.setenv(progress.QUIET_ENV, "0")
    assert not progress.is_quiet()


def test_rate_text():
    assert progress._rate(None, "records") == ""
    assert progress._rate(1234.5, "records") == "1,234 records/s"
    assert progress._rate(2.5, "steps") == "2.5 steps/s"
    assert progress._rate(0.25, "steps") == "4.0 s/step"


def _state(step=3):
    return SimpleNamespace(is_local_process_zero=True, max_steps=10, global_step=step)


def test_trainer_callback_logs_lines_off_a_terminal(capsys, monkeypatch):
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    cb = progress.trainer_callback(description="sft")
    cb.on_train_begin(None, _state(0), None)
    cb.on_log(None, _state(), None, logs={"loss": 1.234567, "total_flos": 9})
    cb.on_train_end(None, _state(), None)
    assert capsys.readouterr().err == "step 3/10 loss=1.2346\n"
    quiet = progress.trainer_callback(description="sft", quiet=True)
    quiet.on_log(None, _state(), None, logs={"loss": 1.0})
    assert capsys.readouterr().err == ""


def test_trainer_callback_draws_the_bar_on_a_terminal(terminal):
    cb = progress.trainer_callback(description="sft")
    cb.on_train_begin(None, _state(0), None)
    cb.on_step_end(None, _state(4), None)
    cb.on_log(None, _state(4), None, logs={"loss": 0.5})
    task = cb.bar._progress.tasks[0]
    assert task.completed == 4 and task.fields["note"] == "loss 0.5"
    cb.on_train_end(None, _state(4), None)
    assert "sft" in terminal.getvalue() and "loss 0.5" in terminal.getvalue()


# One DPO logging step as TRL 1.16 logs it (about 20 keys).
DPO_LOGS = {
    "loss": 0.6931,
    "grad_norm": 1.25,
    "learning_rate": 1e-06,
    "rewards/chosen": 0.0012,
    "rewards/rejected": -0.0008,
    "rewards/accuracies": 0.75,
    "rewards/margins": 0.002,
    "logps/chosen": -40.21,
    "logps/rejected": -38.9,
    "logits/chosen": -0.12,
    "logits/rejected": -0.11,
    "entropy": 5.9,
    "num_tokens": 1024.0,
    "mean_token_accuracy": 0.01,
    "epoch": 0.25,
}


def test_trainer_lines_are_compact_unless_verbose(capsys, monkeypatch):
    from instructkit import verbosity

    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    monkeypatch.delenv(verbosity.ENV, raising=False)
    cb = progress.trainer_callback(description="dpo")
    cb.on_log(None, _state(), None, logs=DPO_LOGS)
    line = capsys.readouterr().err
    assert line == "step 3/10 loss=0.6931 margin=0.002 acc=0.75 entropy=5.9 lr=1e-06 grad_norm=1.25\n"
    monkeypatch.setenv(verbosity.ENV, "1")  # instructkit -v: every key
    cb.on_log(None, _state(), None, logs=DPO_LOGS)
    full = capsys.readouterr().err
    assert "logps/rejected=-38.9" in full and "epoch=0.25" in full and len(full) > 2 * len(line)
    monkeypatch.delenv(verbosity.ENV)
    cb.on_log(None, _state(), None, logs={"train_runtime": 3.2, "epoch": 1.0})  # nothing that matters: no line
    assert capsys.readouterr().err == ""


def test_old_names_are_re_exported():
    from instructkit import stage
    from instructkit.train import progress as train_progress

    assert stage.progress_bar is progress.progress_bar
    assert train_progress.progress_callback is progress.trainer_callback
    assert train_progress.use_our_progress is progress.use_on_trainer


def test_cli_quiet_flag(cli, monkeypatch):
    monkeypatch.setenv(progress.QUIET_ENV, "0")  # restored after the test: -q sets it process-wide
    assert "--quiet" in cli("--help").output
    cli("-q", "--version")
    assert not progress.is_quiet()  # --version exits before the callback body runs
    cli("-q", "stats", "no/such/set", ok=False)  # the app callback runs before the command fails
    assert progress.is_quiet()
