"""Out-of-core storage for dedupe's pass 1: signatures, record ids and candidate pairs on disk.

Used when the run would hold more than ``--memory-budget`` in memory (or always, with
``--memory-budget 0``). Files live in a temporary directory (``--spill-dir``, default: the output's
staging directory) that is removed at the end of the run. Results are identical to the in-memory path:
the same numbers are written and read back.

Reads go through ``pread`` (``np.fromfile`` with an offset), not a long-lived memory map, so the
process only holds what it is working on: pages read are the kernel's page cache (reclaimable), not
the process's memory (a memory map would count every page it touched, and the kernel maps pages
around each one touched). Random rows (the two signatures of a candidate pair) are one ``pread`` each.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from instructkit.arrays import unique, unique_inverse
from instructkit.errors import ConfigError

CHUNK_BYTES = 4 << 20  # sequential reads: 4 MiB at a time (8,192 signatures at 128 permutations)
RECORDS_PER_PART = 100_000  # candidate-pair partitions: one per this many records (at most 256)
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str | int, name: str = "memory_budget") -> int:
    """``"4GB"``, ``"512M"``, ``"1.5GiB"``, ``0`` -> bytes (binary units: 1 GB = 2^30 bytes)."""
    if isinstance(text, int):
        value = text
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", str(text), re.IGNORECASE)
        if not m:
            raise ConfigError(f"{name} {text!r} is not a size", hint="e.g. 4GB, 512MB, 0 (always spill to disk)")
        value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {text}")
    return value


class Spill:
    """A temporary directory for spilled arrays (``close`` removes it; also a context manager)."""

    def __init__(self, parent: str | os.PathLike | None = None):
        try:
            if parent is not None:
                Path(parent).mkdir(parents=True, exist_ok=True)
            self.dir = Path(tempfile.mkdtemp(prefix=".dedupe-spill-", dir=parent))
        except OSError as exc:
            raise ConfigError(
                f"cannot create the spill directory: {exc.strerror}",
                file=str(parent),
                hint="give --spill-dir a writable directory, or raise --memory-budget to stay in memory",
            ) from None

    def path(self, name: str) -> Path:
        return self.dir / name

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def maybe_spill(estimate: int, budget: str | int, parent: str | os.PathLike):
    """A ``Spill`` under ``parent`` when ``estimate`` bytes exceed ``budget`` (or it is 0), else a no-op
    context (``with maybe_spill(...) as spill``: ``spill`` is None then)."""
    from contextlib import nullcontext

    limit = parse_size(budget)
    return nullcontext(None) if 0 < limit and estimate <= limit else Spill(parent)


class SigStore:
    """A ``(n, num_perm)`` uint32 matrix in a file: written by row slices, read by chunks or rows.

    Supports what dedupe does with the in-memory array: ``store[a:b] = rows``, ``store[int_array]``
    (rows, in that order), ``len``, ``shape`` and ``chunks`` (sequential row blocks).
    """

    dtype = np.dtype(np.uint32)

    def __init__(self, path: Path, n: int, num_perm: int):
        self.path, self.shape = Path(path), (n, num_perm)
        self.row_bytes = num_perm * self.dtype.itemsize
        self._fh = open(self.path, "w+b")  # noqa: SIM115 -- closed by close()
        self._fh.truncate(n * self.row_bytes)

    def __len__(self) -> int:
        return self.shape[0]

    def __setitem__(self, key: slice, rows: np.ndarray) -> None:
        start, stop, step = key.indices(self.shape[0])
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if step != 1 or rows.shape != (stop - start, self.shape[1]):
            raise ValueError("SigStore takes contiguous row slices of full rows")
        os.pwrite(self._fh.fileno(), rows.data, start * self.row_bytes)

    def _read(self, start: int, stop: int) -> np.ndarray:
        count = (stop - start) * self.shape[1]
        return np.fromfile(self.path, dtype=self.dtype, count=count, offset=start * self.row_bytes).reshape(
            stop - start, self.shape[1]
        )

    def chunks(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, block)`` over all rows in order, ``rows`` (default: ``CHUNK_BYTES`` worth) at a time."""
        self._fh.flush()
        rows = rows or max(1, CHUNK_BYTES // self.row_bytes)
        for start in range(0, self.shape[0], rows):
            yield start, self._read(start, min(self.shape[0], start + rows))

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            return self._read(start, stop)[::step] if stop > start else np.empty((0, self.shape[1]), self.dtype)
        idx = np.asarray(key, dtype=np.int64)
        if idx.ndim == 0:
            return self._read(int(idx), int(idx) + 1)[0]
        self._fh.flush()
        if not len(idx):
            return np.empty((0, self.shape[1]), dtype=self.dtype)
        uniq, inverse = unique_inverse(idx)
        fd, size = self._fh.fileno(), self.row_bytes
        rows = np.frombuffer(b"".join([os.pread(fd, size, r * size) for r in uniq.tolist()]), dtype=self.dtype)
        return rows.reshape(len(uniq), self.shape[1])[inverse.ravel()]

    def column(self, c: int) -> np.ndarray:
        """One permutation's values for every record (read in chunks)."""
        out = np.empty(self.shape[0], dtype=self.dtype)
        for start, block in self.chunks():
            out[start : start + len(block)] = block[:, c]
        return out

    def close(self) -> None:
        self._fh.close()


class IdStore:
    """Record ids in a file (UTF-8, back to back) with their end offsets in memory (8 bytes per record).

    Behaves like the ``list[str]`` of the in-memory path for ``append``, ``extend``, ``len`` and
    ``store[i]`` (one ``pread``), instead of ~80 bytes per record of Python strings.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh = open(self.path, "w+b")  # noqa: SIM115 -- closed by close()
        self._ends = array("q")
        self._pos = 0
        self._buf: list[bytes] = []

    def append(self, item: str) -> None:
        b = item.encode("utf-8", "surrogatepass")
        self._pos += len(b)
        self._ends.append(self._pos)
        self._buf.append(b)
        if len(self._buf) >= 4096:
            self._flush()

    def extend(self, items) -> None:
        for item in items:
            self.append(item)

    def _flush(self) -> None:
        if self._buf:
            self._fh.write(b"".join(self._buf))
            self._buf.clear()
        self._fh.flush()

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int) -> str:
        i = int(i)
        if i < 0:
            i += len(self._ends)
        if not 0 <= i < len(self._ends):
            raise IndexError(i)
        if self._buf:
            self._flush()
        start = self._ends[i - 1] if i else 0
        return os.pread(self._fh.fileno(), self._ends[i] - start, start).decode("utf-8", "surrogatepass")

    def close(self) -> None:
        self._fh.close()


class PairSink:
    """Candidate pairs ``(i, j)``, ``i < j``, partitioned by ``i`` into files on disk (an external sort).

    ``add`` appends pairs to the partition of their first index; ``sorted_chunks`` reads the
    partitions in order and yields each one's pairs sorted and unique: together, exactly
    ``np.unique`` of everything added, one partition in memory at a time.
    """

    def __init__(self, spill: Spill, n: int, parts: int | None = None, name: str = "pairs"):
        self.n = n
        self.parts = parts or int(min(256, max(1, n // RECORDS_PER_PART)))
        self.paths = [spill.path(f"{name}-{k:03d}.bin") for k in range(self.parts)]
        self._fhs = [open(p, "wb") for p in self.paths]  # noqa: SIM115 -- closed in sorted_chunks
        self.added = 0

    def add(self, pairs: np.ndarray) -> None:
        if not len(pairs):
            return
        pairs = np.sort(np.asarray(pairs, dtype=np.int64), axis=1)
        part = pairs[:, 0] * self.parts // max(1, self.n)
        order = np.argsort(part, kind="stable")
        pairs, part = pairs[order], part[order]
        bounds = np.searchsorted(part, np.arange(self.parts + 1))
        for k in np.flatnonzero(np.diff(bounds)).tolist():
            self._fhs[k].write(np.ascontiguousarray(pairs[bounds[k] : bounds[k + 1]]).tobytes())
        self.added += len(pairs)

    def sorted_chunks(self) -> Iterator[np.ndarray]:
        for fh in self._fhs:
            fh.close()
        for path in self.paths:
            pairs = np.fromfile(path, dtype=np.int64).reshape(-1, 2)
            path.unlink()
            if len(pairs):
                codes = unique(pairs[:, 0] * self.n + pairs[:, 1])
                yield np.stack((codes // self.n, codes % self.n), axis=1)
