"""`instructkit model tiny OUT`: a tiny model and tokenizer built offline (the registered ``model`` stage)."""

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
