"""JSON Lines I/O: fast (de)serialisation and transparently compressed files (.gz, .zst)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from instructkit.errors import InputError, TruncatedInput

try:  # orjson is ~5x faster than json for our records; json is the fallback.
    import orjson

    def dumps(obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # e.g. an integer over 64 bits
            return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")

    import re

    _LONG_INT = re.compile(rb"\d{20}")  # 2**64 has 20 digits: orjson makes a float of anything longer
    # The same test in two C passes: every ASCII digit becomes "0", then look for 20 zeros in a row. The
    # regex tried a 20-digit match at every digit: ~30 us per 800-byte line, a quarter of dedupe's pass 1.
    _DIGITS = bytes.maketrans(b"123456789", b"000000000")
    _RUN = b"0" * 20

    def _has_long_int(data: bytes) -> bool:
        return _RUN in data.translate(_DIGITS)

    def loads(data: bytes | str) -> Any:
        """``orjson.loads``, but an integer over 64 bits stays an exact int (orjson turns a 30-digit id into
        1.2345678901234568e+29). Only lines holding 20 digits in a row (an id, a long number in a string)
        take the stdlib parser, which keeps them; the rest stay on orjson."""
        obj = orjson.loads(data)
        if _has_long_int(data.encode("utf-8") if isinstance(data, str) else data):
            return json.loads(data)
        return obj

except ImportError:  # pragma: no cover - orjson is a hard dependency

    def dumps(obj: Any) -> bytes:
        return (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")

    loads = json.loads


# --- compressed files ------------------------------------------------------------------------


class TruncatedStream(EOFError):
    """A compressed stream that ends before its end marker (gzip raises a plain EOFError there)."""


class _ZstdReader(io.RawIOBase):
    """Every zstd frame of a file, decompressed; raises TruncatedStream if the file ends inside a frame.

    zstandard's ``stream_reader`` just returns a short read there, so a cut file read as empty (one
    frame, nothing decodable) or as one malformed last line, and the rest vanished without a word.
    """

    _IN = 1 << 13  # 8 KB of input per call: JSONL inflates ~5-10x; even a crafted RLE bomb stays < 300 MB

    def __init__(self, raw: BinaryIO):
        import zstandard

        self.raw, self._dctx = raw, zstandard.ZstdDecompressor()
        self._obj, self._in_frame = self._dctx.decompressobj(), False
        self._buf, self._pos = memoryview(b""), 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while self._pos >= len(self._buf):
            data = self.raw.read(self._IN)
            if not data:
                if self._in_frame:
                    raise TruncatedStream("the zstd stream ends inside a frame")
                return 0
            self._buf, self._pos = memoryview(self._decompress(data)), 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n

    def _decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self._obj.decompress(data))
            self._in_frame = True
            if not self._obj.eof:
                break
            # A frame ended: the bytes after it start the next one (zstd files may hold several).
            data, self._obj, self._in_frame = self._obj.unused_data, self._dctx.decompressobj(), False
        return b"".join(out)

    def close(self) -> None:
        if not self.closed:
            self.raw.close()
        super().close()


class HashingReader(io.RawIOBase):
    """Counts and sha256-hashes the bytes read from a file (before decompression): a part's checksum
    is checked while it is read, with no second pass."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.sha, self.bytes = raw, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self.raw.readinto(b)
        if n:
            self.sha.update(memoryview(b)[:n])
            self.bytes += n
        return n

    def drain(self) -> str:
        """Hash what the reader above left unread (a gzip trailer, a last block); the hex digest."""
        buf = bytearray(1 << 20)
        while self.readinto(buf):
            pass
        return self.sha.hexdigest()

    def close(self) -> None:
        if not self.closed:
            self.raw.close()
        super().close()


def open_binary(path: str | os.PathLike, *, raw: BinaryIO | None = None) -> BinaryIO:
    """Open a file for reading, transparently decompressing ``.gz`` and ``.zst``.

    Args:
        path: The file; its suffix picks the decompression.
        raw: The file's bytes, already open (e.g. a :class:`HashingReader`); the caller closes it.

    A truncated stream raises EOFError (TruncatedStream for zstd) on the read after its last good byte.
    """
    path = str(path)
    owned = raw is None
    raw = open(path, "rb") if owned else _Unclosed(raw)  # closing what is returned leaves a caller's raw open
    if path.endswith(".gz"):
        gz = gzip.GzipFile(fileobj=raw, mode="rb")
        gz.myfileobj = raw  # GzipFile closes myfileobj on close (what gzip.open does with a file name)
        return gz
    if path.endswith(".zst"):
        return io.BufferedReader(_ZstdReader(raw), buffer_size=1 << 16)
    return raw if owned else io.BufferedReader(raw, buffer_size=1 << 20)


class _Unclosed(io.RawIOBase):
    """A view of a raw file that closing leaves open (its owner closes it)."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        return self.raw.readinto(b)


def truncated(path: str | os.PathLike, rows: int, exc: BaseException) -> InputError:
    """The error for a compressed file that breaks off after ``rows`` rows (``exc``: an EOFError)."""
    name = str(path)
    if name.endswith(".gz"):
        detail = "the gzip stream ends before its end-of-stream marker"
    elif name.endswith(".zst"):
        detail = "the zstd stream ends inside a frame"
    else:
        detail = str(exc) or "the file ends early"
    return TruncatedInput(name, rows, detail)


def corrupt(path: str | os.PathLike, rows: int, exc: BaseException) -> InputError:
    """The error for a compressed stream with bad bytes after ``rows`` good rows."""
    return InputError(
        f"cannot decompress after {rows} rows: {exc}",
        file=str(path),
        hint="the file is corrupt; re-download or re-compress it, or pass --on-error skip to keep the rows read",
    )


DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (zlib.error, gzip.BadGzipFile)


def is_decompress_error(exc: BaseException) -> bool:
    """zlib/gzip errors, and zstandard.ZstdError (named, so that zstandard is imported only when used)."""
    return isinstance(exc, DECOMPRESS_ERRORS) or type(exc).__name__ == "ZstdError"


def iter_lines(path: str | os.PathLike, *, raw: BinaryIO | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` of a (possibly compressed) text file, 1-based.

    A line cut by a truncation is never yielded: the reader raises before it completes.

    Raises:
        TruncatedInput: for a compressed stream that ends early (``rows``: the lines read before it).
        InputError: for a missing, unreadable or corrupt file.
    """
    number = 0
    try:
        with open_binary(path, raw=raw) as stream:
            if not isinstance(stream, io.BufferedIOBase):
                stream = io.BufferedReader(stream)
            for number, line in enumerate(stream, 1):  # noqa: B007 (number is read after the loop)
                yield number, line
    except FileNotFoundError:
        raise InputError("file not found", file=str(path), hint="check the path") from None
    except EOFError as exc:
        raise truncated(path, number, exc) from None
    except OSError as exc:
        raise InputError(
            f"cannot read: {exc}", file=str(path), hint="the file is unreadable or corrupt; re-download it"
        ) from None
    except Exception as exc:
        if is_decompress_error(exc):
            raise corrupt(path, number, exc) from None
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
