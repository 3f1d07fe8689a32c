"""Launchers for training stages: ``accelerate launch`` or ``torchrun`` instead of one Python process.

A recipe stage names one with the ``launcher:`` key (``instructkit/recipe.py``); the child process
runner (``instructkit/child.py``) then starts ``instructkit.child`` through it, so the stage runs on
every GPU (and node) the way TRL's own examples do. Each rank reads the same request file and runs
the same registered stage; TRL/transformers do the distributed work and rank 0 reports the result.

Recipe spellings::

    launcher: accelerate                       # accelerate's defaults (its own config if any)
    launcher:
      kind: accelerate
      config: recipes/accelerate/zero2.yaml    # ZeRO-2; zero3.yaml, fsdp.yaml are shipped too
      num_processes: 8                          # total over all machines
      num_machines: 2
      machine_rank: 0                           # 1 on the second node
      main_process_ip: 10.0.0.1
      main_process_port: 29500
    launcher: {kind: torchrun, nproc_per_node: 8, nnodes: 2, node_rank: 0, rdzv_endpoint: "10.0.0.1:29500"}

On N nodes, run the same recipe on each node with ``--set STAGE.launcher.machine_rank=K`` (or
``node_rank`` for torchrun); docs/scale.md has the full walk-through.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError

# Options passed through as ``--KEY VALUE`` (underscores kept: both CLIs accept these spellings).
ACCELERATE_KEYS = (
    "num_processes",
    "num_machines",
    "machine_rank",
    "main_process_ip",
    "main_process_port",
    "mixed_precision",
    "gpu_ids",
)
TORCHRUN_KEYS = ("nproc_per_node", "nnodes", "node_rank", "rdzv_endpoint", "rdzv_backend", "rdzv_id", "master_port")
KINDS = {"accelerate": ACCELERATE_KEYS + ("config",), "torchrun": TORCHRUN_KEYS}


def parse(value: Any) -> dict[str, Any] | None:
    """A recipe's ``launcher:`` value as ``{"kind": ..., options}``; a ConfigError names what is wrong."""
    if value is None:
        return None
    spec = {"kind": value} if isinstance(value, str) else dict(value) if isinstance(value, dict) else None
    if spec is None or spec.get("kind") not in KINDS:
        raise ConfigError(
            f"unknown launcher {value!r}",
            hint="use launcher: accelerate | torchrun, or a mapping with kind: accelerate|torchrun and its options",
        )
    bad = [k for k in spec if k != "kind" and k not in KINDS[spec["kind"]]]
    if bad:
        raise ConfigError(
            f"unknown {spec['kind']} launcher option(s): {', '.join(bad)}",
            hint=f"valid: {', '.join(KINDS[spec['kind']])}",
        )
    if spec.get("config") is not None and not Path(spec["config"]).is_file():
        raise ConfigError(f"accelerate config file not found: {spec['config']}", hint="see recipes/accelerate/")
    return spec


def command(spec: dict[str, Any], module: str = "instructkit.child", args: tuple[str, ...] = ()) -> list[str]:
    """The command line that starts ``python -m module args`` under the launcher ``spec``."""
    kind = spec["kind"]
    if kind == "accelerate":
        cmd = [sys.executable, "-m", "accelerate.commands.launch"]
        if spec.get("config") is not None:
            cmd += ["--config_file", str(spec["config"])]
        keys = ACCELERATE_KEYS
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run"]
        keys = TORCHRUN_KEYS
    for key in keys:
        if spec.get(key) is not None:
            cmd += [f"--{key}", str(spec[key])]
    # Both take a module with -m (accelerate: --module / -m; torchrun: --module / -m).
    return [*cmd, "-m", module, *args]


def is_main_rank() -> bool:
    """True in a plain process and on global rank 0 under a launcher (RANK is set by both)."""
    import os

    return os.environ.get("RANK", "0") == "0"
