"""`instructkit env`: the versions a bug report needs (Python, instructkit, torch, CUDA, HF libraries, GPUs).

Package versions come from installed metadata (``importlib.metadata``), so nothing heavy is imported
for them; torch alone is imported, for CUDA and the GPUs, and only when it is installed.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Annotated, Any

import typer

PACKAGES = (
    "torch",
    "transformers",
    "trl",
    "datasets",
    "accelerate",
    "peft",
    "tokenizers",
    "safetensors",
    "huggingface_hub",
    "deepspeed",
    "vllm",
    "lm_eval",
    "datasketch",
    "numpy",
)


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def collect() -> dict[str, Any]:
    """Versions and devices as a dict (what ``instructkit env --json`` prints)."""
    from instructkit import __version__

    info: dict[str, Any] = {
        "instructkit": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "cuda": None,
        "gpus": [],
    }
    if info["packages"]["torch"] is not None:
        try:
            import torch
        except Exception as exc:  # a broken torch install is exactly what a bug report must show
            info["torch_error"] = f"{type(exc).__name__}: {exc}"
        else:
            info["cuda"] = torch.version.cuda
            if torch.cuda.is_available():
                for i in range(torch.cuda.device_count()):
                    prop = torch.cuda.get_device_properties(i)
                    info["gpus"].append(f"{prop.name} ({prop.total_memory / 2**30:.0f} GiB)")
            elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
                info["gpus"].append("Apple MPS")
    return info


def env(json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of lines.")] = False) -> None:
    """Print versions of Python, instructkit, torch, CUDA, transformers, trl, datasets, accelerate, peft and the GPUs.

    Paste its output into a bug report. Example: instructkit env
    """
    info = collect()
    if json_out:
        import json

        typer.echo(json.dumps(info, indent=2))
        return
    lines = [
        f"instructkit: {info['instructkit']}",
        f"python: {info['python']}",
        f"platform: {info['platform']}",
    ]
    lines += [f"{name}: {version or 'not installed'}" for name, version in info["packages"].items()]
    if "torch_error" in info:
        lines.append(f"torch import: {info['torch_error']}")
    lines.append(f"cuda: {info['cuda'] or 'none (CPU build of torch, or no torch)'}")
    lines.append(f"gpus: {', '.join(info['gpus']) or 'none'}")
    typer.echo("\n".join(lines))
