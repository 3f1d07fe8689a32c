"""JSON Lines I/O: fast (de)serialisation and transparently compressed files (.gz, .zst)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

from instructkit.errors import InputError

try:  # orjson is ~5x faster than json for our records; json is the fallback.
    import orjson

    def dumps(obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # e.g. an integer over 64 bits
            return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")

    loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a hard dependency

    def dumps(obj: Any) -> bytes:
        return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")

    loads = json.loads


# --- compressed files ------------------------------------------------------------------------


def open_binary(path: str | os.PathLike) -> BinaryIO:
    """Open a file for reading, transparently decompressing ``.gz`` and ``.zst``."""
    path = str(path)
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    return open(path, "rb")


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` of a (possibly compressed) text file, 1-based.

    Raises:
        InputError: for a truncated or corrupt compressed stream.
    """
    try:
        with open_binary(path) as raw:
            stream = raw if isinstance(raw, io.BufferedIOBase) and hasattr(raw, "readline") else io.BufferedReader(raw)
            yield from enumerate(stream, 1)
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise InputError("file not found", file=str(path), hint="check the path") from None
        raise InputError(
            f"cannot decompress or read: {exc}",
            file=str(path),
            hint="the file is truncated or corrupt; re-download or re-compress it",
        ) from None
    except Exception as exc:  # zstandard.ZstdError has no common base we can name without importing it
        if type(exc).__name__ == "ZstdError":
            raise InputError(
                f"cannot decompress: {exc}", file=str(path), hint="the file is truncated or corrupt"
            ) from None
        raise


class _HashingWriter(io.RawIOBase):
    """Counts and sha256-hashes the bytes that reach the file (after compression)."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.sha, self.bytes = raw, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.sha.update(b)
        self.bytes += len(b)
        return self.raw.write(b)
