"""Training stages of a recipe run in a child process that dies with `instructkit run`.

The fault this guards against (found by fault testing): a `kill -9` of `instructkit run` left the
running stage alive, which then committed a second model version nobody was waiting for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux) to find the stage's process")
def test_kill_9_of_run_takes_the_training_stage_with_it(tmp_path, tiny_model, samples):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"name: t\nworkdir: {tmp_path / 'work'}\nstages:\n"
        f"  - name: ingest\n    run: ingest\n    inputs: ['{samples / 'alpaca.json'}']\n"
        "    output: '{workdir}/ingest'\n"
        "  - name: sft\n    run: sft\n    inputs: ['{stages.ingest}']\n    output: '{workdir}/sft'\n"
        f"    params: {{model: '{tiny_model}', max_steps: 100000, batch_size: 2, save_steps: null}}\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "instructkit", "run", str(recipe)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.time() + 120
        stage_pid = None
        while time.time() < deadline and stage_pid is None:
            for kid in _children(proc.pid):
                if b"instructkit.child" in Path(f"/proc/{kid}/cmdline").read_bytes():
                    stage_pid = kid
            time.sleep(0.2)
        assert stage_pid is not None, "the sft stage never started in a child process"
        partial = list((tmp_path / "work" / "sft").glob("*.partial"))
        deadline = time.time() + 120
        while not partial and time.time() < deadline:  # training has begun writing
            time.sleep(0.2)
            partial = list((tmp_path / "work" / "sft").glob("*.partial"))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 15
        while _alive(stage_pid) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(stage_pid), "the training stage outlived `instructkit run`"
        finished = [p for p in (tmp_path / "work" / "sft").iterdir() if not p.name.endswith(".partial")]
        assert finished == [], f"a model was committed after the kill: {finished}"
    finally:
        if proc.poll() is None:
            proc.kill()
