"""Semantic near-duplicates: cosine similarity of mean-pooled sentence embeddings (SemDeDup, Abbas et
al. 2023, uses the same idea with k-means buckets; we compare all pairs in blocks, fine up to ~100k).

The model is any local transformers directory loadable with ``AutoModel``; hidden states are
mean-pooled over the attention mask (Reimers and Gurevych 2019, Sentence-BERT) and L2-normalised.
torch and transformers are imported here, only when ``--mode semantic`` is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from instructkit.errors import ConfigError


class Embedder:
    """Embeds texts with a local model, ``batch_size`` at a time.

    Args:
        model_dir: A directory holding a transformers model and its tokenizer.
        batch_size: Texts per forward pass.
        max_length: Tokens kept per text.
    """

    def __init__(self, model_dir: str, *, batch_size: int = 32, max_length: int = 256):
        if not model_dir:
            raise ConfigError(
                "--mode semantic needs --model DIR",
                hint="a local model directory, e.g. one written by: instructkit model tiny out/tiny",
            )
        if not Path(model_dir).is_dir():
            raise ConfigError(
                "model directory not found",
                file=str(model_dir),
                hint="pass a local directory holding config.json and a tokenizer",
            )
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
            self.model = AutoModel.from_pretrained(model_dir).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load the model: {exc}", file=str(model_dir)) from None
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.batch_size, self.max_length = batch_size, max_length
        self.dim = int(self.model.config.hidden_size)

    def __call__(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 embeddings, one row per text."""
        torch = self.torch
        out = []
        for s in range(0, len(texts), self.batch_size):
            batch = [t if t.strip() else " " for t in texts[s : s + self.batch_size]]
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            enc.pop("token_type_ids", None)
            with torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(mean.float(), dim=-1).numpy())
        return np.concatenate(out) if out else np.empty((0, self.dim), dtype=np.float32)


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
