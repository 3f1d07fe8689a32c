"""Large task results through a file in memory (``/dev/shm``) instead of the pool's result pipe.

A ``--workers`` pool returns results pickled through a pipe, read by the driver's result thread: about
0.4 s of driver CPU per 100 MB here, serial, while a task that writes its bytes to a tmpfs file costs
the driver one ``read`` (a memory copy). Only for local workers (``spool`` is None in this process and
for Ray tasks, which return their bytes as usual); the files live as long as a task's result is in
flight and the directory is removed when the stage ends. A stage killed outright (``kill -9``, the OOM
killer) cannot remove its directory: the next stage that opens a spool removes the directories of
processes that no longer exist (the creator's pid is in the name; only the user's own are touched).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Spooled:
    """Buffers a task wrote to ``path``, one after the other, of ``sizes`` bytes each."""

    path: str
    sizes: tuple[int, ...]


@contextlib.contextmanager
def spool_dir(enabled: bool) -> Iterator[str | None]:
    """A private directory in ``/dev/shm`` (the system temporary directory if there is none), or None."""
    if not enabled:
        yield None
        return
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    remove_stale(base or tempfile.gettempdir())
    path = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=base)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


_PREFIX = "instructkit-spool-"


def remove_stale(base: str) -> list[str]:
    """Remove this user's spool directories in ``base`` whose creating process is gone; returns them."""
    removed = []
    try:
        names = [n for n in os.listdir(base) if n.startswith(_PREFIX)]
    except OSError:
        return removed
    for name in names:
        pid = name[len(_PREFIX) :].split("-", 1)[0]
        path = os.path.join(base, name)
        try:
            if not pid.isdigit() or os.stat(path).st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)  # still running (or a pid reused since): leave it
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        except OSError:  # PermissionError: someone else's process is alive with that pid
            continue
    return removed


def put(spool: str | None, *buffers: bytes) -> tuple | Spooled:
    """In a task: ``buffers`` as they are (no spool), or written to a new file of ``spool``."""
    if spool is None:
        return buffers
    path = os.path.join(spool, uuid.uuid4().hex)
    with open(path, "wb") as fh:
        for b in buffers:
            fh.write(b)
    return Spooled(path, tuple(len(b) for b in buffers))


def take(result: tuple | Spooled) -> tuple:
    """In the driver: the buffers ``put`` was given; when spooled, memoryviews of the file mapped read-only
    (no copy, no fresh pages to fault in; the file is removed at once, the mapping lives as long as they do)."""
    if not isinstance(result, Spooled):
        return result
    with open(result.path, "rb") as fh:
        os.unlink(result.path)
        if not sum(result.sizes):
            return tuple(b"" for _ in result.sizes)
        data = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
    out, at = [], 0
    for size in result.sizes:
        out.append(data[at : at + size])
        at += size
    return tuple(out)
