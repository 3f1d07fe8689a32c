"""Shared fixtures: the sample data, the tiny offline model, the public data (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models are overhead-bound: one thread is faster than two fighting over 2 cores (35 ms vs 800 ms
# a step was measured here under load). Read by torch at import, and inherited by CLI subprocesses.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data not present at {SHARED_DATA} (only on the developers' machines)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny Llama + tokenizer built offline once per test session."""
    from instructkit.train.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def cli():
    """Run the real CLI in-process: ``result = cli("ingest", path, "-o", out)``."""
    from instructkit.cli.app import app

    runner = CliRunner()

    def invoke(*args, ok: bool = True):
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        if ok and result.exit_code != 0:
            raise AssertionError(f"exit {result.exit_code}: {result.output}")
        return result

    return invoke


# Real small models from their PyPI packages (make install's `models` step), written once into
# .tmp-models/ (git-ignored) and reused across sessions: SmolLM2's conversion takes 20-80 s here.
REAL_MODELS = ROOT / ".tmp-models"


def real_model(name: str) -> Path:
    """The directory of ``instructkit model get NAME``, built on first use; skips when the package is absent."""
    from instructkit.errors import InputError
    from instructkit.registry import resolve_target
    from instructkit.train.builders import BUILDERS

    out = REAL_MODELS / name
    if not (out / "manifest.json").is_file():
        try:
            resolve_target(BUILDERS[name].target)(out)
        except InputError as exc:  # the package (or gguf) is not installed
            pytest.skip(str(exc))
    return out


@pytest.fixture(scope="session")
def smollm2() -> Path:
    return real_model("smollm2-135m-instruct")


@pytest.fixture(scope="session")
def minilm() -> Path:
    return real_model("all-minilm-l6-v2")
