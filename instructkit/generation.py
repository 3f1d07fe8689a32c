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

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from instructkit.errors import ConfigError, InputError, InstructkitError
from instructkit.redact import has_userinfo, redact, redact_url

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


# --- HTTP -------------------------------------------------------------------------------------


def chat_url(base_url: str) -> str:
    """``http://host:8000``, ``.../v1`` or the full endpoint -> the chat completions URL.

    The path goes before a query string (``http://h/v1?api-version=2`` -> ``http://h/v1/chat/completions?...``).
    """
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions" if path.endswith("/v1") else "/v1/chat/completions"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def models_url(chat: str) -> str:
    """The ``/models`` URL next to a chat completions URL (query kept)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(chat)
    path = parts.path.removesuffix("/chat/completions") + "/models"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class HttpGenerator:
    """Generation through an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        base_url: Server root (``http://127.0.0.1:8000``), its ``/v1``, or the full endpoint URL.
        model: The model name the server expects (``transformers serve DIR`` names it ``DIR``);
            None asks ``/v1/models`` and uses the only model listed.
        api_key_env: Environment variable holding the API key, sent as ``Authorization: Bearer``;
            read at request time, never stored, logged or described. Unset: no header.
        concurrency: Requests in flight at once (a thread pool).
        max_retries: Retries per request after a 429, 5xx, timeout or connection error.
        backoff: First retry delay in seconds; doubles every retry (0.5, 1, 2 s); a ``Retry-After``
            header, when sent, is honoured up to 60 s.
        timeout: Seconds per request.
        max_requests: Budget of HTTP requests (retries included) for this generator's lifetime;
            None means unlimited. Exceeding it raises ``BudgetExhausted``.
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        max_retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 60,
        max_requests: int | None = None,
    ):
        import httpx

        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
        if max_requests is not None and max_requests < 1:
            raise ConfigError(f"max_requests must be at least 1 (or None), got {max_requests}")
        if has_userinfo(base_url):  # httpx would send it as Basic auth instead of the API key
            raise ConfigError(
                f"the server URL {redact_url(base_url)} holds user:password@ (it would be sent as Basic auth "
                "instead of the API key, and could end up in logs)",
                hint=f"remove it from the URL and put the key in the environment variable {api_key_env}",
            )
        self.base_url, self.url = base_url, chat_url(base_url)
        self.shown = redact_url(self.url)  # the URL as messages print it: no query values
        self.api_key_env, self.concurrency = api_key_env, concurrency
        self.max_retries, self.backoff, self.timeout = max_retries, backoff, timeout
        self.max_requests = max_requests
        self.requests_sent = 0
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=timeout)
        self.model = model or self._only_model()

    def __repr__(self) -> str:
        return f"HttpGenerator({redact_url(self.base_url)!r}, model={self.model!r})"

    def describe(self) -> dict:
        return {
            "backend": "http",
            "url": redact_url(self.base_url),
            "model": self.model,
            "concurrency": self.concurrency,
            "requests_sent": self.requests_sent,
            "usage": dict(self.usage),
        }

    def close(self) -> None:
        self._client.close()

    def _headers(self) -> dict:
        key = os.environ.get(self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _take_budget(self) -> None:
        with self._lock:
            if self.max_requests is not None and self.requests_sent >= self.max_requests:
                raise BudgetExhausted(
                    f"request budget exhausted: {self.requests_sent} of {self.max_requests} "
                    f"requests sent to {redact_url(self.base_url)}",
                    hint="raise the budget (max_requests) or generate for fewer prompts",
                )
            self.requests_sent += 1

    def _only_model(self) -> str:
        url = models_url(self.url)
        try:
            self._take_budget()
            data = self._client.get(url, headers=self._headers()).json()["data"]
        except BudgetExhausted:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure means: the user must name the model
            raise ConfigError(
                f"no model name given and {redact_url(url)} did not list one ({type(exc).__name__})",
                hint="pass the model name the server expects",
            ) from None
        if len(data) != 1:
            raise ConfigError(
                f"no model name given and the server lists {len(data)} models",
                hint=f"pass one of: {', '.join(str(m.get('id')) for m in data[:10])}",
            )
        return str(data[0]["id"])

    def _post(self, body: dict) -> str:
        """One completion, with retries; returns the reply text."""
        import httpx

        last = ""
        for attempt in range(self.max_retries + 1):
            self._take_budget()
            delay = self.backoff * 2**attempt
            try:
                resp = self._client.post(self.url, json=body, headers=self._headers())
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}"
            else:
                if resp.status_code == 200:
                    return self._parse(resp)
                last = f"HTTP {resp.status_code}: {self._body(resp)}"
                if not _retryable(resp.status_code):
                    raise GenerationError(
                        f"{self.shown} answered {last}",
                        hint=f"check the model name, the API key variable {self.api_key_env} and the request options",
                    )
                retry_after = resp.headers.get("retry-after", "")
                if retry_after.replace(".", "", 1).isdigit():
                    delay = min(float(retry_after), 60.0)
            if attempt < self.max_retries:
                time.sleep(delay)
        raise GenerationError(
            f"{self.shown} failed after {self.max_retries + 1} attempts (last: {last})",
            hint="is the server up? raise max_retries or timeout for a slow server",
        )

    def _body(self, resp) -> str:
        """The start of a server's answer for a message, the key sent (a server may echo it) and secrets masked."""
        return redact(resp.text[:4000], [os.environ.get(self.api_key_env)])[:200]

    def _parse(self, resp) -> str:
        try:
            data = resp.json()
            text = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise GenerationError(
                f"{self.shown} answered 200 without choices[0].message.content: {self._body(resp)}"
            ) from None
        usage = data.get("usage") or {}
        with self._lock:
            for key in self.usage:
                self.usage[key] += int(usage.get(key) or 0)
        return text or ""

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

        ``n > 1`` sends ``n`` requests per conversation with seeds ``seed, seed+1, ...`` (many
        servers ignore the ``n`` field). Order is kept whatever order the answers arrive in.
        """
        _check_args(max_new_tokens, temperature, top_p, n)
        need = len(conversations) * n
        if self.max_requests is not None and self.requests_sent + need > self.max_requests:
            raise BudgetExhausted(
                f"{need} requests needed but only {self.max_requests - self.requests_sent} "
                f"of the budget of {self.max_requests} are left",
                hint="raise the budget (max_requests) or generate for fewer prompts",
            )
        bodies = [
            {
                "model": self.model,
                "messages": [{"role": m["role"], "content": m["content"]} for m in conv],
                "max_tokens": max_new_tokens,
                "temperature": temperature,
                "top_p": top_p,
                "seed": seed + j,
            }
            for conv in conversations
            for j in range(n)
        ]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            flat = list(pool.map(self._post, bodies))
        return _shape(flat, n)


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
        return HttpGenerator(str(spec), model, **http)
    if http:
        raise ConfigError(f"HTTP options {sorted(http)} given for a local model {spec}")
    path = Path(spec)
    if not path.exists() and (path.is_absolute() or str(spec).startswith(".")):
        raise InputError(
            "no such model directory", file=str(spec), hint="pass a model directory or an http(s):// server URL"
        )
    return LocalGenerator(spec, batch_size=batch_size, trust_remote_code=trust_remote_code, device=device)
