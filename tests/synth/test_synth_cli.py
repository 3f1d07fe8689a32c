"""`instructkit synth` end to end: real HTTP (a scripted server and the tiny model behind
`transformers serve`), the local tiny model, resume through the CLI, and user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_server import ScriptedServer, openai_server  # noqa: F401
from synth_fake import FakeGenerator

from instructkit.shards import ShardSet, verify

SEEDS = Path(__file__).parents[1] / "data" / "synth_seeds.jsonl"
# The tiny model holds 1024 positions: keep replies short (prompts are cut from the left to fit).
TINY = [
    "--set",
    "max_new_tokens=32",
    "--set",
    "instance_max_new_tokens=16",
    "--set",
    "evol_max_new_tokens=16",
    "--set",
    "response_max_new_tokens=16",
    "--set",
    "batch_size=2",
    "--set",
    "prompt_tasks=1",
    "--set",
    "prompt_machine_tasks=0",
    "--set",
    "instance_examples=1",
]


def _check_funnel(path) -> dict:
    s = ShardSet(path)
    c = s.manifest["counts"]
    assert c["in"] == c["kept"] + sum(c["rejected"].values()) and verify(s.path) == []
    assert s.kind == "sft" and len(s) == c["kept"]
    return s.manifest


def _scripted(fake: FakeGenerator):
    return lambda body: fake.reply(body["messages"][-1]["content"], body.get("seed", 0))


def test_cli_over_http_with_resume_and_no_key_on_disk(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_TEST_KEY", "sk-secret-123")
    fake = FakeGenerator()
    out, cache = tmp_path / "synth", tmp_path / "cache.jsonl"
    args = [
        "synth",
        "--seeds",
        SEEDS,
        "--generator",
        None,
        "--model",
        "scripted",
        "-o",
        out,
        "--cache",
        cache,
        "--api-key-env",
        "SYNTH_TEST_KEY",
        "-n",
        "10",
        "--set",
        "instances=separate",
        "--concurrency",
        "2",
    ]
    with ScriptedServer(reply=_scripted(fake)) as server:
        args[4] = server.url + "/v1"
        first = cli(*args, "--max-requests", "4")
        assert "request budget spent" in first.output
        n_first = len(server.requests)
        second = cli(*args)
        n_total = len(server.requests)
    assert n_first == 4 and server.requests[0]["headers"]["Authorization"] == "Bearer sk-secret-123"
    m1 = _check_funnel(out / "v0001")
    m2 = _check_funnel(out / "v0002")
    assert m1["stats"]["synth"]["stopped"] == "max_requests" and m2["stats"]["synth"]["cache_hits"] == 4
    assert m2["counts"]["kept"] == 10 and str(out / "v0002") in second.output
    # Every request reached the server once: the cache file has one line per request, no repeats.
    keys = [json.loads(line)["key"] for line in cache.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == n_total
    bodies = [json.dumps(r["body"], sort_keys=True) for r in server.requests]
    assert len(bodies) == len(set(bodies))
    for path in (out / "v0002").rglob("*"):
        if path.is_file():
            assert "sk-secret-123" not in path.read_text(errors="ignore")
    rec = next(iter(ShardSet(out / "v0002")))
    assert rec["meta"]["synth"]["generator"] == {"backend": "http", "model": "scripted", "url": server.url + "/v1"}


def test_cli_evol_over_http(cli, tmp_path):
    fake = FakeGenerator()
    with ScriptedServer(reply=_scripted(fake)) as server:
        cli(
            "synth",
            "--seeds",
            SEEDS,
            "--generator",
            server.url,
            "-o",
            tmp_path / "evol",
            "--method",
            "evol",
            "--rounds",
            "2",
            "--cache",
            tmp_path / "c.jsonl",
        )
    m = _check_funnel(tmp_path / "evol")
    assert m["counts"]["kept"] == 10 and m["params"]["method"] == "evol" and m["params"]["rounds"] == 2


def test_a_failed_request_keeps_the_finished_ones_in_the_cache(tmp_path):
    # Four requests in one batch, all in flight at once; the fourth to reach the server gets a 500
    # and, with no retries, fails for good. The three answered ones must be cached all the same.
    from instructkit.generation import HttpGenerator
    from instructkit.synth.cache import RequestCache
    from instructkit.synth.engine import Engine, RequestsFailed

    def batch(engine):
        return [
            engine.request(f"question {k}", "test", max_new_tokens=8, temperature=0.7, top_p=1.0, seed=3)
            for k in range(4)
        ]

    path = tmp_path / "cache.jsonl"
    with ScriptedServer(statuses=[200, 200, 200, 500], reply=lambda body: body["messages"][-1]["content"]) as server:
        gen = HttpGenerator(server.url, "scripted", concurrency=4, max_retries=0, backoff=0)
        with RequestCache(path) as cache, pytest.raises(RequestsFailed) as err:
            Engine(gen, cache).run(batch(Engine(gen, cache)))
        assert "1 of 4 generation requests failed" in str(err.value) and "HTTP 500" in str(err.value)
        assert f"3 finished requests are cached in {path}" in str(err.value) and "re-run" in str(err.value)
        assert len(path.read_text().splitlines()) == 3
        failed = server.requests[3]["body"]["messages"][-1]["content"]

        # The re-run (the server now answers everything) sends only the request that failed.
        with RequestCache(path) as cache:
            engine = Engine(gen, cache)
            replies = engine.run(batch(engine))
        gen.close()
    assert replies == [f"question {k}" for k in range(4)]
    assert engine.hits == 3 and engine.sent == 1
    assert len(server.requests) == 5 and server.requests[4]["body"]["messages"][-1]["content"] == failed


def test_cli_stops_on_a_failed_request_and_the_rerun_continues(cli, tmp_path):
    fake = FakeGenerator()
    out, cache = tmp_path / "synth", tmp_path / "cache.jsonl"
    args = ["synth", "--seeds", SEEDS, "--model", "scripted", "-o", out, "--cache", cache, "-n", "6"]
    args += ["--max-retries", "0", "--concurrency", "2", "--generator"]
    # The 4th of the run's 5 requests to arrive fails; which one that is depends on timing: count, don't name.
    with ScriptedServer(statuses=[200] * 3 + [500], reply=_scripted(fake)) as server:
        first = cli(*args, server.url, ok=False)
        assert first.exit_code == 2 and "Traceback" not in first.output
        assert "generation requests failed" in first.output and "re-run the same command" in first.output
        assert not (out / "v0001").exists()  # nothing committed
        cached = len(cache.read_text().splitlines())
        assert cached >= 3 and f"{cached} finished requests are cached" in " ".join(first.output.split())
        cli(*args, server.url)
    _check_funnel(out / "v0001")
    # Every answered request is in the cache once: only the failed one was sent twice.
    keys = [json.loads(line)["key"] for line in cache.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == len(server.requests) - 1


def test_cli_user_errors(cli, tmp_path):
    r = cli(
        "synth",
        "--seeds",
        tmp_path / "nope.jsonl",
        "--generator",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "-o",
        tmp_path / "o",
        ok=False,
    )
    assert r.exit_code == 2 and "no such seed set or seed file" in r.output
    r = cli(
        "synth",
        "--seeds",
        SEEDS,
        "--generator",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "-o",
        tmp_path / "o",
        "--set",
        "no_such_key=1",
        ok=False,
    )
    assert r.exit_code == 2 and "unknown key 'no_such_key'" in r.output and "rouge_threshold" in r.output
    r = cli(
        "synth",
        "--seeds",
        SEEDS,
        "--generator",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "-o",
        tmp_path / "o",
        "--method",
        "magic",
        ok=False,
    )
    assert r.exit_code == 2 and "method" in r.output
    r = cli("synth", "--seeds", SEEDS, "--generator", str(tmp_path / "no-model"), "-o", tmp_path / "o", ok=False)
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_local_tiny_model_end_to_end(cli, tiny_model, tmp_path):
    # Mechanics only: the tiny model writes gibberish, so most candidates are rejected.
    for method in ("self-instruct", "evol"):
        out = tmp_path / method
        cli(
            "synth",
            "--seeds",
            SEEDS,
            "--generator",
            tiny_model,
            "-o",
            out,
            "--method",
            method,
            "-n",
            "4",
            "--rounds",
            "1",
            "--max-requests",
            "4",
            "--set",
            "instances=separate",
            "--set",
            "patience=2",
            *TINY,
        )
        m = _check_funnel(out)
        st = m["stats"]["synth"]
        assert 0 < st["requests_sent"] <= 4 and st["candidates"] == m["counts"]["in"]
        assert m["params"]["generator"] == {"backend": "local", "model": str(tiny_model)}


def test_http_tiny_model_behind_transformers_serve(cli, openai_server, tmp_path):  # noqa: F811
    out = tmp_path / "http"
    cli(
        "synth",
        "--seeds",
        SEEDS,
        "--generator",
        openai_server.url,
        "--model",
        openai_server.model,
        "-o",
        out,
        "-n",
        "4",
        "--max-requests",
        "4",
        "--set",
        "instances=separate",
        "--set",
        "patience=2",
        *TINY,
    )
    m = _check_funnel(out)
    st = m["stats"]["synth"]
    assert 0 < st["requests_sent"] <= 4 and st["candidates"] == m["counts"]["in"]
    assert m["params"]["generator"]["backend"] == "http"
