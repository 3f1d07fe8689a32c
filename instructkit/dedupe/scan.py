"""Pass 1 over the input (and ``--against`` sets): per record, only what clustering needs.

Kept per record: its id (~80 bytes as a Python str), the compared text's length (4 bytes), the
``highest:`` meta value (8 bytes, only with that policy), the exact digest (16 bytes, exact mode),
the MinHash signature (4 bytes x num_perm: 512 bytes at 128) and the embedding (4 bytes x hidden size,
semantic mode). Record text is never kept: pass 2 re-reads the input to write the output. With a
``spill.Spill`` (``--memory-budget``), ids and signatures go to files instead (8 bytes per record of
id offsets stay in memory).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from instructkit.arrays import unique
from instructkit.dedupe.exact import Digests
from instructkit.dedupe.keep import meta_value, parse_keep
from instructkit.dedupe.minhash import EMPTY, texts_signatures
from instructkit.dedupe.normalize import text_for
from instructkit.dedupe.shingle import batch_shingles
from instructkit.errors import ShardError
from instructkit.shards import ShardSet, loads
from instructkit.stage import progress_bar

BATCH = 512  # texts per signature task: large enough to amortise numpy calls and pickling


@dataclass
class Scan:
    """What pass 1 learned. Indices ``0 .. n_in-1`` are the input, the rest the ``--against`` sets."""

    n_in: int
    ids: list[str]
    lengths: np.ndarray
    values: np.ndarray | None
    digests: Digests | None
    sigs: np.ndarray | None
    emb: np.ndarray | None
    origin: list[str]  # per against set: its path (against index -> set via offsets)
    offsets: list[int]  # start index of each against set
    # The input's blocks as pass 1's local workers read them (``(offset, part, first line or None, records,
    # BlockRef)``; the records counted by the tasks): pass 2 hands the same blocks out instead of reading
    # and hashing the set again.
    blocks: list[tuple] | None = None

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def nonempty(self) -> np.ndarray:
        """Records with at least one shingle (an empty text never near-duplicates anything)."""
        if self.sigs is None:
            return np.ones(self.n, dtype=bool)
        return (self.sigs[:, 0] if isinstance(self.sigs, np.ndarray) else self.sigs.column(0)) != EMPTY

    def against_path(self, index: int) -> str:
        k = max(i for i, off in enumerate(self.offsets) if off <= index)
        return self.origin[k]


def _records(sets: list[ShardSet]) -> Iterator[dict]:
    for s in sets:
        yield from s


def _sig_task(args: tuple) -> tuple[int, np.ndarray]:
    offset, texts, num_perm, ngram, char_ngram, min_words, seed = args
    return offset, texts_signatures(texts, num_perm, ngram, char_ngram, min_words, seed)


def storage(n: int, params, spill=None) -> tuple:
    """``(ids, sigs)`` for ``n`` records: a list and an array, or with a ``spill.Spill`` an ``IdStore``
    and a ``SigStore`` on disk (``sigs`` is None without minhash mode)."""
    minhash = "minhash" in params.mode
    if spill is None:
        return [], (np.full((n, params.num_perm), EMPTY, dtype=np.uint32) if minhash else None)
    from instructkit.dedupe.spill import IdStore, SigStore

    return IdStore(spill.path("ids.bin")), (SigStore(spill.path("sigs.u32"), n, params.num_perm) if minhash else None)


def scan(inp: ShardSet, against: list[ShardSet], params, *, workers: int = 1, embedder=None, spill=None) -> Scan:
    """Read every record once and compute digests, signatures and embeddings as ``params.mode`` asks.

    Args:
        inp: The set to deduplicate.
        against: Sets whose records remove matching input records (never deduplicated themselves).
        params: A ``DedupeParams``.
        workers: Processes computing signatures (the reading and JSON parsing stay in this one).
        embedder: A ``semantic.Embedder`` when semantic mode is on.
        spill: A ``spill.Spill``: ids and signatures are kept on disk there, not in memory.
    """
    sets = [inp, *against]
    sizes = [len(s) for s in sets]
    n = sum(sizes)
    policy, key = parse_keep(params.keep)
    minhash = "minhash" in params.mode
    ids, sigs = storage(n, params, spill)
    lengths = np.zeros(n, dtype=np.int32)
    values = np.full(n, -math.inf) if policy == "highest" else None
    digests = (
        Digests(case=params.fold_case, whitespace=params.fold_whitespace, punctuation=params.fold_punctuation)
        if "exact" in params.mode
        else None
    )
    emb = np.zeros((n, embedder.dim), dtype=np.float32) if embedder is not None else None

    def batches() -> Iterator[tuple]:
        it = _records(sets)
        offset = 0
        while batch := list(itertools.islice(it, BATCH)):
            if offset + len(batch) > n:
                raise ShardError(
                    "a set holds more records than its manifest says",
                    file=str(inp.path),
                    hint=f"run: instructkit verify {inp.path}",
                )
            texts = []
            for i, rec in enumerate(batch, offset):
                text = text_for(rec, params.fields)
                texts.append(text)
                ids.append(str(rec.get("id")))
                lengths[i] = len(text)
                if values is not None:
                    values[i] = meta_value(rec, key)
                if digests is not None:
                    digests.add(text)
            if emb is not None:
                emb[offset : offset + len(batch)] = embedder(texts)
            yield offset, texts, params.num_perm, params.ngram, params.char_ngram, params.min_words, params.seed
            offset += len(batch)

    with progress_bar("dedupe: signatures", n) as advance:
        if minhash and workers > 1:
            import multiprocessing as mp

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
            with ctx.Pool(workers) as pool:
                for offset, sig in pool.imap(_sig_task, batches(), chunksize=1):
                    sigs[offset : offset + len(sig)] = sig
                    advance(len(sig))
        else:
            for task in batches():
                if minhash:
                    offset, sig = _sig_task(task)
                    sigs[offset : offset + len(sig)] = sig
                advance(len(task[1]))
    return finish_scan(inp, against, n, sizes, ids, lengths, values, digests, sigs, emb)


def finish_scan(inp, against, n: int, sizes: list[int], ids, lengths, values, digests, sigs, emb) -> Scan:
    """The ``Scan`` of pass 1, after checking that every record the manifests count was read."""
    if len(ids) != n:
        raise ShardError(
            f"read {len(ids)} records but the manifests say {n}",
            file=str(inp.path),
            hint=f"run: instructkit verify {inp.path}",
        )
    offsets = list(itertools.accumulate([0, *sizes[:-1]]))
    return Scan(
        n_in=sizes[0],
        ids=ids,
        lengths=lengths,
        values=values,
        digests=digests,
        sigs=sigs,
        emb=emb,
        origin=[str(s.path) for s in against],
        offsets=offsets[1:],
    )


def load_shingles(inp: ShardSet, against: list[ShardSet], params, needed: np.ndarray) -> dict[int, np.ndarray]:
    """Re-read the sets and return the sorted unique shingle hashes of the ``needed`` indices (--verify).

    Only the needed lines are parsed (JSON parsing is most of the cost of a read); their texts are
    shingled in batches.
    """
    want = set(needed.tolist())
    out: dict[int, np.ndarray] = {}
    idx: list[int] = []
    texts: list[str] = []

    def flush() -> None:
        hashes, lengths = batch_shingles(texts, params.ngram, params.char_ngram, params.min_words)
        for i, h in zip(idx, np.split(hashes, np.cumsum(lengths)[:-1]), strict=True):
            out[i] = unique(h)
        idx.clear()
        texts.clear()

    i = 0
    with progress_bar("dedupe: verify", len(want)) as advance:
        for s in [inp, *against]:
            for _, _, line in s.lines():  # sha256-checked as read, like the first pass
                if i in want:
                    idx.append(i)
                    texts.append(text_for(loads(line), params.fields))
                    if len(texts) == BATCH:
                        advance(len(texts))
                        flush()
                i += 1
        advance(len(texts))
        flush()
    return out
