"""The one place that loads models: tokenizers, causal LMs, sequence classifiers (reward models), bare
trunks and sentence encoders, from a local directory or a hub id.

Every loader follows the same rules, so a stage cannot forget one:

- safetensors only (``use_safetensors=True``): pickle checkpoints (``pytorch_model.bin``, ``*.pt``)
  can run code when loaded. A local directory that holds only pickle weights is refused with an
  ``InputError`` that names it and says how to convert it.
- Remote code (the model repo's own Python) only when the caller passes ``trust_remote_code=True``.
- ``dtype``: None or ``"auto"`` keeps the checkpoint's dtype (config.json); else a torch dtype name
  (``float32``, ``bfloat16``, ``float16``) or a ``torch.dtype``.
- ``device``: None leaves the model where ``from_pretrained`` put it (the CPU; a Trainer moves it
  later); ``"auto"`` means cuda when available, else cpu; anything else is a torch device name. A model
  moved to a device is also put in eval mode (inference callers: generation, filters, encoders).
- Failures are ``InputError`` with the path and a hint, never a transformers traceback.

torch and transformers are imported inside the functions: importing this module is free.

Example:
    >>> tok = load_tokenizer("out/tiny", pad_token=True)
    >>> lm = load_causal_lm("out/tiny", device="auto")
    >>> emb = load_encoder("out/all-minilm-l6-v2")(["hello", "hi"])  # (2, 384), unit rows
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from instructkit.errors import ConfigError, InputError

# Pickle checkpoint suffixes: torch.load on these can execute arbitrary code.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
# Pickles a Trainer checkpoint holds next to its safetensors weights; they are not weights.
_NOT_WEIGHTS = {"training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state.pth"}


# --- paths, devices, dtypes ------------------------------------------------------------------


def _looks_local(text: str) -> bool:
    """A path rather than a hub id (``org/name``): exists, starts like a path, or has 2+ slashes."""
    return Path(text).exists() or text.startswith((".", "/", "~")) or text.count("/") > 1 or os.sep + os.sep in text


def check_model_path(name_or_path: str | Path, *, weights: bool = False) -> str:
    """``name_or_path`` as a string, after checking a local directory.

    A hub id (``org/name``) passes unchecked: ``from_pretrained`` resolves it. A local path must be a
    directory with ``config.json`` or ``tokenizer_config.json``; with ``weights``, a directory whose
    only weights are pickles is refused.

    Raises:
        InputError: the directory is missing, is not a model directory, or holds only pickle weights.
    """
    text = str(name_or_path)
    if not _looks_local(text):
        return text
    path = Path(text).expanduser()
    if not path.is_dir():
        raise InputError(
            "model directory not found",
            file=text,
            hint="build one with: instructkit model tiny out/tiny, or pass a hub id",
        )
    if not (path / "config.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise InputError(
            "cannot load model: not a model directory (no config.json)",
            file=text,
            hint="pass the directory save_pretrained wrote",
        )
    if weights:
        _refuse_pickle_only(path, text)
    return str(path)


def _refuse_pickle_only(path: Path, text: str) -> None:
    if any(path.glob("*.safetensors")):
        return
    pickles = sorted(
        f.name for f in path.iterdir() if f.suffix in PICKLE_SUFFIXES and f.name not in _NOT_WEIGHTS and f.is_file()
    )
    if pickles:
        raise InputError(
            f"refusing pickle weights ({', '.join(pickles[:3])}): instructkit loads safetensors only, "
            "as pickle files can run code when loaded",
            file=text,
            hint="convert the directory to safetensors once, where you trust the file: "
            "AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(NEW_DIR) writes model.safetensors",
        )


def pick_device(device: str | None = "auto") -> str:
    """``device`` as given; None or ``"auto"``: ``cuda`` when available, else ``cpu``."""
    if device and device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: Any) -> Any:
    """None or ``"auto"`` -> ``"auto"`` (the checkpoint's dtype); a name -> the ``torch.dtype``."""
    if dtype is None or dtype == "auto":
        return "auto"
    if not isinstance(dtype, str):
        return dtype
    import torch

    value = getattr(torch, dtype, None)
    if not isinstance(value, torch.dtype):
        raise ConfigError(f"unknown dtype {dtype!r}", hint="use auto, float32, bfloat16 or float16")
    return value


def _load_error(what: str, exc: Exception, text: str) -> InputError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "trust_remote_code" in str(exc):
        hint = "the model ships its own Python code; pass trust_remote_code only for a repo you trust"
    elif what == "tokenizer":
        hint = "pass a model directory with tokenizer files, or a hub id reachable from here"
    else:
        hint = (
            "the directory needs config.json and *.safetensors weights (pickle .bin weights are refused "
            "for safety); build a test model with: instructkit model tiny OUT"
        )
    return InputError(f"cannot load {what}: {first}", file=text, hint=hint)


# --- tokenizers ------------------------------------------------------------------------------


def load_tokenizer(
    name_or_path: str | Path,
    *,
    trust_remote_code: bool = False,
    chat_template: str | None = None,
    pad_token: bool = False,
    padding_side: str | None = None,
):
    """Load a tokenizer, optionally replacing its chat template and filling in a pad token.

    Args:
        name_or_path: Model directory or hub id.
        trust_remote_code: Allow the repo's own tokenizer code.
        chat_template: None keeps the model's; ``chatml`` installs our ChatML template with
            ``{% generation %}`` markers (adding ``<|im_start|>``/``<|im_end|>`` if missing; for base
            models); ``training`` asks TRL for the training variant of a known family's template
            (Qwen, Llama 3, Gemma, Phi ...); any other value is a Jinja file path.
        pad_token: Use the eos token as pad token when the tokenizer has none (Llama tokenizers ship
            without one); for batched inference. Training checks pad/eos in ``train.checks`` instead.
        padding_side: ``left`` (decoder-only generation) or ``right``; None keeps the tokenizer's.
    """
    from transformers import AutoTokenizer

    text = check_model_path(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(text, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise _load_error("tokenizer", exc, text) from None
    if chat_template is not None:
        set_chat_template(tok, chat_template, name=text)
    if pad_token and tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if padding_side is not None:
        tok.padding_side = padding_side
    return tok


def set_chat_template(tok, chat_template: str, *, name: str = "the model") -> None:
    """Replace ``tok``'s chat template: ``chatml``, ``training`` or a Jinja file (see ``load_tokenizer``)."""
    if chat_template == "chatml":
        from instructkit.train.tiny import CHATML_TEMPLATE

        missing = [t for t in ("<|im_start|>", "<|im_end|>") if t not in tok.get_vocab()]
        if missing:
            tok.add_special_tokens({"additional_special_tokens": missing})
        tok.chat_template = CHATML_TEMPLATE
        tok.eos_token = "<|im_end|>"
    elif chat_template == "training":
        from trl import get_training_chat_template

        try:
            patched = get_training_chat_template(tok)
        except ValueError:
            raise ConfigError(
                f"TRL has no training variant of the chat template of {name}",
                hint="use --chat-template chatml or a Jinja file with {% generation %} markers",
            ) from None
        if patched is not None:
            tok.chat_template = patched
    elif Path(chat_template).is_file():
        tok.chat_template = Path(chat_template).read_text("utf-8")
    else:
        raise ConfigError(
            f"unknown chat template {chat_template!r}",
            hint="use 'chatml', 'training' (TRL's variant for known model families) "
            "or the path of a Jinja template file",
        )


# --- models ----------------------------------------------------------------------------------


def load_pretrained(
    auto_cls,
    name_or_path: str | Path,
    *,
    trust_remote_code: bool = False,
    dtype: Any = None,
    device: str | None = None,
    **kwargs: Any,
):
    """``auto_cls.from_pretrained`` under the module's rules (safetensors only, remote code off, errors).

    ``kwargs`` go to ``from_pretrained`` (e.g. ``attn_implementation="flash_attention_2"``, ``num_labels``).
    """
    text = check_model_path(name_or_path, weights=True)
    dtype = resolve_dtype(dtype)
    try:
        model = auto_cls.from_pretrained(
            text, trust_remote_code=trust_remote_code, use_safetensors=True, dtype=dtype, **kwargs
        )
    except (OSError, ValueError) as exc:
        raise _load_error("model", exc, text) from None
    if device is not None:
        model = model.to(pick_device(device)).eval()
    return model


def load_causal_lm(
    name_or_path: str | Path,
    *,
    trust_remote_code: bool = False,
    dtype: Any = None,
    device: str | None = None,
    **kwargs: Any,
):
    """A causal LM (``AutoModelForCausalLM``), safetensors only."""
    from transformers import AutoModelForCausalLM

    return load_pretrained(
        AutoModelForCausalLM, name_or_path, trust_remote_code=trust_remote_code, dtype=dtype, device=device, **kwargs
    )


def load_sequence_classifier(
    name_or_path: str | Path,
    *,
    trust_remote_code: bool = False,
    dtype: Any = None,
    device: str | None = None,
    num_labels: int | None = 1,
    **kwargs: Any,
):
    """A sequence-classification model (a reward model: ``num_labels=1``), safetensors only.

    ``num_labels=None`` keeps the number the checkpoint's config has.
    """
    from transformers import AutoModelForSequenceClassification

    if num_labels is not None:
        kwargs["num_labels"] = num_labels
    return load_pretrained(
        AutoModelForSequenceClassification,
        name_or_path,
        trust_remote_code=trust_remote_code,
        dtype=dtype,
        device=device,
        **kwargs,
    )


def load_base_model(
    name_or_path: str | Path,
    *,
    trust_remote_code: bool = False,
    dtype: Any = None,
    device: str | None = None,
    **kwargs: Any,
):
    """The bare transformer (``AutoModel``: hidden states, no head), safetensors only."""
    from transformers import AutoModel

    return load_pretrained(
        AutoModel, name_or_path, trust_remote_code=trust_remote_code, dtype=dtype, device=device, **kwargs
    )


def sync_pad_token(model, tokenizer) -> None:
    """Give ``model.config`` the tokenizer's pad token id when it has none: sequence classifiers pool the
    last non-pad token and cannot find it in a padded batch without one."""
    if getattr(model.config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id


# --- encoders --------------------------------------------------------------------------------


class Encoder:
    """Sentence embeddings: hidden states mean-pooled over the attention mask (Reimers and Gurevych
    2019, Sentence-BERT) and L2-normalised, ``batch_size`` texts at a time.

    Any transformers model loadable with ``AutoModel`` works (all-MiniLM-L6-v2 is the default of
    semantic dedupe; the tiny offline model serves the tests).

    Args:
        name_or_path: Model directory (with its tokenizer) or hub id.
        batch_size: Texts per forward pass.
        max_length: Tokens kept per text.
        device: ``auto`` (cuda when available), ``cpu``, ``cuda:1``...
        dtype: Weights dtype (None: the checkpoint's).
        trust_remote_code: Allow the repo's own model code.
    """

    def __init__(
        self,
        name_or_path: str | Path,
        *,
        batch_size: int = 32,
        max_length: int = 256,
        device: str | None = "auto",
        dtype: Any = None,
        trust_remote_code: bool = False,
    ):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.model = load_base_model(
            name_or_path, trust_remote_code=trust_remote_code, dtype=dtype, device=device or "auto"
        )
        self.tokenizer = load_tokenizer(name_or_path, trust_remote_code=trust_remote_code, pad_token=True)
        self.batch_size, self.max_length = batch_size, max_length
        self.dim = int(self.model.config.hidden_size)

    def __call__(self, texts: list[str]):
        """L2-normalised float32 embeddings (a numpy array), one row per text."""
        import numpy as np
        import torch

        out = []
        for s in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[s : s + self.batch_size]]  # empty text: no tokens
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            enc.pop("token_type_ids", None)
            enc = enc.to(self.model.device)
            with torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(mean.float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.empty((0, self.dim), dtype=np.float32)


def load_encoder(name_or_path: str | Path, **kwargs: Any) -> Encoder:
    """An :class:`Encoder` for ``name_or_path`` (keyword arguments as the class takes them)."""
    return Encoder(name_or_path, **kwargs)


__all__ = [
    "Encoder",
    "check_model_path",
    "load_base_model",
    "load_causal_lm",
    "load_encoder",
    "load_pretrained",
    "load_sequence_classifier",
    "load_tokenizer",
    "pick_device",
    "resolve_dtype",
    "set_chat_template",
    "sync_pad_token",
]
