"""``instructkit verify``: checksums, record counts and conservation of a shard set (split out of shards.py)."""

from __future__ import annotations

import hashlib
import os

from instructkit.errors import InputError, ShardError
from instructkit.jsonl import iter_lines, loads
from instructkit.parts import content_line, fingerprint_of, open_part


def verify(path: str | os.PathLike) -> list[str]:
    """Check checksums, record counts and conservation; return a list of problems (empty: fine)."""
    from instructkit.shards import ShardSet

    s = ShardSet(path)
    problems: list[str] = []
    for spec in s.manifest["parts"]:
        part = s.path / spec["file"]
        try:
            fh = open_part(part)  # missing, a symlink, or not a regular file
        except ShardError as exc:
            problems.append(str(exc))
            continue
        sha = hashlib.sha256()
        with fh:
            while chunk := fh.read(1 << 20):
                sha.update(chunk)
        if sha.hexdigest() != spec["sha256"]:
            problems.append(f"{part}: sha256 mismatch (manifest {spec['sha256'][:12]}, file {sha.hexdigest()[:12]})")
            continue
        content = hashlib.sha256()
        try:
            n = 0
            for _, line in iter_lines(part):
                if line.strip():
                    n += 1
                    if "content_sha256" in spec:
                        content.update(content_line(loads(line)))
        except InputError as exc:
            problems.append(str(exc))
            continue
        except ValueError:  # a line that is not JSON (its bytes matched the sha256: written that way)
            problems.append(f"{part}: line {n} is not valid JSON")
            continue
        if n != spec["records"]:
            problems.append(f"{part}: {n} records, manifest says {spec['records']}")
        if "content_sha256" in spec and content.hexdigest() != spec["content_sha256"]:
            problems.append(f"{part}: content sha256 mismatch (records without meta.source)")
    if fingerprint_of([p for p in s.manifest["parts"] if "sha256" in p]) != s.fingerprint:
        problems.append(f"{s.path}: fingerprint does not match the parts")
    counts = s.manifest.get("counts", {})
    if counts.get("kept") is not None and counts["kept"] != len(s):
        problems.append(f"{s.path}: counts.kept={counts['kept']} but parts hold {len(s)}")
    for name, key in (("rejected", "rejected"), ("quarantine", "quarantined")):
        n_sub = sum(counts.get(key, {}).values())
        sub = s.sub(name)
        if n_sub and sub is None:
            problems.append(f"{s.path}: counts.{key} is {n_sub} but {name}/ is missing")
        elif sub is not None:
            if len(sub) != n_sub:
                problems.append(f"{s.path}: {name}/ holds {len(sub)} records, counts.{key} sums to {n_sub}")
            problems.extend(verify(sub.path))
    for name, n_split in (counts.get("splits") or {}).items():
        sub = s.sub(name)
        if sub is None:
            problems.append(f"{s.path}: counts.splits.{name} is {n_split} but {name}/ is missing")
            continue
        if len(sub) != n_split:
            problems.append(f"{s.path}: {name}/ holds {len(sub)} records, counts.splits.{name} is {n_split}")
        problems.extend(verify(sub.path))
    if s.manifest.get("conserving", True) and counts.get("in") is not None:
        total = counts["kept"] + sum(counts.get("rejected", {}).values()) + sum(counts.get("quarantined", {}).values())
        total += sum((counts.get("splits") or {}).values())
        if counts["in"] != total:
            problems.append(
                f"{s.path}: conservation broken: in={counts['in']} but kept+splits+rejected+quarantined={total}"
            )
    return problems
