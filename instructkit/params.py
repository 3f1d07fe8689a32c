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

    def __post_init__(self) -> None:
        from instructkit.executors import check_executor

        check_executor(self.executor)
        _next_post_init(self, Executor)


def _next_post_init(obj: Any, cls: type) -> None:
    """Call the next ``__post_init__`` in the MRO after ``cls``, so mixins chain their checks."""
    parent = getattr(super(cls, obj), "__post_init__", None)
    if parent is not None:
        parent()


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
