"""The one place synth talks to a generator: batching, the request cache, the request budget.

Loops build requests (messages plus decoding knobs); ``Engine.run`` answers a batch of them: cached
replies come from the cache, the rest go to the generator. A batch generator (a local model) gets one
``generate`` call per distinct set of decoding knobs, and each reply is cached as soon as the call
returns. A request-at-a-time generator (one with a ``concurrency`` attribute: the HTTP client) gets
one single-request call per request, ``concurrency`` at a time, and each reply is cached as soon as it
arrives, so when a request fails after all its retries the replies already finished are kept: the
engine lets the requests in flight finish, sends no new ones, and raises ``RequestsFailed`` (an
``InstructkitError``) saying how many requests are cached; a re-run sends only the missing ones.
``--max-requests`` counts only requests actually sent: when the budget would be exceeded, the
affordable prefix is sent and cached, then ``OutOfBudget`` tells the loop to stop and commit what it
has; a re-run continues from the cache.
"""

from __future__ import annotations

from concurrent.futures import CancelledError, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from instructkit.errors import InstructkitError
from instructkit.synth.cache import RequestCache, request_key
from instructkit.synth.prompts import TEMPLATE_VERSION


class OutOfBudget(Exception):
    """The request budget (``--max-requests``) is spent; finished requests are cached."""


class RequestsFailed(InstructkitError):
    """A generation request failed (after the generator's retries); finished requests are cached."""


@dataclass
class Request:
    """One generation request. ``purpose`` names the step (instructions, classify, instance, ...)."""

    prompt: str
    purpose: str
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int
    number: int  # sequence number of the request in the run: identical prompts stay distinct requests
    system: str | None = None

    def messages(self) -> list[dict]:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": self.prompt}]


def identity(generator: Any) -> dict:
    """The stable, secret-free part of a generator's ``describe()``, for cache keys and provenance."""
    from urllib.parse import urlsplit, urlunsplit

    desc = generator.describe() if hasattr(generator, "describe") else {"backend": type(generator).__name__}
    out = {k: desc[k] for k in ("backend", "model", "url") if k in desc}
    if isinstance(out.get("url"), str):  # drop user:password@ and ?query (either may hold a secret)
        parts = urlsplit(out["url"])
        out["url"] = urlunsplit(
            (
                parts.scheme,
                parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else parts.netloc,
                parts.path,
                "",
                "",
            )
        )
    return out


@dataclass
class Engine:
    """Cached, budgeted generation.

    Args:
        generator: Anything with ``generate(conversations, *, max_new_tokens, temperature, top_p,
            seed, n)`` returning one string per conversation (``instructkit.generation``).
        cache: The request cache.
        max_requests: Requests that may be sent in this run (cache hits are free); None: no limit.
    """

    generator: Any
    cache: RequestCache
    max_requests: int | None = None
    sent: int = 0
    hits: int = 0
    by_purpose: dict = field(default_factory=dict)
    _next: int = 0

    def __post_init__(self) -> None:
        self.ident = identity(self.generator)

    def request(
        self,
        prompt: str,
        purpose: str,
        *,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        seed: int,
        system: str | None = None,
    ) -> Request:
        """A new request with the next sequence number (deterministic for a deterministic loop)."""
        self._next += 1
        return Request(prompt, purpose, max_new_tokens, temperature, top_p, seed, self._next, system)

    def key(self, req: Request) -> str:
        return request_key(
            {
                "generator": self.ident,
                "template": TEMPLATE_VERSION,
                "messages": req.messages(),
                "max_new_tokens": req.max_new_tokens,
                "temperature": req.temperature,
                "top_p": req.top_p,
                "seed": req.seed,
                "number": req.number,
            }
        )

    @property
    def exhausted(self) -> bool:
        return self.max_requests is not None and self.sent >= self.max_requests

    def run(self, requests: list[Request]) -> list[str]:
        """Replies to ``requests`` in order.

        Raises:
            OutOfBudget: when not all could be answered within the budget (the answered ones are cached).
        """
        keys = [self.key(r) for r in requests]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        self.hits += len(requests) - len(missing)
        short = False
        if self.max_requests is not None and self.sent + len(missing) > self.max_requests:
            missing = missing[: max(0, self.max_requests - self.sent)]
            short = True
        groups: dict[tuple, list[int]] = {}
        for i in missing:
            r = requests[i]
            groups.setdefault((r.max_new_tokens, r.temperature, r.top_p, r.seed), []).append(i)
        concurrency = getattr(self.generator, "concurrency", None)
        for knobs, idx in groups.items():
            if concurrency:
                self._send_each(requests, keys, idx, knobs, int(concurrency))
                continue
            try:
                replies = self._generate([requests[i] for i in idx], knobs)
            except InstructkitError as exc:
                raise self._failed(exc, len(idx), len(idx)) from None
            if len(replies) != len(idx):
                raise InstructkitError(f"the generator returned {len(replies)} replies for {len(idx)} requests")
            for i, reply in zip(idx, replies, strict=True):
                self._store(requests[i], keys[i], reply)
        if short:
            raise OutOfBudget(f"request budget of {self.max_requests} spent")
        return [self.cache.get(k) for k in keys]

    def _generate(self, reqs: list[Request], knobs: tuple) -> list:
        max_new, temp, top_p, seed = knobs
        return self.generator.generate(
            [r.messages() for r in reqs], max_new_tokens=max_new, temperature=temp, top_p=top_p, seed=seed, n=1
        )

    def _store(self, req: Request, key: str, reply: Any) -> None:
        text = reply[0] if isinstance(reply, list) else reply
        self.cache.put(key, text if isinstance(text, str) else str(text), purpose=req.purpose)
        self.sent += 1
        self.by_purpose[req.purpose] = self.by_purpose.get(req.purpose, 0) + 1

    def _send_each(self, requests: list[Request], keys: list[str], idx: list[int], knobs: tuple, width: int) -> None:
        """One request per ``generate`` call, ``width`` at a time; cache each reply as it arrives.

        After the first failure no new request is started; those in flight finish and are cached,
        then ``RequestsFailed`` is raised (or the failure itself when it is not an InstructkitError).
        """
        first: BaseException | None = None
        failed = 0
        # The cache is written from this thread only: workers just return replies.
        with ThreadPoolExecutor(max_workers=width) as pool:
            futures = {pool.submit(self._generate, [requests[i]], knobs): i for i in idx}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    replies = fut.result()
                except CancelledError:
                    continue
                except Exception as exc:  # noqa: BLE001 - re-raised below, after the others are cached
                    failed += 1
                    if first is None:
                        first = exc
                        for other in futures:  # start nothing new; requests in flight finish
                            other.cancel()
                    continue
                if len(replies) != 1:
                    raise InstructkitError(f"the generator returned {len(replies)} replies for 1 request")
                self._store(requests[i], keys[i], replies[0])
        if first is None:
            return
        if not isinstance(first, InstructkitError):
            raise first
        raise self._failed(first, failed, len(idx)) from None

    def _failed(self, exc: InstructkitError, failed: int, batch: int) -> RequestsFailed:
        """The error that stops the run: what failed, and how many requests a re-run will not resend."""
        if self.cache.path is not None:
            cached = (
                f"{len(self.cache)} finished requests are cached in {self.cache.path}: "
                "re-run the same command to continue (cached requests are not sent again)"
            )
        else:
            cached = f"{len(self.cache)} finished requests are cached in memory only: a re-run starts over"
        return RequestsFailed(
            f"{failed} of {batch} generation requests failed ({exc.message}); {cached}",
            hint=exc.hint,
        )

    def stats(self) -> dict:
        return {
            "requests_sent": self.sent,
            "cache_hits": self.hits,
            "sent_by_purpose": dict(self.by_purpose),
            "budget": self.max_requests,
        }
