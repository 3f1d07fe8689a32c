"""The OpenAI-compatible HTTP generator (split out of ``generation.py``, which re-exports its names).

``HttpGenerator`` sends chat completions to any server that speaks the OpenAI API (``transformers
serve``, vLLM, a hosted API), with a request budget, concurrency, retries with backoff on 429/5xx and
timeouts, the API key read from the environment at request time, and every URL and server body
redacted before it is printed (``redact.py``).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from instructkit.errors import ConfigError
from instructkit.generation import BudgetExhausted, Conversation, GenerationError, _check_args, _shape
from instructkit.redact import has_userinfo, redact, redact_url


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
