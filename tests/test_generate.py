"""generate: K responses per prompt from local models and an endpoint, cached and resumable, into feedback records."""

from __future__ import annotations

import shutil

import pytest
from openai_server import ScriptedServer

import instructkit
from instructkit.records import make_record, message, validate
from instructkit.shards import ShardSet, ShardWriter, verify


def _prompts(root, n=3):
    with ShardWriter(root / "prompts", stage="test") as w:
        for i in range(n):
            w.count_in()
            if i == 0:  # an sft record: its prompt is what comes before the last reply
                w.write(make_record("sft", messages=[message("user", "Say hi."), message("assistant", "Hi!")]))
            else:
                w.write(make_record("prompt", prompt=[message("user", f"Count to {i}.")], source={"line": i}))
    return w.path


def test_generate_local_models_tagged_and_resumed(tmp_path, tiny_model):
    other = tmp_path / "other-model"
    shutil.copytree(tiny_model, other)
    prompts = _prompts(tmp_path)
    out = instructkit.generate(
        prompts, tmp_path / "cand", model=[str(tiny_model), str(other)], n=2, max_new_tokens=6, seed=1
    )
    s = ShardSet(out)
    assert s.kind == "feedback" and len(s) == 3 and verify(out) == []
    records = list(s)
    for r in records:
        assert validate(r) == "feedback" and r["judgments"] == []
        assert [x["model"] for x in r["responses"]] == [str(tiny_model)] * 2 + [str(other)] * 2
        assert all(isinstance(x["content"], str) for x in r["responses"])
    first = next(r for r in records if r["prompt"][0]["content"] == "Say hi.")
    assert first["meta"]["generate"]["reference"] == "Hi!"
    assert s.manifest["stats"]["generate"]["requests_sent"] == 12
    # the same command again: every reply comes from the cache, the records are identical
    again = ShardSet(
        instructkit.generate(
            prompts, tmp_path / "cand", model=[str(tiny_model), str(other)], n=2, max_new_tokens=6, seed=1
        )
    )
    assert again.manifest["stats"]["generate"] == {"requests_sent": 0, "cache_hits": 12, "stopped": "done"}
    assert again.fingerprint == s.fingerprint
    # annotate-export takes the set as it is, for every response template
    for template in ("pairwise", "ranking", "rating", "edit"):
        tasks = instructkit.annotate_export(again.path, tmp_path / f"tasks-{template}", template=template)
        assert (tasks / "tasks.json").is_file()


def test_generate_endpoint_failure_loses_nothing(tmp_path):
    prompts = _prompts(tmp_path)
    # request 3 fails (no retries): the other replies are cached, the stage fails with one error
    with ScriptedServer([200, 200, 500], reply=lambda body: "reply to " + body["messages"][-1]["content"]) as server:
        url = server.url + "/v1"
        with pytest.raises(instructkit.InstructkitError, match="cached"):
            instructkit.generate(prompts, tmp_path / "cand", model=url, n=2, max_retries=0, concurrency=1)
        sent_first = len([r for r in server.requests if r["body"]])
        out = instructkit.generate(prompts, tmp_path / "cand", model=url, n=2, max_retries=0, concurrency=1)
        sent_total = len([r for r in server.requests if r["body"]])
    s = ShardSet(out)
    assert len(s) == 3 and verify(out) == []
    assert sent_total - sent_first == 6 - (sent_first - 1)  # only the missing requests were sent again
    seeds = sorted(r["body"].get("seed") for r in server.requests if r["body"])
    assert {0, 1} <= set(seeds)  # response k is sampled with seed + k
    for r in s:
        assert [x["content"] for x in r["responses"]] == ["reply to " + r["prompt"][-1]["content"]] * 2
        assert r["responses"][0]["model"] == "scripted"


def test_generate_budget_rejects_the_rest(tmp_path):
    prompts = _prompts(tmp_path)
    with ScriptedServer(reply="ok") as server:
        out = instructkit.generate(prompts, tmp_path / "cand", model=server.url + "/v1", n=2, max_requests=3)
    s = ShardSet(out)
    assert verify(out) == []
    assert s.manifest["counts"]["in"] == 3
    assert len(s) == 1 and s.manifest["counts"]["rejected"] == {"not_generated": 2}
    assert s.manifest["stats"]["generate"]["stopped"] == "max_requests"


def test_generate_refuses_greedy_copies(tmp_path, tiny_model):
    with pytest.raises(instructkit.ConfigError, match="identical"):
        instructkit.generate(_prompts(tmp_path), tmp_path / "c", model=str(tiny_model), n=3, temperature=0)
