"""Pass 2: re-read the input and write kept and rejected records, in tasks over blocks of lines.

Pass 1 decided every record's fate (``cluster.Plan``); what is left is per record and independent:
parse the line, add ``meta.dedupe.clusters`` to a cluster's survivor or ``meta.reject`` to a removed
record, serialise it (and its ``content_line``, which the fingerprint hashes). Tasks do that for a block
of lines each (``executors.blocks``), in this process, in ``--workers`` processes or as Ray tasks, and
return the serialised bytes; the driver only reads the blocks (sha256-checked) and appends the results
in input order (``ShardWriter.write_lines``), cutting parts every ``shard_size`` records. The output is
the same bytes, parts and fingerprint whatever the executor and the number of workers.

When pass 1 ran on local workers, pass 2 reuses its block list (``Scan.blocks``): the driver neither
reads nor hashes the set a second time; each task reads its block by place and checks it against the
CRC-32 of the bytes pass 1 hashed (so a part changed between the passes still fails the stage).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from instructkit.dedupe.cluster import REASONS


def _decisions(sc, pl, clusters_of: dict[int, list[int]], keepers: np.ndarray, lo: int, hi: int) -> tuple:
    """Input records ``lo .. hi-1``: their reason codes and, by position in the block, what the task adds
    (cluster ids of a survivor; reason and details of a removed record), as the serial writer did."""
    reason = pl.reason[lo:hi]
    extra: dict[int, object] = {}
    for i in np.flatnonzero(reason).tolist():
        code, t = int(reason[i]), int(pl.target[lo + i])
        # Identical records share an id (a hash of their content), so the kept record's position in
        # the input (0-based) is recorded too.
        details = {"duplicate_of": sc.ids[t], "similarity": round(float(pl.sim[lo + i]), 4)}
        if code != 1:
            details["duplicate_of_index"] = t
        if pl.matched[lo + i] >= 0:
            details["matched"] = sc.ids[int(pl.matched[lo + i])]
        if code == 1:
            details["against"] = sc.against_path(t)
        extra[i] = (REASONS[code], details)
    for i in keepers[np.searchsorted(keepers, lo) : np.searchsorted(keepers, hi)].tolist():
        if not reason[i - lo]:
            extra[i - lo] = clusters_of[i]
    return np.ascontiguousarray(reason, dtype=np.int8), extra


def write_block(task: tuple) -> tuple:
    """One block's ``(records, kept, rejected, data)``: kept and rejected are ``(ends, content_ends, counter)``
    (the counter counts kinds, or reasons), ``data`` their lines and content lines (``spool.put``)."""
    from instructkit.errors import ShardError
    from instructkit.executors.blocks import block_bytes, block_lines, block_loads, line_of
    from instructkit.executors.spool import put
    from instructkit.records import kind_of
    from instructkit.shards import dumps, rejected_record
    from instructkit.stage import add_meta

    stage, part, number, count, block, reason, extra, spool = task
    data = block_bytes(block)
    lines = block_lines(0, data)
    if len(lines) != count:  # pass 1 counted this block's records: the part changed since
        raise ShardError("the part changed while it was read", file=part, hint="restore the set and re-run")
    loads = block_loads(data)
    out = {0: ([], [], Counter()), 1: ([], [], Counter())}
    for k, (at, line) in enumerate(lines):
        try:
            rec = loads(line)
        except ValueError as exc:
            raise ShardError(f"corrupt record: {exc}", file=part, line=line_of(number, block, at)) from None
        if reason[k] == 0:
            lines_out, contents, kinds = out[0]
            if k in extra:
                rec = add_meta(rec, dedupe={"clusters": extra[k]})
            kinds[kind_of(rec)] += 1
        else:
            lines_out, contents, kinds = out[1]
            why, details = extra[k]
            rec = rejected_record(rec, stage, why, details)
            kinds[why] += 1
        data = dumps(rec)
        lines_out.append(data)
        meta = rec.get("meta")
        if isinstance(meta, dict) and "source" in meta:
            # parts.content_line without its copies: this record is the task's own and already serialised.
            del meta["source"]
            data = dumps(rec)
        contents.append(data)
    (kl, ke, kc, kce, kinds), (rl, re, rc, rce, reasons) = (_packed(*out[side]) for side in (0, 1))
    return count, (ke, kce, kinds), (re, rce, reasons), put(spool, kl, kc, rl, rc)


def _packed(lines: list[bytes], contents: list[bytes], counter: Counter) -> tuple:
    ends = np.cumsum(np.fromiter(map(len, lines), dtype=np.int64, count=len(lines)))
    c_ends = np.cumsum(np.fromiter(map(len, contents), dtype=np.int64, count=len(contents)))
    return b"".join(lines), ends, b"".join(contents), c_ends, counter


def write_records(src, writer, sc, pl, *, executor: str = "local", workers: int = 1, address=None) -> None:
    """Pass 2: every record of ``src`` into ``writer``, kept or rejected as ``pl`` decided."""
    from instructkit.errors import ShardError
    from instructkit.executors import ordered_map
    from instructkit.executors.blocks import byte_chunks
    from instructkit.executors.spool import spool_dir, take
    from instructkit.stage import progress_bar

    clusters_of: dict[int, list[int]] = {}
    for cid, c in enumerate(pl.clusters):
        clusters_of.setdefault(c["kept"], []).append(cid)
    keepers = np.array(sorted(clusters_of), dtype=np.int64)
    n_in = pl.reason.shape[0]

    pool = executor == "local" and workers > 1  # tasks on this machine: blocks by place, results by file

    reuse = pool and getattr(sc, "blocks", None) is not None

    def tasks(spool):
        for offset, part, number, count, block in sc.blocks if reuse else byte_chunks([src], refs=pool):
            if offset + count > n_in:
                raise ShardError(
                    "the set holds more records than in pass 1: it changed while it was read",
                    file=str(src.path),
                    hint=f"run: instructkit verify {src.path}",
                )
            reason, extra = _decisions(sc, pl, clusters_of, keepers, offset, offset + count)
            yield writer.stage, part, number, count, block, reason, extra, spool

    done = 0
    with spool_dir(pool) as spool, progress_bar("dedupe: writing", n_in) as advance:
        results = ordered_map(write_block, tasks(spool), executor=executor, workers=workers, address=address)
        for count, (ke, kce, kinds), (re, rce, reasons), data in results:
            kl, kc, rl, rc = take(data)
            writer.count_in(count)
            writer.write_lines(kl, ke, kc, kce, kinds)
            writer.reject_lines(rl, re, rc, rce, reasons)
            done += count
            advance(count)
    if done != n_in:
        raise ShardError(
            f"read {done} records but pass 1 read {n_in}: the set changed while it was read",
            file=str(src.path),
            hint=f"run: instructkit verify {src.path}",
        )
