"""A pool of Ray actors for the model-based data stages (``--executor ray``).

A Ray task is stateless: a model would be loaded per task (or cached per worker process, which Ray
may recycle). The model-based stages (semantic dedupe's embeddings, the filter rules ``perplexity``,
``reward`` and ``ifd``) run instead on ``workers`` actors that each build their state once (load the
model) and then serve calls. Each actor asks Ray for one CPU and ``gpus`` GPUs (``--ray-gpus-per-actor``;
0 runs on CPU, 1 gives each actor a GPU of its own, 0.5 packs two per GPU): Ray sets the actor's
``CUDA_VISIBLE_DEVICES``, so the model's ``device: auto`` picks the GPU it was given.

Items are sent round-robin, at most ``2 x actors`` in flight, and results come back in input order, so
the driver places them by index and writes the set as the local run does. An actor that dies (killed,
out of memory, node lost) is restarted (its model loaded again) and its pending calls re-run, up to
``MAX_RETRIES`` times: calls are pure functions of their item, so nothing is lost or doubled. An error
that building the state or a call raises (a missing model, a corrupt line) reaches the driver as the
instructkit error it is, and the driver's ``ShardWriter`` leaves no set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from instructkit.errors import ConfigError
from instructkit.executors.raytasks import MAX_RETRIES, _unwrap, in_order, session


class Holder:
    """The actor's class: ``state = factory()`` once, then ``fn(state, item)`` per call.

    A factory error is kept and raised by every call rather than from ``__init__``: Ray reports a
    constructor error as a dead actor without the original exception, a method's error keeps it.
    """

    def __init__(self, factory: Callable[[], Any]):
        self.state: Any = None
        self.error: BaseException | None = None
        try:
            self.state = factory()
        except Exception as exc:  # noqa: BLE001 - re-raised by every call, so the driver sees it
            self.error = exc

    def ready(self) -> bool:
        if self.error is not None:
            raise self.error
        return True

    def call(self, fn: Callable[[Any, Any], Any], item: Any) -> Any:
        if self.error is not None:
            raise self.error
        return fn(self.state, item)


def check_gpus(gpus: float) -> None:
    """Raise a ConfigError for a negative GPU share."""
    if gpus < 0:
        raise ConfigError(
            f"ray_gpus_per_actor must be at least 0, got {gpus}",
            hint="0 runs the model on CPU; 1 gives each actor a GPU; 0.5 packs two actors per GPU",
        )


def capacity(resources: dict, gpus: float) -> int:
    """How many actors of one CPU and ``gpus`` GPUs the cluster holds at once (more would wait forever)."""
    cpus = int(resources.get("CPU", 0))
    fit = cpus if gpus <= 0 else min(cpus, int(resources.get("GPU", 0) / gpus + 1e-9))
    if fit < 1:
        have = f"{resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs"
        raise ConfigError(
            f"the Ray cluster cannot place a model actor of 1 CPU and {gpus:g} GPUs: it has {have}",
            hint="lower --ray-gpus-per-actor (0 runs on CPU) or join a cluster with GPUs (--ray-address)",
        )
    return fit


def actor_map(
    factory: Callable[[], Any],
    fn: Callable[[Any, Any], Any],
    items: Iterable[Any],
    *,
    address: str | None = None,
    workers: int = 1,
    gpus: float = 0,
    window: int | None = None,
    max_retries: int = MAX_RETRIES,
) -> Iterator[Any]:
    """``fn(state, item)`` for every item in input order, on ``workers`` actors each holding ``factory()``.

    Args:
        factory: A picklable callable building an actor's state (the model), called once per actor start.
        fn: A picklable function of the state and one item.
        items: The inputs, consumed lazily.
        address: Ray cluster address (as ``ray_map``): None starts a local cluster, ``auto`` joins one.
        workers: Actors in the pool, at most as many as the cluster can place (``capacity``).
        gpus: GPUs each actor asks Ray for (fractions allowed).
        window: Calls in flight at most (default ``2 x workers``).
        max_retries: Restarts of a dead actor, and re-runs of the calls it had.
    """
    check_gpus(gpus)
    n = max(1, workers)
    with session(address, n) as ray:
        n = min(n, capacity(ray.cluster_resources(), gpus))
        remote = ray.remote(Holder).options(
            num_cpus=1, num_gpus=gpus, max_restarts=max_retries, max_task_retries=max_retries
        )
        actors = [remote.remote(factory) for _ in range(n)]
        try:
            try:
                ray.get([a.ready.remote() for a in actors])  # a bad model fails here, before any output
            except ray.exceptions.RayTaskError as exc:
                raise _unwrap(ray, exc) from None
            calls = (actors[k % n].call.remote(fn, item) for k, item in enumerate(items))
            yield from in_order(ray, calls, window or 2 * n, force=False)
        finally:
            for a in actors:  # the models' memory (and GPUs) go back now, not when the session ends
                with contextlib.suppress(Exception):
                    ray.kill(a, no_restart=True)
