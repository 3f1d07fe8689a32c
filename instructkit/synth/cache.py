"""A resumable request cache: an append-only JSONL file keyed by a hash of each request.

Every finished request is appended as one line ``{"key", "purpose", "reply"}`` and fsynced before the
loop uses it, so an interrupted run (Ctrl-C, a crash, ``--max-requests``) loses at most the requests in
flight. A re-run with the same seeds, options and cache replays the finished requests from the file
(cache hits) and sends only the rest. A torn last line (a crash mid-write) is cut off on open.

The key is the sha256 of the canonical JSON of the request: the generator's identity (backend,
model, URL; never an API key), the messages, the decoding knobs, the seed, the template version and
the request's sequence number in the run (so two identical prompts sampled twice stay two requests).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from instructkit.errors import InputError


def request_key(request: dict) -> str:
    """sha256 hex of the canonical JSON of a request."""
    blob = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class RequestCache:
    """Finished requests on disk.

    Args:
        path: The JSONL file (created with its directory if missing); None keeps the cache in memory.
    """

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path is not None else None
        self._replies: dict[str, Any] = {}
        self._fh = None
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._load()
        self._fh = open(self.path, "ab")

    def _load(self) -> None:
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a torn last line from a crash mid-write: cut it off
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
        for number, line in enumerate(data[:end].splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                self._replies[row["key"]] = row["reply"]
            except (ValueError, KeyError, TypeError):
                raise InputError(
                    "corrupt request cache line",
                    file=str(self.path),
                    line=number,
                    hint="delete the line (or the file, to start over)",
                ) from None

    def __len__(self) -> int:
        return len(self._replies)

    def __contains__(self, key: str) -> bool:
        return key in self._replies

    def get(self, key: str) -> Any:
        return self._replies.get(key)

    def put(self, key: str, reply: Any, **info: Any) -> None:
        """Record a finished request (appended and fsynced when the cache has a file)."""
        self._replies[key] = reply
        if self._fh is not None:
            line = json.dumps({"key": key, **info, "reply": reply}, ensure_ascii=False) + "\n"
            self._fh.write(line.encode("utf-8"))
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RequestCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
