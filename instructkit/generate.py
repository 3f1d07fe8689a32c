"""The ``generate`` stage: K candidate responses per prompt from one or more models -> a ``feedback`` set.

The first step of the InstructGPT loop (sample from the current model, have people judge, train a
reward model, optimise, repeat): ``generate`` turns a prompt set and models into the candidates that
``annotate-export`` turns into rating, ranking, pairwise or edit tasks, and that ``eval``/``reward``
can score. Output records are ``feedback`` records without judgments::

    {"id", "prompt": [messages], "responses": [{"content", "model"}], "judgments": [],
     "meta": {...the input's meta, "generate": {"prompt_id", "reference"?}}}

Each model gives ``n`` responses per prompt, sample ``k`` drawn with seed ``seed + k`` (a server given
the same seed twice would return the same text). Generators come from ``generation.py`` (a local model
directory, batched, or an OpenAI-compatible URL) behind synth's request cache and budget
(``synth/engine.py``, ``synth/cache.py``): every finished request is appended to the cache file before
the next is sent, so a failed request, Ctrl-C or a spent ``--max-requests`` loses nothing, and a re-run
of the same command sends only what is missing. Models are run one after the other, each unloaded
before the next loads. A prompt that misses a response (the budget ran out) goes to ``rejected/`` with
reason ``not_generated``; re-running fills it in.

This module is the stage; ``generation.py`` holds the backends it shares with ``eval`` and ``synth``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from instructkit.errors import ConfigError
from instructkit.params import Requests, SetOutput, recorded
from instructkit.registry import Result
from instructkit.synth.engine import Request


@dataclass(kw_only=True)
class GenerateParams(SetOutput, Requests):
    """Every knob of ``instructkit generate``."""

    model: list[str] = field(
        metadata={
            "help": "A local model directory or an OpenAI-compatible server URL (http://127.0.0.1:8000/v1); "
            "repeat for several models: each response is tagged with its model.",
            "flags": ("-m",),
            "record": False,
        }
    )
    n: int = field(default=4, metadata={"help": "Responses per prompt from each model.", "flags": ("-n",)})
    temperature: float = field(default=0.8, metadata={"help": "Sampling temperature (0: greedy, needs n=1)."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling top-p."})
    max_new_tokens: int = field(default=256, metadata={"help": "Token limit of a response."})
    seed: int = field(default=0, metadata={"help": "Seed: response k of a prompt is sampled with seed + k."})
    batch_size: int = field(default=8, metadata={"help": "Local model: prompts per forward batch.", "record": False})
    api_model: str | None = field(
        default=None,
        metadata={"help": "HTTP: the model name the server expects (default: the only one /v1/models lists)."},
    )

    def __post_init__(self) -> None:
        if isinstance(self.model, str):
            self.model = [self.model]
        if not self.model:
            raise ConfigError("generate needs at least one --model")
        if self.n < 1:
            raise ConfigError(f"n must be at least 1, got {self.n}")
        if self.temperature == 0 and self.n > 1:
            raise ConfigError(
                f"temperature 0 (greedy) gives {self.n} identical responses", hint="pass --temperature 0.8, or --n 1"
            )
        super().__post_init__()


def default_cache_path(out: str | os.PathLike) -> Path:
    """``generate-cache.jsonl`` next to the versions of the output."""
    from instructkit.shards import VERSION_RE

    out = Path(out)
    return (out.parent if VERSION_RE.match(out.name) else out) / "generate-cache.jsonl"


def _generator(spec: str, p: GenerateParams):
    from instructkit.generation import is_url, make_generator

    if is_url(spec):
        return make_generator(
            spec,
            model=p.api_model,
            api_key_env=p.api_key_env,
            concurrency=p.concurrency,
            timeout=p.timeout,
            max_retries=p.max_retries,
        )
    return make_generator(spec, batch_size=p.batch_size, device=p.device)


@dataclass
class ChatRequest(Request):
    """A request whose messages are a whole conversation (synth's are one user prompt)."""

    conversation: list = field(default_factory=list)

    def messages(self) -> list[dict]:
        return self.conversation


def requests_for(prompts: list[list[dict]], p: GenerateParams) -> list[ChatRequest]:
    """``n`` requests per prompt, sample ``k`` seeded ``seed + k`` and numbered ``k`` (its cache key)."""
    return [
        ChatRequest("", "response", p.max_new_tokens, p.temperature, p.top_p, p.seed + k, k, conversation=conv)
        for conv in prompts
        for k in range(p.n)
    ]


def prompt_and_reference(record: dict) -> tuple[list[dict], str | None]:
    """The prompt messages of any record kind, and the reply the record already had (sft: its last turn)."""
    from instructkit.records import prompt_of, response_of

    if "messages" in record:
        return prompt_of(record), response_of(record)
    return record["prompt"], None


def run(inputs: list[str], out: Path, p: GenerateParams) -> Result:
    """``p.n`` responses per prompt of the set ``inputs[0]`` from each of ``p.model``, as feedback records."""
    from instructkit.progress import Progress
    from instructkit.records import make_record
    from instructkit.shards import ShardSet, ShardWriter, check_writable
    from instructkit.synth.cache import RequestCache
    from instructkit.synth.engine import Engine, OutOfBudget

    data = ShardSet(inputs[0])
    check_writable(out)  # before a model loads
    prompts = [prompt_and_reference(r)[0] for r in data]
    cache_path = Path(p.cache) if p.cache else default_cache_path(out)
    engines: list[Engine] = []
    stopped = "done"
    with RequestCache(cache_path) as cache:
        for spec in p.model:
            budget = None if p.max_requests is None else max(0, p.max_requests - sum(e.sent for e in engines))
            gen = _generator(spec, p)
            engine = Engine(gen, cache, max_requests=budget)
            engines.append(engine)
            label = engine.ident.get("model") or spec
            # Prompts per engine call: a local batch, or enough requests to keep a server's slots busy.
            chunk = max(p.batch_size, int(getattr(gen, "concurrency", 0) or 0))
            try:
                with Progress(f"generate: {label}", len(prompts) * p.n, unit="responses") as bar:
                    for start in range(0, len(prompts), chunk):
                        reqs = requests_for(prompts[start : start + chunk], p)
                        engine.run(reqs)  # each reply is cached as it arrives
                        bar.advance(len(reqs))
            except OutOfBudget:
                stopped = "max_requests"
            finally:
                if hasattr(gen, "close"):
                    gen.close()
            if stopped != "done":
                break
        labels = [e.ident.get("model") or spec for e, spec in zip(engines, p.model, strict=False)]
        params = {**recorded(p), "models": [e.ident for e in engines], "cache": str(cache_path)}
        with ShardWriter(
            out, stage="generate", params=params, inputs=[data], kind="feedback", **p.writer_options()
        ) as writer:
            for record in data:
                writer.count_in()
                prompt, reference = prompt_and_reference(record)
                responses, missing = [], 0
                for engine, label in zip(engines, labels, strict=True):
                    for req in requests_for([prompt], p):
                        reply = cache.get(engine.key(req))
                        if reply is None:
                            missing += 1
                        else:
                            responses.append({"content": reply, "model": label})
                missing += p.n * (len(p.model) - len(engines))  # models never reached (budget)
                if missing:
                    writer.reject(record, "not_generated", missing=missing)
                    continue
                info = {"prompt_id": record.get("id")}
                if reference is not None:
                    info["reference"] = reference
                meta = dict(record.get("meta") or {})
                writer.write(
                    make_record(
                        "feedback", prompt=prompt, responses=responses, judgments=[], meta={**meta, "generate": info}
                    )
                )
            stats = {
                "requests_sent": sum(e.sent for e in engines),
                "cache_hits": sum(e.hits for e in engines),
                "stopped": stopped,
            }
            writer.stats["generate"] = stats
    summary = {
        "prompts": len(prompts),
        "responses": f"{p.n} per prompt x {len(p.model)} model(s)",
        "requests": f"{stats['requests_sent']} sent, {stats['cache_hits']} from cache",
        "cache": str(cache_path),
    }
    if stopped == "max_requests":
        summary["stopped by"] = "max_requests: run the same command again to continue (the cache is replayed)"
    return Result(writer.path, writer.manifest, summary)


# ``instructkit.generate(...)`` runs the stage; ``instructkit.generate.GenerateParams`` is still the class.
__import__("instructkit.api").api.callable_package(__name__, "generate")
