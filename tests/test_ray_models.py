"""The model-based stages on a real local Ray cluster, run by actors (executors/rayactors.py): semantic
dedupe's embeddings and the perplexity/IFD filter rules give the same records and fingerprint as the local
run, and the driver never loads a model. The cluster and data fixtures are test_ray.py's.

The three model runs are marked slow (30-45 s of CPU each here, `make test-slow`); the error paths and
the pool's order (``actor_map`` over more actors than the cluster places) run in the default suite.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import test_ray  # noqa: E402 - its fixtures and checks, shared

import instructkit  # noqa: E402
from instructkit.filters import model_based  # noqa: E402
from instructkit.shards import ShardSet  # noqa: E402

cluster, data, _same_sets = test_ray.cluster, test_ray.data, test_ray._same_sets
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # actors cannot import this test module


def _no_model_here(*args, **kwargs):
    raise AssertionError("a model was loaded in the driver")


@pytest.mark.slow  # ~30 s of CPU over the cluster's start (2 cores, load ~9): actors import torch, the model runs twice
def test_model_filter_on_actors_equals_local(cluster, data, tiny_model, tmp_path):
    """A chain with perplexity and IFD rules runs on 2 actors (models loaded there, not in the driver)."""
    rules = [{"perplexity": {"model": str(tiny_model), "max_perplexity": 5000.0}}, {"ifd": {"model": str(tiny_model)}}]
    local = ShardSet(instructkit.filter(data.path, tmp_path / "local", rules=rules))
    with pytest.MonkeyPatch.context() as mp:  # the driver must not load a model: the actors do
        mp.setattr(model_based, "_load", _no_model_here)
        on_ray = ShardSet(instructkit.filter(data.path, tmp_path / "ray", rules=rules, executor="ray", workers=2))
    reasons = local.manifest["counts"]["rejected"]
    assert any(k.startswith(("perplexity", "ifd")) for k in reasons), reasons
    assert len(local), ("some records must be kept", local.manifest["counts"])
    _same_sets(local, on_ray)


@pytest.mark.slow  # ~42 s of CPU over the cluster's start (2 cores, load ~9): actors import torch, the model runs twice
def test_semantic_dedupe_on_actors_equals_local(cluster, data, tiny_model, tmp_path, monkeypatch):
    """Embeddings from 2 actors: the same floats as the local scan's (same batches), hence the same set.

    Chunks of 16 lines and encoder calls of 8 texts (``CHUNK``, ``scan.BATCH``) so the 84 records make six
    chunks spread over both actors, and their order must be restored."""
    from instructkit import executors
    from instructkit.dedupe import DedupeParams, plan, scan, semantic

    monkeypatch.setattr(executors, "CHUNK", 16)
    monkeypatch.setattr(scan, "BATCH", 8)
    opts = {"mode": "semantic", "model": str(tiny_model), "semantic_threshold": 0.65, "batch_size": 3}
    local = ShardSet(instructkit.dedupe(data.path, tmp_path / "local", **opts))
    embedded, real = [], semantic.embed_on_actors
    with pytest.MonkeyPatch.context() as mp:  # the driver must not load the encoder: the actors do
        mp.setattr(semantic.Embedder, "__init__", _no_model_here)
        mp.setattr(semantic, "embed_on_actors", lambda *a, **k: embedded.append(real(*a, **k)) or embedded[-1])
        on_ray = ShardSet(instructkit.dedupe(data.path, tmp_path / "ray", executor="ray", workers=2, **opts))
    counts = local.manifest["counts"]
    assert counts["rejected"].get("semantic_duplicate", 0) > len(data) // 2 - 10, counts  # copies and more
    assert len(local) > 10, counts
    _same_sets(local, on_ray)
    sc_local, _, _ = plan(data, [], DedupeParams(**opts))
    assert len(embedded) == 1 and embedded[0].shape == sc_local.emb.shape == (len(data), sc_local.emb.shape[1])
    assert np.array_equal(embedded[0], sc_local.emb)  # bit for bit


class KillOnceModel(model_based.PerplexityFilter):
    """A perplexity rule whose actor process dies (SIGKILL) on its first batch, once in the whole run."""

    name = "perplexity"

    def check_batch(self, records):
        import os
        import signal

        try:
            fd = os.open(self.params.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return super().check_batch(records)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
        return []


def _killer_chain(model: str, marker: str) -> list:
    params = model_based.PerplexityParams(model=model, max_perplexity=5000.0)
    params.marker = marker
    return [KillOnceModel(params)]


@pytest.mark.slow  # ~45 s of CPU over the cluster's start (2 cores, load ~9): actors import torch, the model runs twice
def test_killed_actor_is_restarted_and_its_calls_rerun(cluster, data, tiny_model, tmp_path):
    import functools
    import os

    from instructkit.executors import apply_chunks
    from instructkit.shards import ShardWriter

    rules = [{"perplexity": {"model": str(tiny_model), "max_perplexity": 5000.0}}]
    reference = ShardSet(instructkit.filter(data.path, tmp_path / "local", rules=rules))
    marker = tmp_path / "killed"
    with ShardWriter(tmp_path / "ray", stage="filter", params=reference.manifest["params"], inputs=[data]) as w:
        factory = functools.partial(_killer_chain, str(tiny_model), str(marker))
        apply_chunks(data, factory, w, executor="ray", workers=2, actors=True, description="filter")
    assert marker.is_file() and int(marker.read_text()) != os.getpid(), "an actor (not this process) must have died"
    out = ShardSet(w.path)
    assert out.fingerprint == reference.fingerprint
    assert out.manifest["counts"] == reference.manifest["counts"]


def test_missing_model_on_actors_is_one_config_error(cluster, data, tmp_path):
    """A model the actors cannot load fails the run with the ConfigError a local run gives, and no set."""
    from instructkit.errors import ConfigError

    rules = [{"ifd": {"model": str(tmp_path / "no-such-model")}}]
    with pytest.raises(ConfigError) as local:
        instructkit.filter(data.path, tmp_path / "local", rules=rules)
    with pytest.raises(ConfigError) as on_ray:
        instructkit.filter(data.path, tmp_path / "out", rules=rules, executor="ray")
    assert on_ray.value.message == local.value.message
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("v*"))
    with pytest.raises(ConfigError, match="ray_gpus_per_actor"):
        instructkit.filter(data.path, tmp_path / "out", ray_gpus_per_actor=-1)


def test_actors_asking_for_missing_gpus_fail_at_once(cluster):
    """The test cluster has no GPU: an actor asking for one could never start, so the run must not wait."""
    from instructkit.errors import ConfigError
    from instructkit.executors.rayactors import actor_map, capacity

    with pytest.raises(ConfigError, match="cannot place a model actor"):
        list(actor_map(dict, _first, [1, 2], gpus=1))
    assert capacity({"CPU": 8.0, "GPU": 2.0}, 0.5) == 4 and capacity({"CPU": 8.0}, 0) == 8
    assert list(actor_map(dict, _first, range(7), workers=5)) == list(range(7))  # 5 asked, 2 CPUs: 2 actors


def _first(state, item):
    return item


@pytest.mark.slow  # MiniLM loaded three times (driver, two actors)
def test_semantic_dedupe_default_minilm_on_actors(cluster, data, minilm, tmp_path, monkeypatch):
    """No --model: MiniLM from its package (the model cache), on actors, equals the local run."""
    monkeypatch.setenv("INSTRUCTKIT_MODELS", str(minilm.parent))  # the cached copy, as a user's cache
    opts = {"mode": "semantic", "fields": "prompt", "semantic_threshold": 0.9}
    local = ShardSet(instructkit.dedupe(data.path, tmp_path / "local", **opts))
    on_ray = ShardSet(instructkit.dedupe(data.path, tmp_path / "ray", executor="ray", workers=2, **opts))
    assert local.manifest["counts"]["rejected"].get("semantic_duplicate", 0) >= len(data) // 4  # alpaca twice
    _same_sets(local, on_ray)
