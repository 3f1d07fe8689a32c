"""filter and dedupe on a real local Ray cluster: the same records and fingerprint as the local run, and a
task whose worker process is killed is retried by Ray without losing or doubling a record.

One cluster (``ray.init("local", num_cpus=2)``) serves the module; the stages join it as they would join a
session a user started. Skipped when Ray (the ``instructkit[ray]`` extra) is not installed.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import instructkit  # noqa: E402
from instructkit import filters  # noqa: E402
from instructkit.executors import apply_chunks  # noqa: E402
from instructkit.ingest import ingest  # noqa: E402
from instructkit.shards import ShardSet, ShardWriter  # noqa: E402
from instructkit.stage import Drop, Filter  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def cluster():
    started = not ray.is_initialized()
    if started:
        ray.init("local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    # Ray workers cannot import this test module: send its functions and classes by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> ShardSet:
    """About 60 records in parts of 7, with duplicates and records the default rules reject."""
    out = tmp_path_factory.mktemp("ray") / "in"
    with ShardWriter(out, stage="ingest", shard_size=7) as w:
        ingest([str(SAMPLES / f) for f in ("alpaca.jsonl", "dolly.jsonl", "sharegpt.json", "alpaca.jsonl")], w)
    return ShardSet(out)


def _files(path: Path) -> dict[str, bytes]:
    """Every data file of a set (parts, rejected/, clusters.jsonl) by relative path; not the manifest or README (they hold times and paths)."""
    return {
        str(f.relative_to(path)): f.read_bytes()
        for f in sorted(path.rglob("*"))
        if f.is_file() and f.name not in ("manifest.json", "README.md")
    }


def _same_sets(a: ShardSet, b: ShardSet) -> None:
    assert a.fingerprint == b.fingerprint
    assert a.manifest["counts"] == b.manifest["counts"]
    assert a.rejected.fingerprint == b.rejected.fingerprint
    assert _files(a.path) == _files(b.path)


def test_filter_ray_equals_local(cluster, data, tmp_path):
    local = ShardSet(instructkit.filter(data.path, tmp_path / "local"))
    on_ray = ShardSet(instructkit.filter(data.path, tmp_path / "ray", executor="ray", shard_size=5))
    local5 = ShardSet(instructkit.filter(data.path, tmp_path / "local5", shard_size=5))
    assert local.manifest["counts"]["rejected"], "the sample data must exercise rejects"
    assert local.manifest["counts"]["in"] == len(data)
    _same_sets(local5, on_ray)
    assert [r["id"] for r in local] == [r["id"] for r in on_ray]


def test_dedupe_ray_equals_local(cluster, data, tmp_path, monkeypatch):
    from instructkit import executors
    from instructkit.dedupe.minhash import band_task

    maps = []  # the functions the stage mapped on Ray: pass 1, banding, pass 2
    real = executors.ordered_map

    def spy(fn, items, **kw):
        maps.append((getattr(fn, "func", fn), kw.get("executor")))
        return real(fn, items, **kw)

    local = ShardSet(instructkit.dedupe(data.path, tmp_path / "local"))
    monkeypatch.setattr(executors, "ordered_map", spy)
    on_ray = ShardSet(instructkit.dedupe(data.path, tmp_path / "ray", executor="ray"))
    assert (band_task, "ray") in maps, "banding must run as Ray tasks"
    counts = local.manifest["counts"]
    assert counts["rejected"].get("exact_duplicate", 0) >= 1, "alpaca.jsonl is ingested twice"
    _same_sets(local, on_ray)
    assert on_ray.manifest["params"] == local.manifest["params"]  # executor is not recorded


def test_dedupe_local_workers_equal_one_process(data, tmp_path):
    """--workers 2 parses in the worker processes (pscan) and must give the one-process result."""
    one = ShardSet(instructkit.dedupe(data.path, tmp_path / "one", mode="exact,minhash", keep="longest"))
    two = ShardSet(instructkit.dedupe(data.path, tmp_path / "two", mode="exact,minhash", keep="longest", workers=2))
    _same_sets(one, two)


def _kill_once(marker: str, fn, item):
    """``fn(item)``, but the first call in any process kills that process (a marker file says so)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return fn(item)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("spilled", [False, True])
def test_banding_on_ray_equals_in_process(cluster, tmp_path, spilled):
    """Each band is grouped by its keys in a Ray task (its columns, or its keys from the spill file, are
    all a task gets); the pairs equal the in-process ones, and a band task whose worker is killed is
    re-run."""
    import numpy as np

    from instructkit.dedupe.minhash import band_task, candidate_pairs
    from instructkit.dedupe.spill import SigStore, Spill
    from instructkit.executors import ordered_map

    rng = np.random.default_rng(3)
    sigs = rng.integers(0, 2**32, (3000, 32), dtype=np.uint32)
    sigs[1::7] = sigs[0::7][: len(sigs[1::7])]  # copies
    sigs[2::5, 8:12] = sigs[3::5, 8:12][: len(sigs[2::5])]  # one band shared
    sigs[::50, :4] = 7  # a bucket larger than full_bucket
    active = np.ones(len(sigs), dtype=bool)
    active[::11] = False
    marker = tmp_path / "killed"

    def on_ray(fn, items):
        assert fn is band_task
        return ordered_map(functools.partial(_kill_once, str(marker), fn), items, executor="ray")

    def pairs(map_fn):
        if not spilled:
            return candidate_pairs(sigs, 8, 4, active, map_fn=map_fn)
        with Spill(tmp_path) as spill:
            store = SigStore(spill.path(f"sigs-{map_fn is None}.u32"), *sigs.shape)
            store[0 : len(sigs)] = sigs
            got = np.concatenate(list(candidate_pairs(store, 8, 4, active, spill=spill, map_fn=map_fn)))
            store.close()
            return got

    want = pairs(None)
    assert len(want) > 400
    got = pairs(on_ray)
    assert marker.is_file() and int(marker.read_text()) != os.getpid(), "a band task's worker must have been killed"
    assert np.array_equal(got, want)


def test_semantic_pairs_on_ray_equal_in_process(cluster, tmp_path):
    """Semantic dedupe's all-pairs cosine search runs one Ray task per block of rows (the embeddings are
    stored once in the object store): the same pairs and the same float32 cosines, bit for bit, as in
    this process, for a set with itself and across sets; a row task whose worker is killed is re-run."""
    import numpy as np

    from instructkit.dedupe.semantic import similar_pairs
    from instructkit.executors import ordered_map

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, 32))
    emb = centres[rng.integers(0, 30, 900)] + 0.2 * rng.normal(size=(900, 32))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    marker = tmp_path / "killed"

    def on_ray(fn, items):
        return ordered_map(functools.partial(_kill_once, str(marker), fn), items, executor="ray")

    alive = np.flatnonzero(np.arange(900) % 5 != 2)
    for rows, cols, same in ((alive, alive, True), (np.arange(600), np.arange(600, 900), False)):
        tiles = {"block": 128, "col_block": 200}  # several row tasks, several tiles each
        want_pairs, want_sims = similar_pairs(emb, rows, cols, 0.85, same=same, **tiles)
        got_pairs, got_sims = similar_pairs(emb, rows, cols, 0.85, same=same, map_fn=on_ray, **tiles)
        assert len(want_pairs) > 1000
        assert np.array_equal(got_pairs, want_pairs) and np.array_equal(got_sims, want_sims)
    assert marker.is_file() and int(marker.read_text()) != os.getpid(), "a row task's worker must have been killed"


class KillOnce(Filter):
    """Kills the worker process running it the first time any process runs it (a marker file says so)."""

    name = "kill_once"

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def check(self, record: dict) -> Drop | None:
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return None
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
        return None


def _chain_with_killer(config: dict, marker: str) -> list:
    return [*filters.build_chain(config), KillOnce(marker)]


def test_killed_worker_task_is_retried_without_loss(cluster, data, tmp_path):
    config = {"rules": instructkit.filters.stage.FilterParams().rules}
    marker = tmp_path / "killed"
    reference = ShardSet(instructkit.filter(data.path, tmp_path / "local"))
    with ShardWriter(tmp_path / "ray", stage="filter", params=config, inputs=[data]) as w:
        factory = functools.partial(_chain_with_killer, config, str(marker))
        apply_chunks(data, factory, w, executor="ray", description="filter")
    assert marker.is_file(), "a worker must have been killed"
    assert int(marker.read_text()) != os.getpid()  # it was a Ray worker, not this process
    out = ShardSet(w.path)
    assert out.fingerprint == reference.fingerprint
    assert out.manifest["counts"] == reference.manifest["counts"]
    assert _files(out.path) == _files(reference.path)


def test_failing_task_leaves_no_set(cluster, data, tmp_path):
    """A task error that retries cannot fix (a corrupt line) reaches the driver as the ShardError it is,
    and the output directory holds no version."""
    from instructkit.errors import ShardError

    bad = tmp_path / "bad"
    with ShardWriter(bad, stage="ingest", shard_size=7) as w:
        for r in data:
            w.count_in()
            w.write(r)
    part = ShardSet(bad).parts[1]
    blob = part.read_bytes().replace(b'{"id"', b'{"id" x', 1)
    part.write_bytes(blob)
    import json

    manifest = json.loads((w.path / "manifest.json").read_text())
    import hashlib

    manifest["parts"][1]["sha256"] = hashlib.sha256(blob).hexdigest()  # tampered consistently: a bad line
    manifest["parts"][1]["bytes"] = len(blob)
    (w.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match="corrupt record"):
        instructkit.filter(w.path, tmp_path / "out", executor="ray")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("v*"))


def test_executor_is_checked():
    from instructkit.errors import ConfigError
    from instructkit.filters.stage import FilterParams

    with pytest.raises(ConfigError, match="unknown executor"):
        FilterParams(executor="spark")


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("stage", ["dedupe", "filter"])
def test_unreachable_ray_address_fails_fast(data, tmp_path, stage):
    """A HOST:PORT where no Ray listens is one clear line and exit 2 at once (Ray itself retries for
    minutes, printing warnings), and no set is made. Run as a user would: a fresh process, no session."""
    import subprocess

    port = _free_port()  # nothing listens there
    cli = [sys.executable, "-m", "instructkit", stage, str(data.path), "-o", str(tmp_path / "out"), "--executor", "ray"]
    for address, says in ((f"127.0.0.1:{port}", "cannot connect to Ray at 127.0.0.1"), ("nohost", "is not HOST:PORT")):
        done = subprocess.run([*cli, "--ray-address", address], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert says in done.stderr and "Traceback" not in done.stderr
        assert not list((tmp_path / "out").glob("*"))  # filter makes the (empty) output directory first


def test_a_stale_ray_start_entry_does_not_stop_a_local_run(data, tmp_path):
    """Without --ray-address the run starts its own cluster, even where ``ray start`` left its address in
    Ray's temp dir (a running cluster, or a dead one whose entry stayed: plain ``ray.init()`` would try to
    join it and refuse ``num_cpus``). A fresh process, as a user runs it."""
    import shutil
    import subprocess
    import tempfile

    ray_tmp = Path(tempfile.mkdtemp(prefix="ikray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    try:
        (ray_tmp / "ray").mkdir()
        (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")  # a cluster that is gone
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"RAY_TMPDIR": str(ray_tmp)}
        cli = [sys.executable, "-m", "instructkit", "filter", str(data.path), "-o", str(tmp_path / "ray")]
        done = subprocess.run([*cli, "--executor", "ray"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    _same_sets(ShardSet(instructkit.filter(data.path, tmp_path / "local")), ShardSet(tmp_path / "ray"))


@pytest.mark.slow  # ~35 s: a `ray start` cluster, and Ray's own 20 s of retries before it gives up
def test_joining_a_ray_start_cluster_by_address(data, tmp_path):
    """A cluster made by `ray start --head` (token authentication on, as Ray >= 2.59 does by default)
    joined as a user on another node would: by HOST:PORT. Without RAY_AUTH_MODE=token the driver sends no
    token: one line naming the fix and exit 2; with it, the same set as the local run."""
    import socket
    import subprocess
    import time

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    ray_cli = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        time.sleep(2)  # the GCS listens before the head's raylet has registered
        local = ShardSet(instructkit.dedupe(data.path, tmp_path / "local"))
        cli = [sys.executable, "-m", "instructkit", "dedupe", str(data.path), "--executor", "ray"]
        cli += ["--ray-address", f"127.0.0.1:{port}"]
        no_token = subprocess.run(
            [*cli, "-o", str(tmp_path / "a")], env=env, capture_output=True, text=True, timeout=180
        )
        if "RAY_AUTH_MODE=token" not in no_token.stderr and no_token.returncode == 0:
            pytest.skip("this Ray does not turn token authentication on for `ray start`")
        assert no_token.returncode == 2 and "RAY_AUTH_MODE=token" in no_token.stderr, no_token.stderr[-2000:]
        assert "Traceback" not in no_token.stderr and not list((tmp_path / "a").glob("v*"))
        done = subprocess.run(
            [*cli, "-o", str(tmp_path / "b")], env={**env, "RAY_AUTH_MODE": "token"}, capture_output=True, text=True,
            timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        _same_sets(local, ShardSet(tmp_path / "b"))
    finally:
        head.terminate()
        head.wait(timeout=60)
        # `ray start` recorded its address for ray.init() to join; do not leave a dead cluster there.
        current = Path("/tmp/ray/ray_current_cluster")
        if current.is_file() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()


# --- quality: chunk tasks on Ray (quality/tasks.py) -----------------------------------------------


def test_quality_ray_equals_local(cluster, data, tmp_path, monkeypatch):
    """quality.json of --executor ray equals --workers 1 and --workers 2, with chunks of 7 lines (12 tasks)."""
    import json

    from instructkit.quality import tasks

    monkeypatch.setattr(tasks, "CHUNK", 7)
    one = Path(instructkit.quality(data.path, tmp_path / "one")) / "quality.json"
    two = Path(instructkit.quality(data.path, tmp_path / "two", workers=2)) / "quality.json"
    on_ray = Path(instructkit.quality(data.path, tmp_path / "ray", executor="ray")) / "quality.json"
    doc = json.loads(one.read_text())
    assert doc["records"] == len(data) > 7 * 5
    assert doc["diversity"]["near_duplicates"]["clusters"] and doc["clarity"]["flagged"], "merges must have work"
    assert two.read_bytes() == one.read_bytes()
    assert on_ray.read_bytes() == one.read_bytes()
