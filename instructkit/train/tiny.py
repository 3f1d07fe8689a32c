"""A tiny causal LM and tokenizer built fully offline (DESIGN.md section 5).

The tokenizer is a byte-level BPE trained with ``tokenizers`` on text we ship (data/samples plus a
built-in paragraph), so nothing is ever unknown. The model is a 2-layer Llama from a config. Both are
saved with ``save_pretrained`` and load back through the Auto classes, the path a real model takes.
Building takes about 2 s after imports on a CPU.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

# ChatML with {% generation %} markers around assistant content, so TRL's assistant_only_loss works.
# The end-of-turn token <|im_end|> is inside the generation block: the model learns to stop.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_BUILTIN_TEXT = """The quick brown fox jumps over the lazy dog. Write a short poem about the sea.
Explain why the sky is blue. Rayleigh scattering makes shorter wavelengths scatter more.
Give three tips for staying healthy: eat well, sleep enough, and exercise every day.
Translate to French: good morning -> bonjour. Summarise the following paragraph in one sentence.
What is 12 + 30? The answer is 42. List the planets of the solar system in order from the sun.
请用一句话介绍你自己。我是一个乐于助人的助手。今天天气很好。 Yes. No. Thank you! Sure, here is an answer.
"""


# Sub-folders of data/samples left out of the tokenizer's corpus: generated files (Label Studio exports
# that embed set fingerprints, the KTO stand-in) change whenever their generator or the fingerprint does,
# and the tiny model (so every threshold tuned on it) must not move with them.
_SKIP_DIRS = {"annotate", "kto"}


def _corpus(extra_dirs: list[Path]) -> Iterator[str]:
    for _ in range(20):
        yield _BUILTIN_TEXT
    for d in extra_dirs:
        if not d.is_dir():
            continue
        for f in sorted(d.rglob("*")):
            if set(f.relative_to(d).parts[:-1]) & _SKIP_DIRS:
                continue
            if f.is_file() and f.suffix in (".json", ".jsonl", ".txt", ".csv") and f.stat().st_size < 5_000_000:
                try:
                    yield f.read_text("utf-8", errors="ignore")
                except OSError:
                    continue


def default_sample_dir() -> Path:
    """``data/samples`` of the source tree (absent in a wheel install: then only built-in text)."""
    return Path(__file__).resolve().parents[2] / "data" / "samples"


def build_tokenizer(out: Path, *, vocab_size: int = 512, texts: list[Path] | None = None):
    """Train a byte-level BPE on our text and save it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(texts if texts is not None else [default_sample_dir()]), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|pad|>",
        eos_token="<|im_end|>",
        bos_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.model_max_length = 2048
    fast.padding_side = "right"
    fast.save_pretrained(out)
    return fast


def build_tiny(
    out: str | Path,
    *,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    vocab_size: int = 512,
    max_positions: int = 1024,
    seed: int = 0,
    texts: list[Path] | None = None,
) -> Path:
    """Build and save a tiny Llama plus tokenizer in ``out``; returns ``out``.

    Args:
        out: Directory to write (created).
        hidden_size: Model width (16-64 keeps it at about 0.1 M parameters).
        layers: Decoder layers.
        heads: Attention heads (must divide hidden_size).
        vocab_size: BPE vocabulary size, including the byte alphabet and special tokens.
        max_positions: Maximum sequence length.
        seed: Initialisation seed (the same seed gives the same weights).
        texts: Directories of text to train the tokenizer on (default: data/samples).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out, vocab_size=vocab_size, texts=texts)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    (out / "instructkit.json").write_text(
        json.dumps(
            {
                "built_by": "instructkit model tiny",
                "hidden_size": hidden_size,
                "layers": layers,
                "heads": heads,
                "vocab_size": len(tokenizer),
                "seed": seed,
            },
            indent=2,
        )
        + "\n"
    )
    return out
