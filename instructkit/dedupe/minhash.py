"""MinHash signatures computed in bulk with numpy, and LSH banding (Broder 1997; Leskovec, Rajaraman
and Ullman, *Mining of Massive Datasets*, ch. 3).

Why our own banding instead of ``datasketch.MinHashLSH``: the index only has to answer "which records
share a band", once, for a batch known in advance. Sorting one uint64 key per record and band finds
every bucket at numpy speed and costs ``8 * bands`` bytes per record for the duration of one band,
where a ``MinHashLSH`` keeps Python dicts of about 3-4 KB per record and inserts at 9-35k/s (see
FIELD-NOTES). Band and row counts are chosen with the same objective as datasketch's
``_optimal_param`` (a weighted sum of the false-positive and false-negative areas under the S-curve).

Shingles come from ``shingle.batch_shingles`` (word n-grams, character n-grams for Chinese/Japanese
and short texts). Permutations are affine maps ``a * h + b mod 2^32`` with odd ``a`` (datasketch
2.0's "affine32" scheme), applied to a whole block of shingles as one permutations x shingles
array, then ``np.minimum.reduceat`` per document: no Python code per shingle.
"""

from __future__ import annotations

import numpy as np

from instructkit.arrays import unique
from instructkit.dedupe.shingle import batch_shingles, fmix64

_M1 = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier that combines a band's rows into one key
EMPTY = np.uint32(0xFFFFFFFF)
# Shingles per numpy block: 4,096 x 128 permutations x 4 bytes = 2 MiB, which stays in cache
# (1.3 ns per cell here, against 2-3 ns for 32k-shingle blocks).
BLOCK_CELLS = 4096 * 128


def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` parameters (uint32, ``a`` odd) of ``num_perm`` affine permutations, from ``seed``."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = rng.integers(0, 1 << 32, num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


def signatures(hashes: np.ndarray, lengths: np.ndarray, perms: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """MinHash signatures (uint32, docs x permutations) of many documents at once.

    Each 64-bit shingle hash (already avalanched) is folded to 32 bits and permuted by
    ``a * h + b mod 2^32`` with odd ``a``, a bijection (datasketch 2.0's default "affine32" scheme);
    uint32 arithmetic vectorises twice as wide as uint64. The work array is permutations x shingles
    so the per-document minimum (``np.minimum.reduceat``) runs along contiguous memory (18x faster
    than along axis 0). A document without shingles gets the all-``EMPTY`` signature.

    Args:
        hashes: Shingle hashes of all documents, document after document.
        lengths: Shingles per document.
        perms: ``permutations(num_perm, seed)``.
    """
    a, b = perms
    num_perm = len(a)
    out = np.full((len(lengths), num_perm), EMPTY, dtype=np.uint32)
    nonempty = np.flatnonzero(lengths)
    if not len(nonempty):
        return out
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    block = max(1, BLOCK_CELLS // num_perm)
    cum = np.cumsum(lengths[nonempty])
    cuts = unique(np.searchsorted(cum, np.arange(block, cum[-1], block), side="right"))
    h32 = (hashes ^ (hashes >> np.uint64(32))).astype(np.uint32)
    with np.errstate(over="ignore"):
        for idx in np.split(nonempty, cuts):
            if not len(idx):
                continue
            lo, hi = offsets[idx[0]], offsets[idx[-1] + 1]
            phv = a[:, None] * h32[None, lo:hi]
            phv += b[:, None]
            out[idx] = np.minimum.reduceat(phv, offsets[idx] - lo, axis=1).T
    return out


def texts_signatures(
    texts: list[str], num_perm: int, ngram: int, char_ngram: int, min_words: int, seed: int
) -> np.ndarray:
    """Signatures of a batch of texts (the unit of work sent to ``--workers`` processes)."""
    hashes, lengths = batch_shingles(texts, ngram, char_ngram, min_words)
    return signatures(hashes, lengths, permutations(num_perm, seed))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The true Jaccard similarity of two shingle-hash arrays (duplicates ignored)."""
    a, b = unique(a), unique(b)
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def estimate(sigs: np.ndarray, pairs: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """Estimated Jaccard (share of equal MinHash values) of each ``(i, j)`` row of ``pairs``."""
    out = np.empty(len(pairs), dtype=np.float32)
    if not isinstance(sigs, np.ndarray):
        chunk = min(chunk, 16_384)  # a spill.SigStore reads the rows from disk: keep the copies small
    for s in range(0, len(pairs), chunk):
        p = pairs[s : s + chunk]
        out[s : s + chunk] = (sigs[p[:, 0]] == sigs[p[:, 1]]).mean(axis=1)
    return out


# --- choosing bands and rows -----------------------------------------------------------------


def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """``(bands, rows)`` minimising ``fp_weight * FP + fn_weight * FN``, as datasketch's ``_optimal_param``.

    FP is the area under the S-curve ``1 - (1 - s^r)^b`` below the threshold, FN the area above it
    of its complement (integrated here with the trapezoid rule on 1,001 points).
    """
    s = np.linspace(0.0, 1.0, 1001)
    below, above = s <= threshold, s >= threshold
    best, opt = float("inf"), (1, 1)
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1)[:, None]
        p = 1.0 - (1.0 - s[None, :] ** r) ** b
        fp = np.trapezoid(p[:, below], s[below], axis=1)
        fn = np.trapezoid(1.0 - p[:, above], s[above], axis=1)
        err = fp * fp_weight + fn * fn_weight
        i = int(np.argmin(err))
        if err[i] < best:
            best, opt = float(err[i]), (b, int(r[i, 0]))
    return opt


def band_keys(cols: np.ndarray) -> np.ndarray:
    """One uint64 key per row of ``cols`` (records x the band's rows of their signatures).

    Only equality matters (records whose band is equal share a bucket). The band's uint32 values are
    read two at a time as uint64 words and combined by a polynomial hash mod 2^64, finished by
    ``fmix64``: a key collision between different bands has probability ~2^-64 per pair, and a false
    candidate pair is dropped by the similarity estimate anyway. One multiply-add per two values and
    one finaliser per band, where mixing every value took a finaliser each; with the column slice read in
    place, ``candidate_pairs`` for 16 bands of 100,000 records went from 432 to 178 ms here.
    """
    cols = np.asarray(cols, dtype=np.uint32)
    if cols.shape[1] % 2:
        cols = np.concatenate((cols, np.zeros((len(cols), 1), dtype=np.uint32)), axis=1)
    if cols.strides[1] != 4 or cols.ctypes.data % 8 or cols.strides[0] % 8:
        cols = np.ascontiguousarray(cols)
    words = cols.view(np.uint64)  # a column slice of the signatures is read in place, not copied
    key = words[:, 0].copy()
    with np.errstate(over="ignore"):
        for c in range(1, words.shape[1]):
            key *= _M1
            key += words[:, c]
    return fmix64(key)


def bucket_pairs(key: np.ndarray, idx: np.ndarray, full_bucket: int = 32) -> list[np.ndarray]:
    """The pairs of one band: records (``idx``) whose ``key`` is equal (see ``candidate_pairs``).

    Only the sort order (8 bytes per record) and one comparison (1 byte) are held besides the keys:
    runs of equal keys are found from the positions where a key equals the next one.
    """
    # Unstable (2x faster than stable): the order inside a bucket of up to full_bucket records does not
    # matter (all its pairs are taken, then normalised), and a larger bucket's members are sorted below.
    order = np.argsort(key)
    k = key[order]
    e = np.flatnonzero(k[1:] == k[:-1])
    del k
    if not len(e):
        return []
    brk = np.diff(e) > 1
    run_starts = e[np.concatenate(([True], brk))]
    sizes = e[np.concatenate((brk, [True]))] + 2 - run_starts
    found = []
    for size in unique(sizes).tolist():
        starts = run_starts[sizes == size]
        if size <= full_bucket:
            grid = idx[order[starts[:, None] + np.arange(size)[None, :]]]
            iu, ju = np.triu_indices(size, 1)
            found.append(np.stack((grid[:, iu].ravel(), grid[:, ju].ravel()), axis=1))
        else:
            for st in starts.tolist():
                m = np.sort(idx[order[st : st + size]])
                found.append(np.stack((np.full(size - 1, m[0]), m[1:]), axis=1))
                found.append(np.stack((m[1:-1], m[2:]), axis=1))
    return found


def _spilled_keys(sigs, bands: int, rows: int, idx: np.ndarray) -> list:
    """Every band's keys of the ``idx`` records, from one sequential read of a ``SigStore``.

    Written to one file per band (8 bytes per record each), so a band's sort reads only its keys.
    """
    paths = [sigs.path.with_name(f"{sigs.path.stem}-band{b:03d}.u64") for b in range(bands)]
    fhs = [open(p, "wb") for p in paths]  # noqa: SIM115 -- closed below
    try:
        for start, block in sigs.chunks():
            lo, hi = np.searchsorted(idx, [start, start + len(block)])
            sub = block if hi - lo == len(block) else block[idx[lo:hi] - start]
            for b, fh in enumerate(fhs):
                fh.write(band_keys(sub[:, b * rows : (b + 1) * rows]).tobytes())
    finally:
        for fh in fhs:
            fh.close()
    return paths


def band_task(item: tuple) -> np.ndarray:
    """The candidate pairs of one band (a task of ``candidate_pairs``'s ``map_fn``; n x 2 int64).

    ``item`` is ``(data, idx, full_bucket)``: ``data`` the band's signature columns (records x rows)
    or its keys (1-D, read back from a spill file); ``idx`` the record numbers of its rows (None: 0..n-1).
    """
    data, idx, full_bucket = item
    key = band_keys(data) if data.ndim == 2 else data
    found = bucket_pairs(key, np.arange(len(key)) if idx is None else idx, full_bucket)
    return np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)


def candidate_pairs(
    sigs, bands: int, rows: int, active: np.ndarray | None = None, full_bucket: int = 32, spill=None, map_fn=None
):
    """Pairs ``(i, j)``, ``i < j``, of records that share at least one band (unique, int64, n x 2).

    Args:
        sigs: Signatures, records x permutations (``bands * rows`` columns are used): an array, or a
            ``spill.SigStore`` on disk.
        bands: Number of bands.
        rows: Permutations per band.
        active: Boolean mask of the records that take part (others are never paired).
        full_bucket: Buckets up to this size yield all their pairs; larger ones (templated text)
            yield each member paired with the bucket's first and its sorted neighbour, which keeps
            the work linear while union-find still joins the whole bucket.
        spill: A ``spill.Spill``: the pairs go to partition files on disk and the result is an
            iterator of sorted, unique n x 2 chunks (in order; together the same pairs as without).
        map_fn: ``map_fn(band_task, items)`` -> results in order, to group each band by its keys
            elsewhere (``--executor ray``: one Ray task per band, sent only that band's columns or keys).
            Default: in this process, one band at a time. The pairs are the same either way.
    """
    n = len(sigs)
    idx = np.arange(n) if active is None else np.flatnonzero(active)
    on_disk = not isinstance(sigs, np.ndarray)
    every = len(idx) == n  # usually: then a band's columns are read in place instead of gathered
    key_files = _spilled_keys(sigs, bands, rows, idx) if on_disk else None

    def items():
        for band in range(bands):
            if on_disk:
                data = np.fromfile(key_files[band], dtype=np.uint64)
                key_files[band].unlink()
            else:
                cols = slice(band * rows, (band + 1) * rows)
                data = sigs[:, cols] if every else sigs[idx, cols]
            yield data, None if every else idx, full_bucket
            del data

    if spill is not None:
        from instructkit.dedupe.spill import PairSink

        sink = PairSink(spill, n)
    found: list[np.ndarray] = []
    for pairs in (map_fn or map)(band_task, items()):
        if spill is not None:
            sink.add(pairs)
        elif len(pairs):
            found.append(pairs)
    if spill is not None:
        return sink.sorted_chunks()
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(found).astype(np.int64)
    pairs.sort(axis=1)
    codes = unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack((codes // n, codes % n), axis=1)
