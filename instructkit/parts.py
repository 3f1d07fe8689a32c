"""Part files of a shard set: opening them safely, writing them with checksums, and failed writes.

Split out of ``shards.py`` (which re-exports every name): ``open_part`` refuses symlinks and
non-regular files; ``PartWriter`` writes numbered, checksummed parts; ``write_error`` and
``check_writable`` turn disk-full, read-only and permission failures into one clear line.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from instructkit.errors import ShardError
from instructkit.jsonl import HashingReader, _HashingWriter, dumps

COMPRESSIONS = {None: "", "none": "", "gz": ".gz", "zst": ".zst"}


def _mismatch(part: Path, spec: dict, raw: HashingReader, hint: str) -> ShardError:
    return ShardError(
        f"sha256 mismatch (manifest {spec['sha256'][:12]}, file {raw.sha.hexdigest()[:12]}): the part changed "
        "after it was written",
        file=str(part),
        hint=f"{hint}; restore the set or re-run the stage that wrote it",
    )


def open_part(part: Path):
    """Open a part for reading; it must be a regular file in the set's own directory.

    ``O_NOFOLLOW`` refuses a symlink at open time (no check-then-open race); ``fstat`` refuses a FIFO
    or device, which would hang or never end.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (cleared below for a regular file).
        fd = os.open(part, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ShardError(
            "part file is missing", file=str(part), hint=f"run: instructkit verify {part.parent}"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ShardError(
                f"part file is a symlink (to {os.readlink(part)!r})",
                file=str(part),
                hint="parts must be regular files inside the set; copy the data in, or re-run the stage",
            ) from None
        raise ShardError(f"cannot read part: {exc.strerror}", file=str(part)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ShardError("part file is not a regular file", file=str(part), hint="parts must be regular files")
    os.set_blocking(fd, True)
    return open(fd, "rb", buffering=0)


class _PartWriter:
    """Writes records into numbered parts of one directory and describes them."""

    def __init__(self, directory: Path, shard_size: int, compression: str | None, out: Path):
        if compression not in COMPRESSIONS:
            raise ShardError(f"unknown compression {compression!r}", hint="use none, gz or zst")
        self.dir, self.shard_size, self.compression = directory, shard_size, compression
        self.out = out  # the user's -o, named in errors (not the hidden temporary directory)
        self.parts: list[dict] = []
        self.kinds: Counter = Counter()
        self._file = self._hasher = self._stream = None
        self._content = hashlib.sha256()  # the part's records without meta.source (see fingerprint_of)
        self._n = 0

    def _open(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"part-{len(self.parts):05d}.jsonl{COMPRESSIONS[self.compression]}"
        self._file = open(self.dir / name, "wb")
        self._hasher = _HashingWriter(self._file)
        if self.compression == "gz":
            # mtime=0 keeps the bytes (and so the fingerprint) reproducible.
            self._stream = gzip.GzipFile(filename="", mode="wb", fileobj=self._hasher, mtime=0)
        elif self.compression == "zst":
            import zstandard

            self._stream = zstandard.ZstdCompressor(level=3).stream_writer(self._hasher, closefd=False)
        else:
            self._stream = io.BufferedWriter(self._hasher, buffer_size=1 << 20)
        self.parts.append({"file": name, "records": 0})
        self._content = hashlib.sha256()
        self._n = 0

    def write(self, record: dict, kind: str | None = None) -> None:
        try:
            if self._file is None or self._n >= self.shard_size:
                self._close()
                self._open()
            line = dumps(record)
            self._stream.write(line)
        except OSError as exc:
            raise write_error(exc, self.out) from None
        self._content.update(content_line(record, line))
        self._n += 1
        self.parts[-1]["records"] += 1
        if kind:
            self.kinds[kind] += 1

    def write_lines(self, lines: bytes, ends, contents: bytes, content_ends, kinds: Counter | None = None) -> None:
        """Records already serialised (by a worker), as ``write`` would have written them one by one.

        Record k is ``lines[ends[k-1]:ends[k]]`` (``dumps`` of it) and ``contents[content_ends[k-1]:
        content_ends[k]]`` (its ``content_line``); ``kinds`` counts their kinds. Parts are cut every
        ``shard_size`` records, as by ``write``: the same bytes, sha256s and fingerprint.
        """
        lines, contents = memoryview(lines), memoryview(contents)
        done, n = 0, len(ends)
        try:
            while done < n:
                if self._file is None or self._n >= self.shard_size:
                    self._close()
                    self._open()
                take = min(n - done, self.shard_size - self._n)
                a, b = (ends[done - 1] if done else 0), ends[done + take - 1]
                self._stream.write(lines[a:b])
                a, b = (content_ends[done - 1] if done else 0), content_ends[done + take - 1]
                self._content.update(contents[a:b])
                self._n += take
                self.parts[-1]["records"] += take
                done += take
        except OSError as exc:
            raise write_error(exc, self.out) from None
        if kinds:
            self.kinds.update(kinds)

    def _close(self) -> None:
        if self._file is None:
            return
        try:
            self._stream.flush()
            self._stream.close()
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:  # closed even when the disk is full, so abort() can remove the directory
            self._file.close()
        self.parts[-1]["bytes"] = self._hasher.bytes
        self.parts[-1]["sha256"] = self._hasher.sha.hexdigest()
        self.parts[-1]["content_sha256"] = self._content.hexdigest()
        self._file = None

    def finish(self) -> list[dict]:
        try:
            self._close()
        except OSError as exc:
            raise write_error(exc, self.out) from None
        return self.parts

    @property
    def records(self) -> int:
        return sum(p["records"] for p in self.parts)


# errno -> (what happened, what to do); anything else is reported with its own strerror.
_WRITE_ERRORS = {
    errno.ENOSPC: ("disk full", "free space on that disk, or write elsewhere with -o"),
    errno.EDQUOT: ("disk quota exceeded", "free space in your quota, or write elsewhere with -o"),
    errno.EROFS: ("read-only file system", "write to a writable directory with -o"),
    errno.EACCES: ("permission denied", "write to a directory you can write to with -o, or fix its permissions"),
    errno.EPERM: ("operation not permitted", "write to a directory you can write to with -o"),
}


def write_error(exc: OSError, where: str | os.PathLike) -> ShardError:
    """One line for a failed write (disk full, read-only, permissions): what happened, where, what to do."""
    what, hint = _WRITE_ERRORS.get(exc.errno, (exc.strerror or str(exc), "check the output directory"))
    return ShardError(f"cannot write the output: {what}", file=str(where), hint=f"{hint}; nothing was committed")


def check_writable(out: str | os.PathLike, *, probe_in: str | os.PathLike | None = None) -> Path:
    """Fail now, not after hours of work, if ``out`` cannot be written: return the existing directory
    probed, the nearest existing one at or above ``probe_in`` (default: ``out``).

    The probe creates and removes a hidden directory: ``os.access`` says yes to root on a read-only
    bind mount or to ACL-denied paths, a real create does not lie. Stages call it before heavy work
    (loading a model); ShardWriter calls it in its constructor.

    Raises:
        ShardError: ``out`` or an ancestor is a file, or the nearest existing directory is not writable.
    """
    here = Path(probe_in if probe_in is not None else out)
    while not here.exists():
        if here.parent == here:
            break
        here = here.parent
    if here.exists() and not here.is_dir():
        raise ShardError("output path is inside a file, not a directory", file=str(here), hint="choose another -o")
    probe = here / f".instructkit-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise write_error(exc, out) from None
    return here


def content_line(record: dict, line: bytes | None = None) -> bytes:
    """A record's line as the fingerprint sees it: without ``meta.source`` (where it was read from), so
    the same data ingested from another path or directory has the same fingerprint. ``line`` is the
    record already serialised (reused when there is no source to leave out)."""
    meta = record.get("meta")
    if isinstance(meta, dict) and "source" in meta:
        return dumps({**record, "meta": {k: v for k, v in meta.items() if k != "source"}})
    return line if line is not None else dumps(record)


def fingerprint_of(parts: list[dict]) -> str:
    """The content-addressed id of a set: sha256 over its parts' content sha256s (records without
    ``meta.source``), in order. Sets written before content sha256s existed use the parts' file sha256s."""
    return hashlib.sha256("\n".join(p.get("content_sha256", p["sha256"]) for p in parts).encode()).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(parent: Path) -> None:
    """Remove temporary dirs left by writers that died (their pid is gone)."""
    if not parent.is_dir():
        return
    for child in parent.iterdir():
        m = re.match(r"^\.tmp-(\d+)-", child.name)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(child, ignore_errors=True)


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False, sort_keys=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
