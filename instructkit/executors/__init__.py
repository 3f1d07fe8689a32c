"""Where a data stage's tasks run: this process, ``--workers`` local processes, or a Ray cluster.

A stage cuts its input into chunks of raw lines (``line_chunks``: the driver reads and sha256-checks
the parts, which is cheap next to JSON parsing and the stage's own work) and maps a picklable task
function over them with ``ordered_map``. Results come back in input order whatever the executor, so
the driver writes the same shard set in the same order, manifest last: the output of
``--executor ray`` equals the local run's byte for byte.

The driver keeps at most ``window`` chunks in flight (about ``2 x workers``), so memory is bounded by
a few chunks, never by the input.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from instructkit.errors import ConfigError

EXECUTORS = ("local", "ray")
CHUNK = 2048  # lines per task: ~1-2 MB of JSON, large enough to amortise pickling and scheduling


def check_executor(name: str) -> None:
    """Raise a ConfigError for an unknown executor name."""
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}", hint=f"use one of {', '.join(EXECUTORS)}")


def line_chunks(sets: Iterable[Any], size: int | None = None) -> Iterator[tuple[int, list[tuple[str, int, bytes]]]]:
    """``(offset, [(part, line_number, raw_line)])`` chunks of ``size`` (default ``CHUNK``) of every non-blank
    line of ``sets`` in order.

    Each part's sha256 is checked as it is read (``ShardSet.lines``): a changed part raises before the
    stage commits anything.
    """
    offset, size = 0, size or CHUNK
    it = ((str(part), number, line) for s in sets for part, number, line in s.lines())
    while chunk := list(itertools.islice(it, size)):
        yield offset, chunk
        offset += len(chunk)


def ordered_map(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    window: int | None = None,
) -> Iterator[Any]:
    """``map(fn, items)`` in input order, in this process, in ``workers`` processes or as Ray tasks.

    Args:
        fn: A picklable function of one item (module-level, or a ``functools.partial`` of one).
        items: The task inputs, consumed lazily.
        executor: ``local`` or ``ray``.
        workers: Local processes (``local``); CPUs of a cluster this call starts (``ray``).
        address: Ray cluster address: None starts a local cluster, ``auto`` joins a running one.
        window: Tasks in flight at most (default ``2 x workers + 2``).
    """
    check_executor(executor)
    if executor == "ray":
        from instructkit.executors.raytasks import ray_map

        yield from ray_map(fn, items, address=address, workers=workers, window=window)
    elif workers <= 1:
        yield from map(fn, items)
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(workers, initializer=_worker_start) as pool:
            # apply_async with a window, not imap: imap's feeder thread reads ``items`` to the end at
            # once, so a fast reader would hold the whole input in memory.
            pending: deque = deque()
            for item in items:
                pending.append(pool.apply_async(fn, (item,)))
                if len(pending) >= (window or 2 * workers + 2):
                    yield pending.popleft().get()
            while pending:
                yield pending.popleft().get()


def _worker_start() -> None:
    """A pool worker keeps freed memory for its next task (glibc: large blocks from the heap, not trimmed back).

    By default every large numpy temporary is a fresh ``mmap`` faulted in page by page and unmapped when
    freed; a worker doing the same work task after task paid that each time (dedupe: about half of its
    page faults, ~0.2 s of system time per 100k records). No effect where ``mallopt`` does not exist.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD: blocks under 64 MB come from the heap
        libc.mallopt(-1, 128 << 20)  # M_TRIM_THRESHOLD: keep up to 128 MB free at the heap's top
    except (OSError, AttributeError):
        pass


# --- the operator chain over line chunks (filter and other per-record stages) ------------------

_CHAINS: dict[str, list] = {}  # per worker process: the chain built for a run token (models load once)


def parse_chunk(chunk: list[tuple[str, int, bytes]]) -> list[dict]:
    """The records of a chunk; a line that is not JSON raises ShardError naming its part and line."""
    from instructkit.errors import ShardError
    from instructkit.shards import loads

    out = []
    for part, number, line in chunk:
        try:
            out.append(loads(line))
        except ValueError as exc:
            raise ShardError(f"corrupt record: {exc}", file=part, line=number) from None
    return out


def chain_task(task: tuple[str, Callable[[], list], int, list]) -> list:
    """Run the operator chain over one chunk: ``[(record, Drop | None)]`` in input order."""
    token, factory, offset, chunk = task
    ops = _CHAINS.get(token)
    if ops is None:
        _CHAINS.clear()  # one run's chain at a time
        ops = _CHAINS[token] = factory()
    return chain_chunk(ops, (offset, chunk))


def chain_chunk(ops: list, item: tuple[int, list]) -> list:
    """``[(record, Drop | None)]`` of one ``(offset, chunk)`` through a built chain, 256 records a batch."""
    from instructkit.stage import run_chain_batch

    records = parse_chunk(item[1])
    out = []
    for s in range(0, len(records), 256):  # the batch size of check_batch, as in stage.apply
        out.extend(run_chain_batch(ops, records[s : s + 256]))
    return out


def apply_chunks(
    data: Any,
    factory: Callable[[], list],
    writer: Any,
    *,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    description: str = "processing",
    actors: bool = False,
    gpus: float = 0,
) -> None:
    """``stage.apply`` over chunks of raw lines on any executor: same verdicts, same order, same set.

    With ``actors`` (a chain with a model-based rule, ``--executor ray``) the chunks go to ``workers``
    Ray actors that each build the chain (load the models) once, with ``gpus`` GPUs each
    (``executors.rayactors``); otherwise to tasks. Chunks are ``CHUNK`` lines cut into batches of 256
    either way, as ``stage.apply`` cuts the local run, so a model rule scores the same batches.
    """
    import uuid

    from instructkit.stage import _drain, progress_bar

    with progress_bar(description, len(data)) as advance:
        if actors and executor == "ray":
            from instructkit.executors.rayactors import actor_map

            results = actor_map(factory, chain_chunk, line_chunks([data]), address=address, workers=workers, gpus=gpus)
        else:
            token = uuid.uuid4().hex
            tasks = ((token, factory, offset, chunk) for offset, chunk in line_chunks([data]))
            results = ordered_map(chain_task, tasks, executor=executor, workers=workers, address=address)
        _drain(results, writer, advance)
