"""Shard sets: immutable, versioned, content-addressed JSONL datasets on disk (DESIGN.md section 1).

A set is a directory of ``part-NNNNN.jsonl[.gz|.zst]`` files plus ``manifest.json``, written last.
Writers build the set in a hidden temporary sibling and rename it into place, so a crash (even
``kill -9``) never leaves a directory that looks complete; the next writer removes the leftovers.
Two writers racing on one parent get distinct versions: ``rename`` onto an existing non-empty
directory fails, and the loser takes the next number.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from instructkit import __version__
from instructkit.cards import write_card
from instructkit.errors import ShardError
from instructkit.jsonl import (  # noqa: F401 (re-exported)
    HashingReader,
    _HashingWriter,
    dumps,
    iter_lines,
    loads,
    open_binary,
)
from instructkit.parts import (  # noqa: F401 (re-exported)
    COMPRESSIONS,
    _clean_stale,
    _mismatch,
    _PartWriter,
    _pid_alive,
    _write_json,
    check_writable,
    content_line,
    fingerprint_of,
    open_part,
    write_error,
)
from instructkit.shardset import (  # noqa: E402,F401 (re-exported)
    DEFAULT_SHARD_SIZE,
    FORMAT,
    MANIFEST,
    PART_RE,
    SPLIT_RE,
    VERSION_RE,
    ShardSet,
    _versions,
    iter_sets,
    resolve,
)

# --- writing ---------------------------------------------------------------------------------


class ShardWriter:
    """Writes one new version of a shard set, atomically.

    Use as a context manager: the set is committed when the block ends normally and discarded on
    an exception (including KeyboardInterrupt).

    Args:
        out: A parent directory (the next ``vNNNN`` is created under it) or an explicit version
            path ``.../vNNNN`` (refused if it exists, unless ``force``).
        stage: The stage name recorded in the manifest.
        params: The effective parameters, recorded as given (must be JSON-serialisable).
        inputs: The parent sets (for lineage and caching).
        kind: The record kind; inferred from what is written when None.
        shard_size: Records per part file.
        compression: None, ``gz`` or ``zst``.
        force: Replace an existing explicit version path.
        conserving: Whether ``in == kept + rejected + quarantined`` must hold (False for stages that
            create records, such as synth or binarisation).
    """

    def __init__(
        self,
        out: str | os.PathLike,
        *,
        stage: str,
        params: dict | None = None,
        inputs: Iterable[ShardSet] = (),
        kind: str | None = None,
        shard_size: int = DEFAULT_SHARD_SIZE,
        compression: str | None = None,
        force: bool = False,
        conserving: bool = True,
    ):
        if shard_size < 1:
            raise ShardError(f"shard size must be at least 1, got {shard_size}")
        out = Path(out)
        self.explicit = bool(VERSION_RE.match(out.name))
        self.parent = out.parent if self.explicit else out
        self.target = out if self.explicit else None
        if self.explicit and out.exists() and not force:
            raise ShardError(
                "this version already exists",
                file=str(out),
                hint="write to its parent for the next version, or pass --force to replace it",
            )
        if self.parent.exists() and not self.parent.is_dir():
            raise ShardError("output path is a file, not a directory", file=str(self.parent))
        check_writable(out, probe_in=self.parent)
        self.stage, self.params, self.kind, self.force = stage, params or {}, kind, force
        self.conserving = conserving
        self.inputs = [{"path": str(s.path), "fingerprint": s.fingerprint} for s in inputs]
        self.tmp = self.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
            _clean_stale(self.parent)
            self.tmp.mkdir()
        except OSError as exc:
            raise write_error(exc, out) from None
        self._kept = _PartWriter(self.tmp, shard_size, compression, out)
        self._rejected = _PartWriter(self.tmp / "rejected", shard_size, compression, out)
        self._quarantine = _PartWriter(self.tmp / "quarantine", shard_size, compression, out)
        self._splits: dict[str, _PartWriter] = {}  # named sub-sets that hold kept records (split: val/, test/)
        self._part_args = (shard_size, compression, out)  # as the writers above
        self.counts = {"in": 0, "kept": 0, "rejected": Counter(), "quarantined": Counter()}
        self.stats: dict[str, Any] = {}
        self.extra_files: list[str] = []
        self.started = time.time()
        self.path: Path | None = None

    # records -----------------------------------------------------------------------------

    def write(self, record: dict) -> None:
        """Keep a record."""
        from instructkit.records import kind_of

        self._kept.write(record, kind_of(record))
        self.counts["kept"] += 1

    def write_split(self, name: str, record: dict) -> None:
        """Keep a record in the named sub-set ``name/`` (``split`` writes ``val/`` and ``test/``).

        A split is a shard set of its own with its fingerprint; its records count in ``counts.splits``,
        so conservation reads ``in == kept + splits + rejected + quarantined``.
        """
        from instructkit.records import kind_of

        if name not in self._splits:
            if not SPLIT_RE.match(name) or name in ("rejected", "quarantine"):
                raise ShardError(f"invalid split name {name!r}", hint="lower-case letters, digits, - and _")
            self._splits[name] = _PartWriter(self.tmp / name, *self._part_args)
        self._splits[name].write(record, kind_of(record))

    def reject(self, record: dict, reason: str, **details: Any) -> None:
        """Drop a record with a reason; it lands in ``rejected/`` with ``meta.reject``."""
        self._rejected.write(rejected_record(record, self.stage, reason, details), None)
        self.counts["rejected"][reason] += 1

    def write_lines(self, lines: bytes, ends, contents: bytes, content_ends, kinds: Counter) -> None:
        """Keep records a worker serialised: ``write`` of each, in bulk (see ``_PartWriter.write_lines``)."""
        self._kept.write_lines(lines, ends, contents, content_ends, kinds)
        self.counts["kept"] += len(ends)

    def reject_lines(self, lines: bytes, ends, contents: bytes, content_ends, reasons: Counter) -> None:
        """Drop records a worker turned into ``rejected_record`` and serialised; ``reasons`` counts them."""
        self._rejected.write_lines(lines, ends, contents, content_ends)
        self.counts["rejected"].update(reasons)

    def quarantine(self, raw: Any, reason: str, *, source: dict, error: str) -> None:
        """Keep an input row that could not become a record, with why (``--on-error skip``)."""
        row = {
            "raw": raw,
            "meta": {"source": source, "reject": {"stage": self.stage, "reason": reason, "error": error}},
        }
        self._quarantine.write(row, None)
        self.counts["quarantined"][reason] += 1

    def count_in(self, n: int = 1) -> None:
        self.counts["in"] += n

    def file(self, name: str) -> Path:
        """A path for an extra file (e.g. ``clusters.jsonl``) that is committed with the set."""
        self.extra_files.append(name)
        return self.tmp / name

    # commit ------------------------------------------------------------------------------

    def _manifest(self, writer: _PartWriter, kind: str, counts: dict, elapsed: float) -> dict:
        parts = writer.finish()
        return {
            "format": FORMAT,
            "kind": kind,
            "stage": self.stage,
            "params": self.params,
            "inputs": self.inputs,
            "fingerprint": fingerprint_of(parts),
            "parts": parts,
            "counts": counts,
            "kinds": dict(writer.kinds),
            "instructkit": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "elapsed_s": round(elapsed, 3),
        }

    def commit(self) -> Path:
        """Finish the parts, write the manifests (last) and rename the set into place.

        On any failure (disk full while writing the manifest, a racing writer taking an explicit
        version) the temporary directory is removed: nothing half-written is left behind.
        """
        try:
            return self._commit()
        except OSError as exc:
            self.abort()
            raise write_error(exc, self.target or self.parent) from None
        except BaseException:
            self.abort()
            raise

    def _commit(self) -> Path:
        elapsed = time.time() - self.started
        kinds = self._kept.kinds
        kind = self.kind or (next(iter(kinds)) if len(kinds) == 1 else ("mixed" if kinds else "empty"))
        counts = {
            "in": self.counts["in"],
            "kept": self.counts["kept"],
            "rejected": dict(self.counts["rejected"]),
            "quarantined": dict(self.counts["quarantined"]),
        }
        if self._splits:
            counts["splits"] = {name: w.records for name, w in sorted(self._splits.items())}
        for name, writer in sorted(self._splits.items()):
            kinds = writer.kinds
            split_kind = self.kind or (next(iter(kinds)) if len(kinds) == 1 else "mixed")
            m = self._manifest(writer, split_kind, {"in": writer.records, "kept": writer.records}, elapsed)
            m["split"] = name
            _write_json(self.tmp / name / MANIFEST, m)
        for sub, writer, sub_kind in (
            ("rejected", self._rejected, "rejected"),
            ("quarantine", self._quarantine, "quarantine"),
        ):
            if writer.records:
                m = self._manifest(
                    writer,
                    sub_kind,
                    {"in": writer.records, "kept": writer.records, "rejected": {}, "quarantined": {}},
                    elapsed,
                )
                _write_json(self.tmp / sub / MANIFEST, m)
        manifest = self._manifest(self._kept, kind, counts, elapsed)
        manifest["conserving"] = self.conserving
        if self.stats:
            manifest["stats"] = self.stats
        if self.extra_files:
            manifest["files"] = sorted(set(self.extra_files))
        write_card(self.tmp, manifest)  # README.md with configs: load_dataset(version_dir) works (cards.py)
        _write_json(self.tmp / MANIFEST, manifest)  # written last: its presence means complete
        self.manifest = manifest
        self.path = self._rename_into_place()
        return self.path

    def _rename_into_place(self) -> Path:
        if self.explicit:
            target = self.target
            if target.exists():
                if not self.force:
                    raise ShardError(
                        "this version appeared while writing", file=str(target), hint="pass --force to replace it"
                    )
                trash = self.parent / f".tmp-{os.getpid()}-old-{uuid.uuid4().hex[:8]}"
                with contextlib.suppress(FileNotFoundError):  # a racing --force writer moved it first
                    os.rename(target, trash)
                self._rename_explicit(target)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                self._rename_explicit(target)
            return target
        for _ in range(1000):
            existing = _versions(self.parent)
            number = int(VERSION_RE.match(existing[-1].name).group(1)) + 1 if existing else 1
            target = self.parent / f"v{number:04d}"
            try:
                # Linux rename(2) onto an existing non-empty dir fails: the racing loser retries.
                if target.exists():
                    continue
                os.rename(self.tmp, target)
                return target
            except OSError:
                continue
        raise ShardError("could not find a free version number", file=str(self.parent))

    def _rename_explicit(self, target: Path) -> None:
        try:
            os.rename(self.tmp, target)  # onto a non-empty directory fails: another writer got there first
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise ShardError(
                "this version was written by another process at the same time",
                file=str(target),
                hint="write to its parent for the next version, or pass --force to replace it",
            ) from None

    def abort(self) -> None:
        """Discard everything written so far."""
        for w in (self._kept, self._rejected, self._quarantine, *self._splits.values()):
            with contextlib.suppress(Exception):
                w.finish()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
            return
        self.abort()
        # Disk full or read-only while the stage wrote an extra file (self.file(...)): one line, no traceback.
        # Not EACCES on some input file: that is the stage's to report.
        if isinstance(exc, OSError) and (
            exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) or str(exc.filename or "").startswith(str(self.tmp))
        ):
            raise write_error(exc, self.target or self.parent) from None


def rejected_record(record: dict, stage: str, reason: str, details: dict) -> dict:
    """``record`` as ``ShardWriter.reject`` writes it: with ``meta.reject`` (stage, reason, details)."""
    record = dict(record)
    meta = dict(record.get("meta") or {})
    meta["reject"] = {"stage": stage, "reason": reason, **details}
    record["meta"] = meta
    return record


# --- verification ----------------------------------------------------------------------------


def verify(path: str | os.PathLike) -> list[str]:
    """Check checksums, record counts and conservation; return a list of problems (empty: fine)."""
    from instructkit.integrity import verify as verify_set

    return verify_set(path)
