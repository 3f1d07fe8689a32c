"""Semantic near-duplicates: cosine similarity of mean-pooled sentence embeddings (SemDeDup, Abbas et
al. 2023, uses the same idea with k-means buckets; we compare all pairs in blocks, fine up to ~100k).

The model is any transformers directory (or hub id) loadable with ``AutoModel``; hidden states are
mean-pooled over the attention mask (Reimers and Gurevych 2019, Sentence-BERT) and L2-normalised by
:class:`instructkit.models.Encoder`. torch and transformers are imported only when ``--mode semantic`` is used.
"""

from __future__ import annotations

import numpy as np

from instructkit.errors import ConfigError
from instructkit.models import Encoder


class Embedder(Encoder):
    """Embeds texts for ``--mode semantic``: an :class:`instructkit.models.Encoder` (mean-pooled,
    L2-normalised; cuda when available) that first checks a model was given.

    Args:
        model_dir: A model directory holding a transformers model and its tokenizer (or a hub id).
        batch_size: Texts per forward pass.
        max_length: Tokens kept per text.
    """

    def __init__(self, model_dir: str, *, batch_size: int = 32, max_length: int = 256, **kwargs):
        if not model_dir:
            raise ConfigError(
                "--mode semantic needs --model DIR",
                hint="a local model directory, e.g. one written by: instructkit model tiny out/tiny",
            )
        super().__init__(model_dir, batch_size=batch_size, max_length=max_length, **kwargs)


def similar_pairs(
    emb: np.ndarray, rows: np.ndarray, cols: np.ndarray, threshold: float, *, same: bool = False, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` of ``rows`` x ``cols`` (record indices) with cosine >= threshold, and their cosines.

    With ``same`` (``rows`` and ``cols`` are the same array) only ``i < j`` is returned.
    """
    pairs, sims = [], []
    c_emb = emb[cols]
    for s in range(0, len(rows), block):
        r = rows[s : s + block]
        cos = emb[r] @ c_emb.T
        if same:
            cos[np.arange(len(r))[:, None] >= (np.arange(len(cols))[None, :] - s)] = -1.0
        ii, jj = np.nonzero(cos >= threshold)
        pairs.append(np.stack((r[ii], cols[jj]), axis=1))
        sims.append(cos[ii, jj])
    if not pairs:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.float32)
    return np.concatenate(pairs).astype(np.int64), np.concatenate(sims).astype(np.float32)
