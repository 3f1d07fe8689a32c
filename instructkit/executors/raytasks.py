"""Ray tasks for the data stages (``--executor ray``; the ``instructkit[ray]`` extra).

One Ray task per chunk of input lines, ``max_retries`` so that a worker that dies (killed, out of
memory, node lost) has its task re-run elsewhere: tasks are pure functions of their chunk, so a retry
gives the same result and nothing is lost or doubled. The driver consumes results in submission
order and writes the set itself; an error that survives the retries propagates, the driver's
``ShardWriter`` discards its temporary directory, and no complete-looking set is left behind.

``--ray-address``: None starts a local cluster for this run (``ray.init("local", num_cpus=...)``, stopped
at the end; ``$RAY_ADDRESS``, when set, is used instead); ``auto`` joins the cluster ``ray start`` made on
this node; ``HOST:PORT`` or ``ray://host:10001`` joins a remote one. When Ray is already initialised in
this process (a notebook, the tests), that session is used.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from instructkit.errors import ConfigError, InstructkitError

MAX_RETRIES = 3  # Ray's default for tasks; a task killed 4 times is a real failure


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray, which is not installed",
            hint="pip install 'instructkit[ray]' (or use --executor local)",
        ) from None
    return ray


@contextlib.contextmanager
def session(address: str | None = None, workers: int = 1) -> Iterator[Any]:
    """The ``ray`` module with a connected session: an existing one, or one started (and stopped) here."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": True}
    address = address or os.environ.get("RAY_ADDRESS") or None  # Ray's own variable, as `ray job submit` sets it
    if address:
        _check_reachable(address)
        kwargs["address"] = address
    else:
        # A new local cluster: "local", or ray.init() would join whatever /tmp/ray/ray_current_cluster names
        # (a `ray start` cluster on this node, or a stale entry left by one). One CPU per worker asked for,
        # all cores by default.
        kwargs["address"] = "local"
        kwargs["num_cpus"] = workers if workers > 1 else (os.cpu_count() or 1)
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        hint = "start one with `ray start --head`, pass --ray-address HOST:PORT, or omit it for a local cluster"
        if address and address != "auto" and os.environ.get("RAY_AUTH_MODE") != "token":
            # Ray >= 2.59 turns token authentication on for `ray start --head`; a driver given an explicit
            # address sends no token unless told to (``auto`` on the head node finds it by itself).
            hint = (
                "if the cluster uses token authentication (`ray start` turns it on since Ray 2.59), set "
                "RAY_AUTH_MODE=token and the head node's token (RAY_AUTH_TOKEN, or its ~/.ray/auth_token "
                "copied here), or run with --ray-address auto on the head node; else " + hint
            )
        raise ConfigError(f"cannot connect to Ray at {address or '(local)'}: {exc}", hint=hint) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` nobody listens on (``ray.init`` retries it for minutes, logging warnings).

    ``auto`` and ``ray://`` addresses are left to Ray: it fails fast on those itself.
    """
    import socket

    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(
            f"--ray-address {address!r} is not HOST:PORT, auto or ray://HOST:PORT",
            hint="e.g. --ray-address 10.0.0.5:6379, the port the head node's `ray start --head --port 6379` opened",
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot connect to Ray at {address}: {exc.strerror or exc}",
            hint="start one with `ray start --head` there, check the host and port, "
            "or omit --ray-address for a local cluster",
        ) from None


def _unwrap(ray: Any, exc: BaseException) -> BaseException:
    """The instructkit error a task raised (Ray wraps it), so the CLI prints its one line."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, InstructkitError) else exc


def ray_map(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    address: str | None = None,
    workers: int = 1,
    window: int | None = None,
    max_retries: int = MAX_RETRIES,
) -> Iterator[Any]:
    """``map(fn, items)`` as Ray tasks, in input order, at most ``window`` in flight."""
    with session(address, workers) as ray:
        window = window or 2 * max(int(ray.cluster_resources().get("CPU", 1)), 1) + 2
        if inspect.isfunction(fn):
            remote = ray.remote(num_cpus=1, max_retries=max_retries)(fn)
            yield from in_order(ray, (remote.remote(item) for item in items), window)
        else:  # a functools.partial or other callable: stored once, applied by a plain function
            remote = ray.remote(num_cpus=1, max_retries=max_retries)(_apply)
            fn_ref = ray.put(fn)
            yield from in_order(ray, (remote.remote(fn_ref, item) for item in items), window)


def _apply(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def in_order(ray: Any, refs: Iterable[Any], window: int, *, force: bool = True) -> Iterator[Any]:
    """``ray.get`` of each ref in input order, submitting lazily with at most ``window`` in flight.

    A task's instructkit error is re-raised as itself; refs still queued when the consumer fails or
    stops are cancelled (``force`` kills a running task's worker; actor calls take ``force=False``).
    """
    pending: deque = deque()
    try:
        for ref in refs:
            pending.append(ref)
            if len(pending) >= window:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())
    except ray.exceptions.RayTaskError as exc:
        raise _unwrap(ray, exc) from None
    finally:
        for ref in pending:  # the driver failed or was interrupted: stop what is still queued
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=force)
