"""``eval --lm-eval`` runs lm-evaluation-harness for real, offline, on a task defined in the repo
(tests/data/lm_eval: a multiple-choice YAML task over a local JSONL) with the tiny model, and its
accuracy equals our own log-likelihood argmax over the same choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "tests" / "data" / "lm_eval"
TASK = "instructkit_tiny_mc"

pytest.importorskip("lm_eval")


def our_accuracy(model_dir: Path) -> float:
    """Pick the choice with the highest summed log-probability after ``Question: ...\\nAnswer:``, as
    lm-eval's multiple_choice does (continuation ``" " + choice``, encoded with the context, then split)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    docs = [json.loads(line) for line in (TASKS / f"{TASK}.jsonl").read_text().splitlines()]
    right = 0
    for doc in docs:
        context = f"Question: {doc['question']}\nAnswer:"
        scores = []
        for choice in doc["choices"]:
            whole = tok.encode(context + " " + choice)
            n_ctx = len(tok.encode(context))
            ids = torch.tensor([whole])
            with torch.no_grad():
                logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)
            targets = ids[0, n_ctx:]
            scores.append(logp[n_ctx - 1 :].gather(-1, targets[:, None]).sum().item())
        right += int(max(range(len(scores)), key=scores.__getitem__) == doc["answer"])
    return right / len(docs)


def test_lm_eval_runs_a_local_task_offline_through_the_eval_stage(cli, tiny_model, tmp_path, monkeypatch):
    from instructkit.records import make_record, message
    from instructkit.shards import ShardWriter

    monkeypatch.chdir(ROOT)  # the task's data_files path is relative to the repository root
    with ShardWriter(tmp_path / "set", stage="test", conserving=False) as w:
        w.write(make_record("sft", messages=[message("user", "hi"), message("assistant", "hello")]))
    out = tmp_path / "report"
    cli(
        "eval",
        "--model",
        tiny_model,
        "--data",
        w.path,
        "--metrics",
        "lm_eval",
        "--lm-eval",
        TASK,
        "--lm-eval-include",
        TASKS,
        "--set",
        "device=cpu",
        "-o",
        out,
    )
    report = json.loads((out / "report.json").read_text())
    (name,) = report["models"]
    result = report["results"][name]["lm_eval"][TASK]
    assert result["sample_len"] == 8
    assert result["acc,none"] == pytest.approx(our_accuracy(tiny_model))
    md = (out / "report.md").read_text()
    assert "## lm-evaluation-harness" in md and f"| {name} | {TASK} | acc |" in md
