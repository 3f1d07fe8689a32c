"""Semantic dedupe with its default encoder, all-MiniLM-L6-v2, on real paraphrases (not copies).

tests/data/paraphrase_pairs.jsonl: 35 paraphrase pairs and 35 pairs that must stay apart (27 on the same
topic asking something else, 5 unrelated), written by hand. docs/dedupe.md reports the numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from instructkit.dedupe import DedupeParams
from instructkit.dedupe.semantic import DEFAULT_THRESHOLD, Embedder
from instructkit.records import make_record, message
from instructkit.shards import ShardSet, ShardWriter, verify

PAIRS = [json.loads(line) for line in (Path(__file__).parents[1] / "data" / "paraphrase_pairs.jsonl").open()]


@pytest.fixture(scope="module")
def cosines(minilm):
    emb = Embedder(str(minilm))
    a, b = emb([p["a"] for p in PAIRS]), emb([p["b"] for p in PAIRS])
    return (a * b).sum(1), np.array([p["dup"] for p in PAIRS])


def test_the_pair_set_is_large_enough():
    dup = sum(p["dup"] for p in PAIRS)
    assert dup >= 30 and len(PAIRS) - dup >= 30


def test_default_threshold_separates_paraphrases_from_different_asks(cosines):
    cos, dup = cosines
    assert DedupeParams().semantic_threshold == DEFAULT_THRESHOLD == 0.8
    pred = cos >= DEFAULT_THRESHOLD
    tp, fp, fn = int((pred & dup).sum()), int((pred & ~dup).sum()), int((~pred & dup).sum())
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    # measured: precision 0.865 (32 of 37), recall 0.914 (32 of 35); the misses and the false merges are
    # listed in docs/dedupe.md (one-word swaps: synonym/antonym, Spanish/Japanese, poem/story)
    assert precision >= 0.85 and recall >= 0.9, (precision, recall)
    unrelated = cos[[p["kind"] == "unrelated" for p in PAIRS]]
    assert len(unrelated) == 5 and unrelated.max() < 0.3
    assert np.median(cos[dup]) > np.median(cos[~dup]) + 0.3


def test_the_old_default_missed_most_paraphrases(cosines):
    cos, dup = cosines
    assert (cos[dup] >= 0.95).sum() <= 3  # 0.95 (the former default) merged 2 of 35


def test_cli_semantic_mode_without_model_uses_minilm_and_removes_paraphrases(cli, minilm, tmp_path, monkeypatch):
    monkeypatch.setenv("INSTRUCTKIT_MODELS", str(minilm.parent))  # the cached copy, as a user's cache
    prompts = [
        "What is the capital of France?",
        "Explain how photosynthesis works.",
        "Who wrote Pride and Prejudice?",
        "Why is the sky blue?",
        "Which city is the capital of France?",  # paraphrase of 0
        "Describe the process of photosynthesis.",  # paraphrase of 1
        "Who is the author of Pride and Prejudice?",  # paraphrase of 2
        "Write a haiku about autumn.",
        "Give me a recipe for lentil soup.",
    ]
    with ShardWriter(tmp_path / "in", stage="test") as w:
        for i, p in enumerate(prompts):
            w.count_in()
            w.write(make_record("sft", id=f"r{i}", messages=[message("user", p), message("assistant", "ok")]))
    cli("dedupe", tmp_path / "in", "-o", tmp_path / "out", "--mode", "semantic", "--fields", "prompt")
    out = ShardSet(tmp_path / "out")
    assert [r["id"] for r in out] == ["r0", "r1", "r2", "r3", "r7", "r8"] and verify(out.path) == []
    dup_of = {r["id"]: r["meta"]["reject"]["duplicate_of"] for r in out.rejected}
    assert dup_of == {"r4": "r0", "r5": "r1", "r6": "r2"}
