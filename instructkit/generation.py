"""Text generation behind one small interface: a local model directory or an OpenAI-compatible server.

Used by ``eval`` (model generations, the LLM judge) and ``synth`` (data generation). Both backends
take conversations in our message format (``[{"role": ..., "content": ...}, ...]``) and return the
assistant's reply text.

Return shape (both backends): with ``n == 1``, ``generate`` returns ``list[str]``, one reply per
conversation; with ``n > 1`` it returns ``list[list[str]]``, ``n`` replies per conversation.

- ``LocalGenerator``: transformers, batched with left padding, the tokenizer's chat template, greedy
  when ``temperature == 0`` else seeded sampling; decodes only the new tokens; stops at eos. Loads
  safetensors weights only; remote code only when asked.
- ``HttpGenerator``: ``POST {base_url}/v1/chat/completions`` with httpx, a thread pool for
  concurrency, retries with exponential backoff on 429/5xx/timeouts/connection errors, and a request
  budget. The API key is read from the environment at request time and never stored or logged;
  ``describe()`` is the safe description to put in manifests and reports.

Example:
    >>> gen = make_generator("out/sft-model", batch_size=4)
    >>> gen.generate([[{"role": "user", "content": "Hi"}]], max_new_tokens=32)
    ['Hello! How can I help?']
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from instructkit.errors import ConfigError, InputError, InstructkitError

Conversation = list[dict]


class BudgetExhausted(InstructkitError):
    """The HTTP generator reached ``max_requests``."""


class GenerationError(InstructkitError):
    """A server answered with an error that retrying cannot fix, or retries ran out."""


@runtime_checkable
class Generator(Protocol):
    """Anything that turns conversations into assistant replies."""

    def generate(
        self,
        conversations: list[Conversation],
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        n: int = 1,
    ) -> list[str] | list[list[str]]:
        """Replies for each conversation: ``list[str]`` when ``n == 1``, else ``n`` per conversation."""
        ...

    def describe(self) -> dict:
        """A JSON-safe description (no secrets) for manifests and reports."""
        ...


def _check_args(max_new_tokens: int, temperature: float, top_p: float, n: int) -> None:
    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"top_p must be in (0, 1], got {top_p}")
    if n < 1:
        raise ConfigError(f"n must be at least 1, got {n}")


def _shape(flat: list[str], n: int) -> list[str] | list[list[str]]:
    """Flat replies (conversation-major, n per conversation) -> the documented return shape."""
    if n == 1:
        return flat
    return [flat[i : i + n] for i in range(0, len(flat), n)]


# --- local ------------------------------------------------------------------------------------


def pick_device(device: str | None) -> str:
    """``device`` as given, else ``cuda`` when available, else ``cpu`` (see :mod:`instructkit.models`)."""
    from instructkit.models import pick_device as pick

    return pick(device)


def load_causal_lm(model_dir: str | Path, *, trust_remote_code: bool = False, device: str | None = None):
    """A causal LM on ``device`` (default: cuda when available) in eval mode, and its tokenizer.

    Loaded by :mod:`instructkit.models` (safetensors only, remote code only when asked); the
    tokenizer gets the eos token as pad token when it has none (Llama-2/3 tokenizers ship without one).
    """
    from instructkit import models

    tokenizer = models.load_tokenizer(model_dir, trust_remote_code=trust_remote_code, pad_token=True)
    model = models.load_causal_lm(model_dir, trust_remote_code=trust_remote_code, device=device or "auto")
    return model, tokenizer


def chat_prompt(tokenizer, conversation: Conversation) -> str:
    """The prompt text for a conversation with the generation prompt appended.

    Without a chat template (a base model) a plain ``Role: content`` transcript ending in
    ``Assistant:`` is used.
    """
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in conversation]
    return "\n".join(lines + ["Assistant:"])


_WARNED: set[tuple[int, int]] = set()


class LocalGenerator:
    """Batched generation with a local transformers model directory.

    Args:
        model_dir: A directory written by ``save_pretrained`` (or a hub id where a hub is reachable).
        batch_size: Conversations per forward batch (left-padded to the longest in the batch).
        trust_remote_code: Allow the model's own Python code (off by default: it runs arbitrary code).
        device: ``cpu``, ``cuda``, ``cuda:1``...; default: cuda when available.
    """

    def __init__(
        self, model_dir: str | Path, *, batch_size: int = 8, trust_remote_code: bool = False, device: str | None = None
    ):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.model_dir = str(model_dir)
        self.batch_size = batch_size
        self.model, self.tokenizer = load_causal_lm(model_dir, trust_remote_code=trust_remote_code, device=device)
        self.device = self.model.device
        self.tokenizer.padding_side = "left"  # decoder-only: new tokens must follow the prompt directly
        eos = {self.tokenizer.eos_token_id}
        gen_eos = self.model.generation_config.eos_token_id
        eos.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
        self.eos_ids = sorted(i for i in eos if i is not None)
        positions = getattr(self.model.config, "max_position_embeddings", None)
        self.max_positions = int(positions) if positions else None

    def describe(self) -> dict:
        return {"backend": "local", "model": self.model_dir, "batch_size": self.batch_size}

    def generate(
        self,
        conversations: list[Conversation],
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        n: int = 1,
    ) -> list[str] | list[list[str]]:
        """Replies for each conversation (see the module docstring for the return shape).

        Greedy when ``temperature == 0`` (then ``n > 1`` gives ``n`` identical copies), else nucleus
        sampling seeded with ``seed + batch index``, so a run is reproducible for a fixed batch size.
        """
        import torch

        _check_args(max_new_tokens, temperature, top_p, n)
        prompts = [chat_prompt(self.tokenizer, c) for c in conversations]
        if self.max_positions and max_new_tokens > self.max_positions // 2:
            # A reply limit past the model's context (3072 on a 1024-position model) would leave no room
            # for the prompt: cap it at half the context, as a user would set it by hand, and say so.
            capped = self.max_positions // 2
            if (max_new_tokens, capped) not in _WARNED:
                _WARNED.add((max_new_tokens, capped))
                print(
                    f"note: max_new_tokens={max_new_tokens} capped at {capped} (the model holds "
                    f"{self.max_positions} positions)",
                    file=sys.stderr,
                )
            max_new_tokens = capped
        # Keep the newest prompt tokens when a prompt would not leave room for the reply.
        max_prompt = self.max_positions - max_new_tokens if self.max_positions else None
        self.tokenizer.truncation_side = "left"
        sample = temperature > 0
        flat: list[str] = []
        for b, start in enumerate(range(0, len(prompts), self.batch_size)):
            batch = prompts[start : start + self.batch_size]
            # The chat template already adds special tokens such as BOS: do not add them twice.
            enc = self.tokenizer(
                batch,
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
                truncation=max_prompt is not None,
                max_length=max_prompt,
            ).to(self.device)
            kwargs: dict[str, Any] = {
                "max_new_tokens": max_new_tokens,
                "eos_token_id": self.eos_ids,
                "pad_token_id": self.tokenizer.pad_token_id,
                "do_sample": sample,
            }
            if sample:
                kwargs.update(temperature=temperature, top_p=top_p, num_return_sequences=n)
                torch.manual_seed(seed + b)
            else:  # greedy: unset sampling knobs a model's generation_config may carry
                kwargs.update(temperature=None, top_p=None, top_k=None)
            with torch.no_grad():
                out = self.model.generate(**enc, **kwargs)
            new = out[:, enc["input_ids"].shape[1] :]  # left padding: all prompts end at the same column
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            if not sample and n > 1:
                texts = [t for t in texts for _ in range(n)]
            flat.extend(texts)
        return _shape(flat, n)

    def _last_only(self) -> dict:
        """``logits_to_keep=1`` where the model's forward takes it: the vocabulary projection for the last
        position only (a sixth of SmolLM2's forward at 500 tokens, and a 49k x length logits tensor less)."""
        import inspect

        return {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(self.model.forward).parameters else {}

    def next_token_probs(self, conversations: list[Conversation], prefixes: list[str], tokens: list[str]) -> list:
        """Probabilities of ``tokens`` as the next token after each conversation's reply starts with its prefix.

        One forward pass per batch, no sampling: ``out[i][j]`` is P(``tokens[j]`` | chat prompt of
        ``conversations[i]`` + ``prefixes[i]``) under the full softmax (not renormalised over ``tokens``).
        Each of ``tokens`` must be one token of this tokenizer's vocabulary (``"5"``, ``"A"``).
        """
        import torch

        ids = self.tokenizer.convert_tokens_to_ids(tokens)
        unk = self.tokenizer.unk_token_id
        missing = [t for t, i in zip(tokens, ids, strict=True) if i is None or (unk is not None and i == unk)]
        if missing:
            raise ConfigError(
                f"the model at {self.model_dir} has no single token for {missing}",
                hint="judge with --judge-mode generate instead",
            )
        prompts = [chat_prompt(self.tokenizer, c) + x for c, x in zip(conversations, prefixes, strict=True)]
        self.tokenizer.truncation_side = "left"
        out: list[list[float]] = []
        for start in range(0, len(prompts), self.batch_size):
            enc = self.tokenizer(
                prompts[start : start + self.batch_size],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
                truncation=self.max_positions is not None,
                max_length=self.max_positions,
            ).to(self.device)
            with torch.no_grad():
                logits = self.model(**enc, **self._last_only()).logits[:, -1, :].float()  # left padding: last is next
            out.extend(torch.softmax(logits, dim=-1)[:, ids].tolist())
        return out


# --- factory ----------------------------------------------------------------------------------


def is_url(spec: str) -> bool:
    return str(spec).startswith(("http://", "https://"))


def make_generator(
    spec: str | Path,
    *,
    model: str | None = None,
    batch_size: int = 8,
    trust_remote_code: bool = False,
    device: str | None = None,
    **http: Any,
) -> Generator:
    """A generator for ``spec``: an http(s) URL -> ``HttpGenerator``, else a model dir -> ``LocalGenerator``.

    Args:
        spec: Server URL or model directory.
        model: The server's model name (HTTP only; None asks the server).
        batch_size, trust_remote_code, device: ``LocalGenerator`` options.
        **http: ``HttpGenerator`` options (api_key_env, concurrency, max_retries, backoff, timeout,
            max_requests).
    """
    if is_url(str(spec)):
        from instructkit.http_generator import HttpGenerator

        return HttpGenerator(str(spec), model, **http)
    if http:
        raise ConfigError(f"HTTP options {sorted(http)} given for a local model {spec}")
    path = Path(spec)
    if not path.exists() and (path.is_absolute() or str(spec).startswith(".")):
        raise InputError(
            "no such model directory", file=str(spec), hint="pass a model directory or an http(s):// server URL"
        )
    return LocalGenerator(spec, batch_size=batch_size, trust_remote_code=trust_remote_code, device=device)


_HTTP_NAMES = ("HttpGenerator", "chat_url", "models_url")


def __getattr__(name: str) -> Any:
    """``generation.HttpGenerator`` (and its URL helpers) live in ``http_generator.py``: re-exported lazily,
    since that module imports this one."""
    if name in _HTTP_NAMES:
        from instructkit import http_generator

        return getattr(http_generator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
