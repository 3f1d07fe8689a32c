"""Reading shard sets: resolving a path to its newest complete version, ``ShardSet`` (records streamed
with each part's sha256 checked as it is read), and the set layout's names. Split out of ``shards.py``,
which re-exports every name here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from instructkit.errors import InputError, ShardError
from instructkit.jsonl import HashingReader, iter_lines, loads
from instructkit.parts import _mismatch, open_part

FORMAT = "instructkit.shards/1"
MANIFEST = "manifest.json"
VERSION_RE = re.compile(r"^v(\d{4,})$")
PART_RE = re.compile(r"^part-\d{5}\.jsonl(\.gz|\.zst)?$")
SPLIT_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
DEFAULT_SHARD_SIZE = 100_000


# --- reading ---------------------------------------------------------------------------------


def _versions(parent: Path) -> list[Path]:
    found = []
    if parent.is_dir():
        for child in parent.iterdir():
            m = VERSION_RE.match(child.name)
            if m and child.is_dir():
                found.append((int(m.group(1)), child))
    return [p for _, p in sorted(found)]


def resolve(path: str | os.PathLike) -> Path:
    """A set directory, or a parent of versions (meaning its newest complete version)."""
    path = Path(path)
    if (path / MANIFEST).is_file():
        return path
    complete = [v for v in _versions(path) if (v / MANIFEST).is_file()]
    if complete:
        return complete[-1]
    if not path.exists() and SPLIT_RE.match(path.name) and path.parent != path:
        # ``out/split/val``: the ``val`` sub-set of the newest version of ``out/split``.
        with contextlib.suppress(ShardError):
            parent = resolve(path.parent)
            if (parent / path.name / MANIFEST).is_file():
                return parent / path.name
    if not path.exists():
        raise ShardError("no such shard set", file=str(path), hint="check the path, or run the stage that writes it")
    raise ShardError(
        "not a complete shard set (no manifest.json, and no complete vNNNN inside)",
        file=str(path),
        hint="the stage that writes it may have failed; run it again",
    )


class ShardSet:
    """A complete shard set on disk, read in a streaming way.

    Args:
        path: The set's directory or the parent of its versions (newest complete one is used).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = resolve(path)
        try:
            self.manifest = json.loads((self.path / MANIFEST).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ShardError(f"unreadable manifest: {exc}", file=str(self.path / MANIFEST)) from None
        if self.manifest.get("format") != FORMAT:
            raise ShardError(f"unknown shard format {self.manifest.get('format')!r}", file=str(self.path))
        parts = self.manifest.get("parts")
        if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
            raise ShardError("manifest has no valid 'parts' list", file=str(self.path / MANIFEST))
        for spec in parts:
            # A manifest is input too: a part name like "../../x" must never lead outside the set.
            if not isinstance(spec.get("file"), str) or not PART_RE.match(spec["file"]):
                raise ShardError(
                    f"manifest names an invalid part file {spec.get('file')!r}",
                    file=str(self.path / MANIFEST),
                    hint="parts are part-NNNNN.jsonl[.gz|.zst] in the set's own directory",
                )
            if not isinstance(spec.get("records"), int):
                raise ShardError(f"part {spec['file']} has no record count", file=str(self.path / MANIFEST))

    def __repr__(self) -> str:
        return f"ShardSet({str(self.path)!r}, kind={self.kind!r}, records={len(self)})"

    def __len__(self) -> int:
        return sum(p["records"] for p in self.manifest["parts"])

    @property
    def kind(self) -> str:
        return self.manifest.get("kind", "mixed")

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    @property
    def parts(self) -> list[Path]:
        return [self.path / p["file"] for p in self.manifest["parts"]]

    def sub(self, name: str) -> ShardSet | None:
        """A sub-set (``rejected`` or ``quarantine``) if this set has one."""
        return ShardSet(self.path / name) if (self.path / name / MANIFEST).is_file() else None

    @property
    def rejected(self) -> ShardSet | None:
        return self.sub("rejected")

    def __iter__(self) -> Iterator[dict]:
        for part, number, line in self.lines():
            try:
                yield loads(line)
            except ValueError as exc:
                changed = self._changed(part)  # the likelier cause; only on this error path is the part re-read
                if changed:
                    raise changed from None
                raise ShardError(
                    f"corrupt record: {exc}",
                    file=str(part),
                    line=number,
                    hint=f"run: instructkit verify {self.path}",
                ) from None

    def _changed(self, part: Path) -> ShardError | None:
        """A sha256 mismatch error if ``part`` no longer matches the manifest, else None."""
        spec = next(p for p in self.manifest["parts"] if p["file"] == part.name)
        with HashingReader(open_part(part)) as raw:
            if spec.get("sha256") and raw.drain() != spec["sha256"]:
                return _mismatch(part, spec, raw, f"run: instructkit verify {self.path}")
        return None

    def lines(self) -> Iterator[tuple[Path, int, bytes]]:
        """``(part, line_number, raw_line)`` of every non-blank line, each part's sha256 checked as it is read.

        The check streams (no second pass): a part whose bytes differ from the manifest raises
        ShardError once its last line is read, so a stage reading it fails before it commits anything.

        Raises:
            ShardError: a part that is missing, not a regular file (a symlink, even to a file inside
                the set, is refused), unreadable, or whose sha256 does not match the manifest.
        """
        for spec in self.manifest["parts"]:
            part = self.path / spec["file"]
            with self.checked_part(spec) as raw:
                for number, line in iter_lines(part, raw=raw):
                    if line.strip():
                        yield part, number, line

    @contextlib.contextmanager
    def checked_part(self, spec: dict) -> Iterator[HashingReader]:
        """Open one part (a ``manifest["parts"]`` entry) for reading: the decompressed bytes, hashed as read.

        On leaving the block the part's sha256 is checked (what was not read is read first), and a read
        error inside it becomes a ShardError naming the part, or the change that is its likelier cause.
        """
        part = self.path / spec["file"]
        verify_hint = f"run: instructkit verify {self.path}"
        raw = HashingReader(open_part(part))
        try:
            try:
                yield raw
            except InputError as exc:
                # A changed part is the likelier cause of a decompression error: say so if it is.
                changed = self._changed(part)
                if changed:
                    raise changed from None
                raise ShardError(f"unreadable part: {exc.message}", file=str(part), hint=verify_hint) from None
            if spec.get("sha256") and raw.drain() != spec["sha256"]:
                raise _mismatch(part, spec, raw, verify_hint)
        finally:
            raw.close()


def iter_sets(paths: Iterable[str | os.PathLike]) -> Iterator[dict]:
    """Records of several sets, one after the other."""
    for path in paths:
        yield from ShardSet(path)
