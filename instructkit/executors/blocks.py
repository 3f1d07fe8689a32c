"""A shard set's raw bytes in blocks cut at line ends: the driver's side of a parallel read.

``line_chunks`` hands each task a list of ``(part, line_number, line)`` tuples built line by line in
the driver: about a second of driver CPU per 100,000 records of 870 bytes, serial, while the workers
wait for it. Here the driver reads each part in blocks of about ``BLOCK`` bytes (each part's sha256
checked as it is read, as ``ShardSet.lines`` does), cuts each block after its last newline and counts
its records in C (``bytes.count``); the task splits its block into lines itself (``block_lines``).
Compressed parts are decompressed by the driver, as ``ShardSet.lines`` does.

A record is a non-blank line, as in ``ShardSet.lines``: blank lines (whitespace only) are skipped
and count in the line numbers that errors name.

``ref_blocks`` goes further for tasks on this machine: the driver only reads, hashes and CRCs each block
(no counting at all); the task counts its records, and a block's first line number is worked out from
its part only when an error has to name a line (``line_of``).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

BLOCK = 1 << 20  # bytes per task: ~1,200 records of 870 bytes, enough to amortise numpy calls and pickling


# A blank line after the first: a newline, ASCII whitespace (what bytes.strip removes), a newline.
_BLANK = re.compile(rb"\n[ \t\r\x0b\x0c]*\n")


_SPACE = frozenset(b" \t\n\r\x0b\x0c")


def count_records(block: bytes | bytearray, end: int | None = None) -> int:
    """The non-blank lines of ``block[:end]``: counted in C (a newline count and one regex scan) when none is blank."""
    end = len(block) if end is None else end
    if not end:
        return 0
    last = block[block.rfind(b"\n", 0, end) + 1 : end]
    if block[0] in _SPACE or (last and not last.strip()) or _BLANK.search(block, 0, end):
        return sum(1 for line in bytes(block[:end]).split(b"\n") if line.strip())
    return block.count(b"\n", 0, end) + bool(last)


def block_lines(number: int, block: bytes) -> list[tuple[int, bytes]]:
    """``(line_number, line)`` of the non-blank lines of a block whose first line is number ``number``."""
    return [(number + k, line) for k, line in enumerate(block.split(b"\n")) if line.strip()]


def block_loads(block: bytes):
    """``jsonl.loads`` for the lines of ``block``, or plain ``orjson.loads`` (the same results) when the
    block holds no run of 20 digits: ``jsonl.loads`` looks for one in each line, ~2 us a line."""
    from instructkit import jsonl

    has_long_int = getattr(jsonl, "_has_long_int", None)
    if has_long_int is None or has_long_int(block):
        return jsonl.loads
    import orjson

    return orjson.loads


def parse_block(part: str, number: int | None, block: bytes | BlockRef) -> list[dict]:
    """The records of a block; a line that is not JSON raises ShardError naming its part and line.

    ``number`` is the block's first line number, or None for a ``BlockRef`` from ``ref_blocks`` (then
    worked out from the part only if an error needs it).
    """
    from instructkit.errors import ShardError

    data = block_bytes(block)
    loads = block_loads(data)
    out = []
    for k, line in block_lines(0, data):
        try:
            out.append(loads(line))
        except ValueError as exc:
            raise ShardError(f"corrupt record: {exc}", file=part, line=line_of(number, block, k)) from None
    return out


def line_of(number: int | None, block: bytes | BlockRef, k: int) -> int:
    """The line number of line ``k`` (0-based) of a block whose first line is ``number``; with None,
    the newlines of the part before the ``BlockRef`` are counted (error paths only)."""
    if number is None:
        number, left = 1, block.start
        with open(block.part, "rb") as fh:
            while left and (chunk := fh.read(min(left, BLOCK))):
                number += chunk.count(b"\n")
                left -= len(chunk)
    return number + k


@dataclass(frozen=True)
class BlockRef:
    """A block of an uncompressed part by place (a task on this machine reads it), with its CRC-32."""

    part: str
    start: int
    length: int
    crc: int


def block_bytes(block: bytes | BlockRef) -> bytes:
    """A block's bytes; a ``BlockRef`` is read from its part and must match what the driver read and hashed."""
    if not isinstance(block, BlockRef):
        return block
    from instructkit.errors import ShardError

    fd = os.open(block.part, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        data = os.pread(fd, block.length, block.start)
    finally:
        os.close(fd)
    if len(data) != block.length or zlib.crc32(data) != block.crc:
        raise ShardError("the part changed while it was read", file=block.part, hint="restore the set and re-run")
    return data


def byte_chunks(
    sets: Iterable[Any], size: int = BLOCK, *, refs: bool = False
) -> Iterator[tuple[int, str, int, int, bytes | BlockRef]]:
    """``(offset, part, first_line_number, records, block)`` of every part of ``sets`` in order.

    ``offset`` is the index of the block's first record among all records of ``sets``. Each block ends
    with a newline (a part's last block may not); a part's sha256 is checked after its last block, so a
    changed part raises ShardError before the stage commits anything. With ``refs``, blocks of
    uncompressed parts are ``BlockRef`` (tasks on this machine read them: no bytes through a pipe).
    """
    offset = 0
    for s in sets:
        for part, number, start, block, end in _set_blocks(s, size, refs):
            count = count_records(block, end)
            if start is not None:  # refs: ``block`` is the driver's reused buffer, the bytes stay in the part
                block = BlockRef(part, start, end, zlib.crc32(memoryview(block)[:end]))
            yield offset, part, number, count, block
            offset += count


def ref_blocks(sets: Iterable[Any], size: int = BLOCK) -> Iterator[tuple[str, int | None, BlockRef | bytes]]:
    """``(part, first_line_number, block)`` of every part of ``sets`` in order, for tasks on this machine:
    a ``BlockRef`` (and None for its line number) per block of an uncompressed part, the bytes of a
    compressed one. Each part's sha256 is checked after its last block. Nothing is counted for a
    ``BlockRef``: the task counts its block's records (``len(parse_block(...))``), and ``line_of`` works
    out a line number when an error needs one.
    """
    for s in sets:
        for part, number, start, block, end in _set_blocks(s, size, True, count_lines=False):
            if start is None:  # a compressed part: the bytes, decompressed here
                yield part, number, block
            else:
                yield part, None, BlockRef(part, start, end, zlib.crc32(memoryview(block)[:end]))


def _set_blocks(
    s: Any, size: int, refs: bool, count_lines: bool = True
) -> Iterator[tuple[str, int, int | None, Any, int]]:
    for spec in s.manifest["parts"]:
        part = s.path / spec["file"]
        with s.checked_part(spec) as raw:  # sha256 checked after the last block, read errors named
            if refs and not str(part).endswith((".gz", ".zst")):
                yield from _plain_blocks(part, raw, size, count_lines)
            else:
                yield from _part_blocks(part, raw, size)


def _plain_blocks(part, raw, size: int, count_lines: bool = True) -> Iterator[tuple[str, int, int, bytearray, int]]:
    """``(part, first_line_number, byte_offset, buffer, end)`` of an uncompressed part read into one reused
    buffer (a fresh 1 MB ``bytes`` per block was a fresh ``mmap`` to fault in: ~0.3 s of system time per
    100k records); the block is ``buffer[:end]``, valid until the next one is read."""
    from instructkit.errors import InputError

    buf, number, at, have = bytearray(2 * size), 1, 0, 0  # a block: what is left of the last one + size bytes
    view = memoryview(buf)
    try:
        while True:
            if have + size > len(buf):  # a line longer than a block: grow the buffer
                view.release()
                buf.extend(bytes(have + size - len(buf)))
                view = memoryview(buf)
            n = raw.readinto(view[have : have + size])
            if not n:
                break
            end = have + n
            cut = buf.rfind(b"\n", 0, end) + 1
            if not cut:
                have = end
                continue
            yield str(part), number, at, buf, cut
            if count_lines:
                number += buf.count(b"\n", 0, cut)
            at += cut
            view[: end - cut] = view[cut:end]
            have = end - cut
        if have:
            yield str(part), number, at, buf, have
    except OSError as exc:
        raise InputError(f"cannot read: {exc}", file=str(part), hint="the file is unreadable or corrupt") from None


def _part_blocks(part, raw, size: int) -> Iterator[tuple[str, int, None, bytes, int]]:
    """``(part, first_line_number, None, block, len(block))`` of one part; read errors as
    ``jsonl.iter_lines`` reports them."""
    from instructkit.errors import InputError
    from instructkit.jsonl import corrupt, is_decompress_error, open_binary, truncated

    name, number, carry = str(part), 1, b""
    try:
        with open_binary(part, raw=raw) as stream:
            while data := stream.read(size):
                data = carry + data if carry else data
                cut = data.rfind(b"\n") + 1
                if not cut:  # one line longer than a block: read on
                    carry = data
                    continue
                block, carry = data[:cut], data[cut:]
                yield name, number, None, block, cut
                number += block.count(b"\n")
            if carry:
                yield name, number, None, carry, len(carry)
    except FileNotFoundError:
        raise InputError("file not found", file=name, hint="check the path") from None
    except EOFError as exc:
        raise truncated(part, number - 1, exc) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc}", file=name, hint="the file is unreadable or corrupt") from None
    except Exception as exc:
        if is_decompress_error(exc):
            raise corrupt(part, number - 1, exc) from None
        raise
