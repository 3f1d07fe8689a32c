"""``make gpu-check`` (bench/gpu_check.py) on a machine without CUDA says it was skipped and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_is_skipped_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: run make gpu-check itself")
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("gpu-check skipped: no CUDA GPU visible")
