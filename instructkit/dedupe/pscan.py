"""Pass 1 in parallel: JSON parsing, texts, digests and signatures computed by tasks over blocks of lines.

``scan.scan`` parses every record in the main process and sends only texts to ``--workers``, so
parsing (about half of pass 1) stays serial. Here the main process only reads blocks of raw bytes cut
at line ends (``executors.blocks``: each part's sha256 checked, records counted in C); a task per block
splits and parses its lines and returns per-record ids, lengths, ``highest:`` values, exact digests and
MinHash signatures, which the driver places at the block's offset. The same task runs in local
processes (``--workers``) or as Ray tasks (``--executor ray``); the resulting ``Scan`` equals
``scan.scan``'s field for field.
"""

from __future__ import annotations

import math

import numpy as np

from instructkit.dedupe.exact import Digests
from instructkit.dedupe.keep import meta_value, parse_keep
from instructkit.dedupe.minhash import texts_signatures
from instructkit.dedupe.normalize import text_for
from instructkit.dedupe.scan import Scan, finish_scan, storage
from instructkit.errors import ShardError
from instructkit.shards import ShardSet
from instructkit.stage import progress_bar


def scan_chunk(task: tuple) -> tuple:
    """One chunk's ``(offset, ids, lengths, values, digest_hi, digest_lo, sigs)``; with a spool directory
    (local workers) the signatures come back as a ``spool.Spooled`` file."""
    from instructkit.executors.blocks import parse_block
    from instructkit.executors.spool import put

    params, offset, part, number, _count, block, spool = task
    records = parse_block(part, number, block)
    policy, key = parse_keep(params.keep)
    texts = [text_for(rec, params.fields) for rec in records]
    ids = [str(rec.get("id")) for rec in records]
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int32, count=len(texts))
    values = np.array([meta_value(r, key) for r in records], dtype=np.float64) if policy == "highest" else None
    hi = lo = None
    if "exact" in params.mode:
        d = Digests(case=params.fold_case, whitespace=params.fold_whitespace, punctuation=params.fold_punctuation)
        for t in texts:
            d.add(t)
        hi, lo = (a.copy() for a in d.arrays())
    sigs = None
    if "minhash" in params.mode:
        sigs = texts_signatures(texts, params.num_perm, params.ngram, params.char_ngram, params.min_words, params.seed)
        if spool is not None:
            sigs = put(spool, sigs.tobytes())
    return offset, ids, lengths, values, hi, lo, sigs


def scan_parallel(
    inp: ShardSet,
    against: list[ShardSet],
    params,
    *,
    executor: str = "local",
    workers: int = 1,
    address=None,
    spill=None,
) -> Scan:
    """``scan.scan`` without embeddings, its parsing spread over ``workers`` processes or Ray tasks.

    With a ``spill.Spill``, ids and signatures are placed in files there instead of memory.
    """
    from instructkit.executors import ordered_map
    from instructkit.executors.blocks import byte_chunks, ref_blocks
    from instructkit.executors.spool import spool_dir, take

    sets = [inp, *against]
    sizes = [len(s) for s in sets]
    n = sum(sizes)
    policy, _ = parse_keep(params.keep)
    ids, sigs = storage(n, params, spill)
    lengths = np.zeros(n, dtype=np.int32)
    values = np.full(n, -math.inf) if policy == "highest" else None
    digests = (
        Digests(case=params.fold_case, whitespace=params.fold_whitespace, punctuation=params.fold_punctuation)
        if "exact" in params.mode
        else None
    )

    # Local workers read their blocks from the parts themselves (BlockRef) and return signatures in files:
    # no bytes through the pool's pipes, and the driver does not even count records (the tasks do).
    pool = executor == "local" and workers > 1
    blocks: list[tuple] = []  # the input's (offset, part, number, count, block), kept for pass 2 (dedupe.write)
    sent: list[tuple] = []  # (part, number, block) of the tasks sent, in order, while pool counts are unknown

    def tasks(spool):
        if pool:
            for part, number, block in ref_blocks(sets):
                sent.append((part, number, block))
                yield params, None, part, number, None, block, spool
            return
        for offset, part, number, count, block in byte_chunks(sets):
            check(offset + count)
            yield params, offset, part, number, count, block, spool

    def check(end: int) -> None:
        if end > n:
            raise ShardError(
                "a set holds more records than its manifest says",
                file=str(inp.path),
                hint=f"run: instructkit verify {inp.path}",
            )

    offset = 0
    with spool_dir(pool) as spool, progress_bar("dedupe: signatures", n) as advance:
        results = ordered_map(scan_chunk, tasks(spool), executor=executor, workers=workers, address=address)
        for k, (_, c_ids, c_len, c_val, hi, lo, c_sig) in enumerate(results):
            end = offset + len(c_ids)
            check(end)
            if pool and offset < sizes[0]:
                part, number, block = sent[k]
                blocks.append((offset, part, number, end - offset, block))
            ids.extend(c_ids)
            lengths[offset:end] = c_len
            if values is not None:
                values[offset:end] = c_val
            if digests is not None:
                digests.hi.frombytes(hi.tobytes())
                digests.lo.frombytes(lo.tobytes())
            if sigs is not None:
                if spool is not None:
                    c_sig = np.frombuffer(take(c_sig)[0], dtype=np.uint32).reshape(end - offset, params.num_perm)
                sigs[offset:end] = c_sig
            advance(len(c_ids))
            offset = end
    sc = finish_scan(inp, against, n, sizes, ids, lengths, values, digests, sigs, None)
    sc.blocks = blocks if pool else None
    return sc
