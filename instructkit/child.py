"""Run one registered stage in a child process that dies with its parent.

Recipes run training stages (``StageSpec.isolate``) here so the memory a model took is returned to
the OS when the stage ends. The child is built from the registry, not from a command line: the
parent sends ``{"stage", "inputs", "out", "config", "flags"}`` as JSON on stdin and reads the
``Result`` back from a file, so no value is re-encoded as a flag.

Lifetime: the child runs in its own process group (``start_new_session``), so a Ctrl-C in the
terminal reaches only the parent, which then kills the whole group; and it asks the kernel for
SIGKILL when its parent dies (``PR_SET_PDEATHSIG``, Linux), so a ``kill -9`` of ``instructkit run``
cannot leave a stage running that would later commit a version nobody asked for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from instructkit.errors import InstructkitError
from instructkit.registry import Result

PR_SET_PDEATHSIG = 1


def run_in_child(
    name: str,
    inputs: list[str],
    out: str | Path,
    *,
    config: str | Path | None = None,
    flags: dict[str, Any] | None = None,
    launcher: dict[str, Any] | None = None,
) -> Result:
    """``registry.run_stage`` in a child process; raises InstructkitError if the child fails.

    With ``launcher`` (``launchers.parse`` of a recipe's ``launcher:``) the child is started through
    ``accelerate launch`` or ``torchrun``: every rank reads the request from a file, rank 0 reports.
    """
    request = {
        "stage": name,
        "inputs": [str(i) for i in inputs],
        "out": str(out),
        "config": str(config) if config else None,
        "flags": flags or {},
        "parent": os.getpid(),
    }
    with tempfile.TemporaryDirectory(prefix="instructkit-child-") as tmp:
        result_path = Path(tmp) / "result.json"
        request["result"] = str(result_path)
        if launcher is not None:
            from instructkit.launchers import command

            request["launched"] = True  # the ranks' parent is the launcher, not this process
            request_path = Path(tmp) / "request.json"
            request_path.write_text(json.dumps(request))
            proc = subprocess.Popen(command(launcher, args=(str(request_path),)), start_new_session=True)
        else:
            proc = subprocess.Popen(
                [sys.executable, "-m", "instructkit.child"],
                stdin=subprocess.PIPE,
                start_new_session=True,
            )
        try:
            if proc.stdin is not None:
                proc.stdin.write(json.dumps(request).encode())
                proc.stdin.close()
            code = proc.wait()
        except BaseException:  # Ctrl-C or an error here: the stage must not outlive us
            _kill_group(proc)
            raise
        if code != 0 or not result_path.is_file():
            message = f"{name} stopped with exit code {code}"
            if result_path.is_file():
                message = json.loads(result_path.read_text()).get("error", message)
            raise InstructkitError(message)
        data = json.loads(result_path.read_text())
    return Result(Path(data["path"]), data.get("manifest", {}), data.get("summary", {}))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _die_with_parent(parent: int | None) -> None:
    """SIGKILL this process when the parent dies (Linux); elsewhere, exit if it is already gone.

    ``parent`` None (under a launcher): the parent is the launcher, which the group kill reaches.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(137)


def main() -> int:
    # A request file as the argument under a launcher (every rank reads it), else stdin.
    request = json.loads(Path(sys.argv[1]).read_text() if len(sys.argv) > 1 else sys.stdin.read())
    _die_with_parent(None if request.get("launched") else int(request["parent"]))
    result_path = Path(request["result"])
    from instructkit.registry import run_stage

    try:
        result = run_stage(
            request["stage"],
            request["inputs"],
            request["out"],
            config=request["config"],
            flags=request["flags"],
        )
    except InstructkitError as exc:
        result_path.write_text(json.dumps({"error": str(exc)}))
        return 2
    from instructkit.launchers import is_main_rank

    if is_main_rank():  # under a launcher every rank ran the stage; rank 0 saved the model and reports
        payload = {"path": str(result.path), "manifest": result.manifest, "summary": result.summary}
        result_path.write_text(json.dumps(payload, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
