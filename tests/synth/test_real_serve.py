"""synth and eval --judge against `transformers serve` running SmolLM2, as a user would with a real endpoint.

Slow (``make test-slow``): the server loads SmolLM2 (about 10 s) and every request generates on the CPU.
Skips cleanly when the model package or the serving extra is absent.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from openai_server import OpenAIServer

from instructkit.records import make_record, message
from instructkit.shards import ShardSet, ShardWriter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol_server(smollm2):
    if importlib.util.find_spec("fastapi") is None:
        pytest.skip("transformers[serving] is not installed")
    with OpenAIServer(smollm2) as server:
        yield server


def test_synth_over_http_with_smollm2(smol_server, samples, tmp_path):
    from instructkit.registry import run_stage

    res = run_stage(
        "synth",
        [samples / "self_instruct_seeds.jsonl"],
        tmp_path / "synth",
        flags=dict(generator=smol_server.url + "/v1", model=smol_server.model, max_requests=8),
        sets={"prompt_style": "short", "num_instructions": 3, "batch_size": 4, "instance_max_new_tokens": 48},
    )
    out = ShardSet(res.path)
    stats = out.manifest["stats"]["synth"]
    assert 0 < stats["requests_sent"] <= 8
    counts = out.manifest["counts"]
    assert counts["in"] == counts["kept"] + sum(counts["rejected"].values()) and counts["in"] >= 1
    for rec in out:  # whatever was kept is a real task with a real answer from the server
        assert rec["meta"]["synth"]["generator"]["backend"] == "http"
        assert len(rec["messages"][0]["content"].split()) > 3 and rec["messages"][1]["content"].strip()


def test_eval_judge_over_http_with_smollm2(smol_server, smollm2, tmp_path):
    from instructkit.registry import run_stage

    with ShardWriter(tmp_path / "q", stage="test") as w:
        for q, a in [("What is the capital of France?", "Paris."), ("Name a primary colour.", "Red.")]:
            w.count_in()
            w.write(make_record("sft", messages=[message("user", q), message("assistant", a)]))
    run_stage(
        "eval",
        [str(w.path)],
        tmp_path / "report",
        flags=dict(model=[str(smollm2)]),
        sets={
            "judge_url": smol_server.url,
            "judge_max_new_tokens": 96,
            "max_new_tokens": 24,
            "metrics": ["references", "judge"],
        },
    )
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    judge = report["judge"]
    assert judge["model"] == smol_server.model and judge["requests_sent"] >= 2
    single = report["results"][report["models"][0]]["judge_single"]
    assert single["n"] == 2  # each answer was graded; a 135M judge often omits "[[rating]]": counted apart
    assert single["parsed"] + single["unparseable"] == 2
    assert "## Judge" in (tmp_path / "report" / "report.md").read_text()
