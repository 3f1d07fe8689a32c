"""LSH banding against a brute-force reference: the candidate pairs are exactly the pairs of records
that share at least one band (all of them up to ``full_bucket``; a larger bucket is chained)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from instructkit.dedupe.minhash import band_keys, candidate_pairs
from instructkit.dedupe.unionfind import UnionFind


def _sigs(n: int = 400, perms: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sigs = rng.integers(0, 2**32, (n, perms), dtype=np.uint32)
    sigs[1::9] = sigs[0::9][: len(sigs[1::9])]  # whole copies
    sigs[2::11, 4:8] = sigs[3::11, 4:8][: len(sigs[2::11])]  # one band shared
    sigs[::13, :4] = 5  # one bucket of 31 records in band 0
    sigs[::5, 8:12] = 9  # and one of 80 in band 2: chained, not all pairs
    return sigs


def _reference(sigs: np.ndarray, bands: int, rows: int, active: np.ndarray) -> tuple[set, list[set]]:
    buckets: dict[tuple, list[int]] = {}
    for i in np.flatnonzero(active).tolist():
        for b in range(bands):
            buckets.setdefault((b, sigs[i, b * rows : (b + 1) * rows].tobytes()), []).append(i)
    pairs, big = set(), []
    for members in buckets.values():
        if len(members) <= 32:
            pairs.update(itertools.combinations(members, 2))
        else:
            big.append(set(members))
    return pairs, big


@pytest.mark.parametrize("some", [False, True])
def test_candidate_pairs_are_the_records_that_share_a_band(some):
    sigs = _sigs()
    active = np.ones(len(sigs), dtype=bool)
    if some:
        active[7::4] = False
    got = candidate_pairs(sigs, 6, 4, None if not some else active)
    want, big = _reference(sigs, 6, 4, active)
    got_set = {tuple(p) for p in got.tolist()}
    assert want <= got_set and all(i < j for i, j in got_set)
    extra = got_set - want
    assert all(any({i, j} <= b for b in big) for i, j in extra)  # only chain edges of the big bucket
    for b in big:  # the big bucket is still one connected component, with about 2 edges a member
        members = sorted(b)
        uf = UnionFind(len(sigs))
        inside = np.array([p for p in got_set if p[0] in b and p[1] in b])
        uf.union_pairs(inside)
        assert len({uf.find(m) for m in members}) == 1 and len(inside) < 3 * len(members)
    assert np.array_equal(got, candidate_pairs(sigs.copy(order="F"), 6, 4, None if not some else active))


def test_band_keys_are_equal_exactly_when_the_bands_are():
    sigs = _sigs()
    for rows in (3, 4):  # odd rows: padded; even: read in place as uint64 words
        cols = sigs[:, rows : 2 * rows]
        keys = band_keys(cols)
        same = keys[:, None] == keys[None, :]
        assert np.array_equal(same, (cols[:, None, :] == cols[None, :, :]).all(axis=2))
        assert np.array_equal(keys, band_keys(np.ascontiguousarray(cols)))


def test_map_fn_gets_one_band_at_a_time():
    """``map_fn`` (the Ray executor's hook) is handed each band's columns alone, in band order, and the
    pairs it returns make the same result as the in-process loop."""
    sigs = _sigs()
    active = np.ones(len(sigs), dtype=bool)
    active[3::6] = False
    seen = []

    def recording_map(fn, items):
        for item in items:
            data, idx, _ = item
            seen.append((data.shape, None if idx is None else len(idx)))
            assert np.array_equal(band_keys(data), band_keys(sigs[active][:, len(seen) * 4 - 4 : len(seen) * 4]))
            yield fn(item)

    got = candidate_pairs(sigs, 6, 4, active, map_fn=recording_map)
    assert seen == [((int(active.sum()), 4), int(active.sum()))] * 6
    assert np.array_equal(got, candidate_pairs(sigs, 6, 4, active))
