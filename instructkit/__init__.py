"""instructkit: curate instruction data and human feedback, and train aligned models on it.

The Python API (``api.py``): one function per stage, the same params as the command line::

    import instructkit
    out = instructkit.dedupe("out/ingest", "out/dedupe", threshold=0.7)   # -> Path of the new version

Importing this package is cheap: stage modules load on first use, and data stages never import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from instructkit.errors import ConfigError, InputError, InstructkitError, RecordError, ShardError

__version__ = "0.1.0"

# Stages whose implementing package has the stage's name: the package itself is callable.
_PACKAGES = ("ingest", "dedupe", "synth", "eval", "generate", "quality", "export")
_FUNCTIONS = (
    "filter",
    "annotate_export",
    "annotate_import",
    "sft",
    "reward",
    "rlhf",
    "mix",
    "split",
    "read",
    "to_dataset",
    "run_stage",
)

__all__ = [
    *_PACKAGES,
    *_FUNCTIONS,
    "InstructkitError",
    "ConfigError",
    "InputError",
    "RecordError",
    "ShardError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _PACKAGES:
        return importlib.import_module(f"instructkit.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module("instructkit.api"), name)
    raise AttributeError(f"module 'instructkit' has no attribute {name!r}")
