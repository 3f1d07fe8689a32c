"""Params shared by many stages, declared once and mixed into each stage's Params dataclass.

Fields marked ``metadata={"record": False}`` steer how a stage writes (part size, compression,
replacing an explicit version), not what it computes: they are left out of the manifest's
``params`` (``recorded``), so two runs that differ only in them describe the same data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from instructkit.errors import ConfigError

COMPRESSIONS = ("none", "gz", "zst")


@dataclass(kw_only=True)
class SetOutput:
    """How a data stage writes its shard set."""

    shard_size: int = field(default=100_000, metadata={"help": "Records per part file.", "record": False})
    compression: str = field(default="none", metadata={"help": "Part compression: none, gz or zst.", "record": False})
    force: bool = field(
        default=False, metadata={"help": "Replace an existing explicit .../vNNNN output path.", "record": False}
    )

    def __post_init__(self) -> None:
        if self.shard_size < 1:
            raise ConfigError(f"shard_size must be at least 1, got {self.shard_size}")
        if self.compression not in COMPRESSIONS:
            raise ConfigError(f"unknown compression {self.compression!r}", hint=f"use one of {', '.join(COMPRESSIONS)}")
        _next_post_init(self, SetOutput)

    def writer_options(self) -> dict[str, Any]:
        """Keyword arguments for ``ShardWriter``."""
        return {
            "shard_size": self.shard_size,
            "compression": None if self.compression == "none" else self.compression,
            "force": self.force,
        }


@dataclass(kw_only=True)
class Workers:
    """Local worker processes of a data stage."""

    workers: int = field(default=1, metadata={"help": "Worker processes on this machine.", "flags": ("-w",)})

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        _next_post_init(self, Workers)


@dataclass(kw_only=True)
class Executor:
    """Where a data stage's tasks run (``instructkit/executors``). Not recorded: the output is the same."""

    executor: str = field(
        default="local",
        metadata={"help": "local (this machine, --workers processes) or ray (tasks on a Ray cluster)", "record": False},
    )
    ray_address: str | None = field(
        default=None,
        metadata={
            "help": "Ray cluster to join: auto (the one `ray start` made here) or HOST:PORT; default: start a "
            "local cluster for this run",
            "record": False,
        },
    )
    ray_gpus_per_actor: float = field(
        default=0,
        metadata={
            "help": "ray: GPUs each model actor asks for (semantic dedupe, perplexity/reward/ifd rules; one "
            "actor per --workers); 0: CPU",
            "record": False,
        },
    )

    def __post_init__(self) -> None:
        from instructkit.executors import check_executor
        from instructkit.executors.rayactors import check_gpus

        check_executor(self.executor)
        check_gpus(self.ray_gpus_per_actor)
        _next_post_init(self, Executor)


def _next_post_init(obj: Any, cls: type) -> None:
    """Call the next ``__post_init__`` in the MRO after ``cls``, so mixins chain their checks."""
    parent = getattr(super(cls, obj), "__post_init__", None)
    if parent is not None:
        parent()


@dataclass(kw_only=True)
class OnError:
    """What a stage that reads user files does with a bad row (ingest) or annotation (annotate-import)."""

    on_error: str = field(
        default="fail",
        metadata={
            "help": "fail: stop at the first bad row or annotation (exit 2, nothing written); skip: put it in "
            "quarantine/ with the reason, count it, and go on"
        },
    )

    def __post_init__(self) -> None:
        if self.on_error not in ("fail", "skip"):
            raise ConfigError(
                f"--on-error must be fail or skip, got {self.on_error!r}",
                hint="--on-error skip (or on_error: skip in --config, --set on_error=skip)",
            )
        _next_post_init(self, OnError)


@dataclass(kw_only=True)
class Requests:
    """How a stage that generates text reaches its model: a request budget and cache (resumable), the
    HTTP client of an OpenAI-compatible server, and the device of a local model (synth, generate)."""

    max_requests: int | None = field(
        default=None,
        metadata={
            "help": "Requests this run may send (cache hits are free); the set holds what was done, and a "
            "re-run with the same cache continues."
        },
    )
    cache: str | None = field(
        default=None,
        metadata={
            "help": "Request cache (JSONL; default: STAGE-cache.jsonl beside the output's versions). Keep it to "
            "resume; delete it to start over.",
            "record": False,
        },
    )
    concurrency: int = field(default=4, metadata={"help": "HTTP: requests in flight at once.", "record": False})
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={
            "help": "HTTP: environment variable that holds the API key (sent as a Bearer token; never stored).",
            "record": False,
        },
    )
    timeout: float = field(default=120.0, metadata={"help": "HTTP: seconds per request.", "record": False})
    max_retries: int = field(
        default=3,
        metadata={"help": "HTTP: retries on 429, 5xx, timeouts, with exponential backoff.", "record": False},
    )
    device: str | None = field(
        default=None,
        metadata={"help": "Local model: cpu, cuda, cuda:1 (default: cuda when available).", "record": False},
    )

    def __post_init__(self) -> None:
        if self.max_requests is not None and self.max_requests < 0:
            raise ConfigError(f"max_requests must be >= 0, got {self.max_requests}")
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be at least 0, got {self.max_retries}")
        if self.timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {self.timeout}")
        _next_post_init(self, Requests)


def recorded(params: Any) -> dict[str, Any]:
    """The params as a JSON-ready dict for a manifest, without the fields marked ``record: False``."""
    out = {}
    for f in dataclasses.fields(params):
        if f.metadata.get("record", True):
            out[f.name] = _plain(getattr(params, f.name))
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
