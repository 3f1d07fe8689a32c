"""dedupe --mode semantic: mean-pooled embeddings from a local model (the tiny offline one: mechanics only)."""

from __future__ import annotations

import numpy as np

from instructkit.dedupe.semantic import Embedder, similar_pairs
from instructkit.records import make_record, message
from instructkit.shards import ShardSet, ShardWriter, verify


def _set(path, prompts):
    with ShardWriter(path, stage="test") as w:
        for i, p in enumerate(prompts):
            w.count_in()
            w.write(
                make_record(
                    "sft", id=f"r{i}", messages=[message("user", p), message("assistant", "ok")], source={"i": i}
                )
            )
    return ShardSet(w.path)


PROMPTS = [
    "What is the capital of France?",
    "Write a poem about the sea and the stars.",
    "What is the capital of France?",
    "Explain gradient descent in simple terms.",
]


def test_embeddings_are_normalised_and_pairs_found(tiny_model):
    emb = Embedder(str(tiny_model), batch_size=2)(PROMPTS + [""])
    assert emb.shape == (5, emb.shape[1]) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    idx = np.arange(4)
    pairs, sims = similar_pairs(emb, idx, idx, 0.99, same=True, block=3)  # a block edge inside the data
    assert pairs.tolist() == [[0, 2]] and sims[0] > 0.999


def test_semantic_mode_removes_the_copy(cli, tiny_model, tmp_path):
    src = _set(tmp_path / "in", PROMPTS)
    cli(
        "dedupe",
        src.path,
        "-o",
        tmp_path / "out",
        "--mode",
        "semantic",
        "--model",
        tiny_model,
        "--semantic-threshold",
        0.99,
        "--fields",
        "prompt",
    )
    out = ShardSet(tmp_path / "out")
    assert [r["id"] for r in out] == ["r0", "r1", "r3"] and verify(out.path) == []
    (rej,) = list(out.rejected)
    assert rej["meta"]["reject"]["reason"] == "semantic_duplicate" and rej["meta"]["reject"]["duplicate_of"] == "r0"
    assert rej["meta"]["reject"]["similarity"] > 0.999
    assert out.manifest["stats"]["cluster_sizes"] == {"2": 1}


def test_semantic_against(cli, tiny_model, tmp_path):
    ev = _set(tmp_path / "eval", ["Explain gradient descent in simple terms."])
    src = _set(tmp_path / "in", PROMPTS)
    cli(
        "dedupe",
        src.path,
        "-o",
        tmp_path / "out",
        "--mode",
        "exact,semantic",
        "--model",
        tiny_model,
        "--semantic-threshold",
        0.99,
        "--fields",
        "prompt",
        "--against",
        ev.path,
    )
    reasons = {r["id"]: r["meta"]["reject"]["reason"] for r in ShardSet(tmp_path / "out").rejected}
    assert reasons == {"r2": "exact_duplicate", "r3": "contaminated"}


def _reference_pairs(emb, rows, cols, threshold, same):
    cos = emb[rows] @ emb[cols].T
    out = [
        (int(rows[a]), int(cols[b]), float(cos[a, b]))
        for a in range(len(rows))
        for b in range(len(cols))
        if cos[a, b] >= threshold and (not same or b > a)
    ]
    return [(i, j) for i, j, _ in out], [s for *_, s in out]


def test_tiled_similarity_search_equals_the_whole_matrix():
    """Tiles of rows x columns (memory bounded whatever the set size) find the same pairs, in the same
    row-major order, as one cosine matrix over everything: for one set with itself and across sets."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 16))
    emb = centres[rng.integers(0, 12, 150)] + 0.15 * rng.normal(size=(150, 16))  # 12 clusters of near copies
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    alive = np.flatnonzero(np.arange(150) % 7 != 3)  # some records already removed
    for rows, cols, same in ((alive, alive, True), (np.arange(100), np.arange(100, 150), False)):
        want_pairs, want_sims = _reference_pairs(emb, rows, cols, 0.9, same)
        assert 50 < len(want_pairs) < len(rows) * len(cols) / 4
        for block, col_block in ((2048, 16384), (16, 16), (7, 40), (50, 9)):
            pairs, sims = similar_pairs(emb, rows, cols, 0.9, same=same, block=block, col_block=col_block)
            assert [tuple(p) for p in pairs.tolist()] == want_pairs, (block, col_block)
            assert np.allclose(sims, want_sims, atol=1e-5)
