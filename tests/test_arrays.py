"""instructkit.arrays gives np.unique's results (it exists because np.unique is slow in numpy 2.4)."""

from __future__ import annotations

import numpy as np
import pytest

from instructkit.arrays import unique, unique_counts, unique_inverse


@pytest.mark.parametrize("n", [0, 1, 7, 5000])
@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.int32])
def test_same_as_numpy(n, dtype):
    rng = np.random.default_rng(n)
    a = rng.integers(0, max(2, n // 3), n).astype(dtype)
    if n > 5:
        a = a.reshape(-1, 1) if n % 2 else a  # 2-D input is flattened, like np.unique
    want = np.unique(a)
    assert np.array_equal(unique(a), want) and unique(a).dtype == want.dtype
    values, counts = unique_counts(a)
    w_values, w_counts = np.unique(a, return_counts=True)
    assert np.array_equal(values, w_values) and np.array_equal(counts, w_counts)
    values, inverse = unique_inverse(a)
    assert np.array_equal(values, want) and np.array_equal(values[inverse], np.asarray(a).ravel())
