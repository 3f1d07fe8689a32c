"""Operators, their registry, and the one loop that chains them (DESIGN.md section 3).

An operator has one narrow hook:

- a ``Filter`` returns ``None`` to keep a record, or a ``Drop`` with the reason (never mutates);
- a ``Mapper`` returns the rewritten record (never drops).

``apply`` is the only place that counts, writes kept records and sends drops to ``rejected/``, with
``--workers`` processes when asked. Operators register under a short name usable in YAML.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, NamedTuple

from instructkit.errors import ConfigError

# Re-exported: the one progress layer (progress.py); stages and eval import it from here.
from instructkit.progress import progress_bar


class Drop(NamedTuple):
    """A filter's verdict to remove a record: the reason, and details such as value and threshold."""

    reason: str
    details: dict = {}


class Operator:
    """Base of all operators. Subclasses set ``name`` and, if configurable, a ``Params`` dataclass."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    Params: ClassVar[type | None] = None

    def __init__(self, params: Any = None):
        self.params = params


class Filter(Operator):
    """Keeps or drops; never mutates the record."""

    def check(self, record: dict) -> Drop | None:  # pragma: no cover - interface
        raise NotImplementedError

    def check_batch(self, records: list[dict]) -> list[Drop | None]:
        """Verdicts for several records, in order; by default ``check`` on each.

        Override when scoring many records at once is cheaper (a model's padded forward pass); the
        result must equal ``[self.check(r) for r in records]``.
        """
        return [self.check(r) for r in records]


class Mapper(Operator):
    """Rewrites a record; never drops it. Returns the (new) record."""

    def map(self, record: dict) -> dict:  # pragma: no cover - interface
        raise NotImplementedError


REGISTRY: dict[str, dict[str, type[Operator]]] = {}


def register(family: str, name: str) -> Callable[[type[Operator]], type[Operator]]:
    """Class decorator: register an operator under ``family`` / ``name``."""

    def wrap(cls: type[Operator]) -> type[Operator]:
        cls.name, cls.family = name, family
        REGISTRY.setdefault(family, {})[name] = cls
        return cls

    return wrap


def lookup(family: str, name: str) -> type[Operator]:
    """The operator class registered as ``name``; a ConfigError lists the valid names."""
    ops = REGISTRY.get(family, {})
    if name not in ops:
        raise ConfigError(f"unknown {family} {name!r}", hint=f"valid names: {', '.join(sorted(ops)) or '(none)'}")
    return ops[name]


def add_meta(record: dict, **values: Any) -> dict:
    """A copy of ``record`` with keys added to its ``meta`` (for mappers and stage tags)."""
    out = dict(record)
    meta = dict(out.get("meta") or {})
    meta.update(values)
    out["meta"] = meta
    return out


# --- the one loop ----------------------------------------------------------------------------


def run_chain(ops: list[Operator], record: dict) -> tuple[dict, Drop | None]:
    """Pass one record through the chain; stop at the first drop."""
    for op in ops:
        if isinstance(op, Filter):
            verdict = op.check(record)
            if verdict is not None:
                if isinstance(verdict, str):
                    verdict = Drop(verdict)
                return record, verdict
        else:
            record = op.map(record)
    return record, None


def run_chain_batch(ops: list[Operator], records: list[dict]) -> list[tuple[dict, Drop | None]]:
    """``[run_chain(ops, r) for r in records]``, but each filter sees the surviving records together.

    Operators run one at a time over the batch: a filter's ``check_batch`` gets the records that every
    earlier filter kept, in input order; a mapper's ``map`` runs per record. Verdicts match
    ``run_chain`` as long as operators are pure (the contract).
    """
    out: list[tuple[dict, Drop | None]] = [(r, None) for r in records]
    live = list(range(len(records)))
    for op in ops:
        if not live:
            break
        if isinstance(op, Filter):
            verdicts = op.check_batch([out[i][0] for i in live])
            kept = []
            for i, verdict in zip(live, verdicts, strict=True):
                if verdict is None:
                    kept.append(i)
                else:
                    out[i] = (out[i][0], Drop(verdict) if isinstance(verdict, str) else verdict)
            live = kept
        else:
            for i in live:
                out[i] = (op.map(out[i][0]), None)
    return out


_WORKER_OPS: list[Operator] = []


def _init_worker(factory: Callable[[], list[Operator]]) -> None:
    # Build the chain once per worker process (models and regexes are expensive to build).
    _WORKER_OPS[:] = factory()


def _run_batch(batch: list[dict]) -> list[tuple[dict, Drop | None]]:
    return run_chain_batch(_WORKER_OPS, batch)


def _batches(records: Iterable[dict], size: int) -> Iterator[list[dict]]:
    it = iter(records)
    while batch := list(itertools.islice(it, size)):
        yield batch


def apply(
    records: Iterable[dict],
    factory: Callable[[], list[Operator]],
    writer: Any,
    *,
    workers: int = 1,
    batch_size: int = 256,
    total: int | None = None,
    description: str = "processing",
) -> None:
    """Run every record through the operator chain and write kept and rejected records.

    Args:
        records: The input records (streamed).
        factory: A picklable callable that builds the operator chain (called once per worker).
        writer: A ``ShardWriter``; gets ``count_in``, ``write`` and ``reject`` calls.
        workers: Processes; 1 runs in this process. Order of output is the input order either way.
        batch_size: Records per task sent to a worker, and per ``Filter.check_batch`` call.
        total: The number of records, for the progress bar.
        description: The progress bar's label.
    """
    with progress_bar(description, total) as advance:
        if workers <= 1:
            ops = factory()
            results: Iterable[list[tuple[dict, Drop | None]]] = (
                run_chain_batch(ops, batch) for batch in _batches(records, batch_size)
            )
            _drain(results, writer, advance)
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
            with ctx.Pool(workers, initializer=_init_worker, initargs=(factory,)) as pool:
                _drain(pool.imap(_run_batch, _batches(records, batch_size), chunksize=1), writer, advance)


def _drain(results: Iterable[list[tuple[dict, Drop | None]]], writer: Any, advance: Callable[[int], None]) -> None:
    for batch in results:
        for record, verdict in batch:
            writer.count_in()
            if verdict is None:
                writer.write(record)
            else:
                writer.reject(record, verdict.reason, **dict(verdict.details))
        advance(len(batch))


def params_dict(params: Any) -> dict:
    """A params object (dataclass or mapping) as a plain dict for the manifest."""
    if params is None:
        return {}
    if dataclasses.is_dataclass(params):
        return dataclasses.asdict(params)
    return dict(params)
