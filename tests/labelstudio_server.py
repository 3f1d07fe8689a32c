"""Start and stop a real Label Studio server for the integration test (and for manual checks).

Label Studio lives in its own virtual environment (``make labelstudio``: about 1 GB with its own
pins). The server runs on 127.0.0.1 with SQLite in a temporary data dir, in a new process session,
so stopping it kills the whole group (the PID we get may be a wrapper around Django).

Migrating a fresh SQLite database takes about 95 s on a 2-core machine, so after the first start
the migrated database (owner user and token only, nothing else) is kept in
``~/.cache/instructkit/labelstudio-db-KEY/`` (KEY: the executable's path and mtime) and copied into
each new temporary data dir; ``INSTRUCTKIT_LS_NO_CACHE=1`` turns that off.

Usage from a shell: ``python tests/labelstudio_server.py .venv-labelstudio/bin/label-studio`` prints
the URL and token and waits for Ctrl-C.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

STARTUP_TIMEOUT_S = 180  # cold start with migrations is about 30 s here; slow CI disks need more


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabelStudioServer:
    """A running Label Studio: ``url``, ``token``, ``email``; use as a context manager."""

    def __init__(self, executable: str | Path, data_dir: str | Path | None = None):
        self.executable = str(executable)
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="ls-data-")
        self.data_dir = Path(data_dir or self._tmp.name)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.email = "owner@example.com"
        self.password = secrets.token_hex(12)
        self.token = secrets.token_hex(20)  # 40 chars: LABEL_STUDIO_USER_TOKEN allows at most 40
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir / "server.log"

    def _cache_dir(self) -> Path | None:
        if os.environ.get("INSTRUCTKIT_LS_NO_CACHE"):
            return None
        exe = Path(self.executable).resolve()
        key = hashlib.sha256(f"{exe}:{exe.stat().st_mtime_ns}".encode()).hexdigest()[:16]
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return base / "instructkit" / f"labelstudio-db-{key}"

    def _restore_cache(self, cache: Path | None) -> bool:
        if cache is None or not (cache / "label_studio.sqlite3").is_file() or not (cache / "creds.json").is_file():
            return False
        creds = json.loads((cache / "creds.json").read_text())
        self.email, self.password, self.token = creds["email"], creds["password"], creds["token"]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache / "label_studio.sqlite3", self.data_dir / "label_studio.sqlite3")
        return True

    def _save_cache(self, cache: Path) -> None:
        """Back up the just-migrated database (sqlite3's online backup: safe while the server runs)."""
        try:
            cache.mkdir(parents=True, exist_ok=True)
            tmp = cache / f".tmp-{os.getpid()}.sqlite3"
            with sqlite3.connect(self.data_dir / "label_studio.sqlite3") as src, sqlite3.connect(tmp) as dst:
                src.backup(dst)
            creds = cache / "creds.json"
            creds.write_text(json.dumps({"email": self.email, "password": self.password, "token": self.token}))
            creds.chmod(0o600)
            os.replace(tmp, cache / "label_studio.sqlite3")
        except (OSError, sqlite3.Error):
            pass  # the cache only saves time

    def start(self) -> LabelStudioServer:
        cache = self._cache_dir()
        cached = self._restore_cache(cache)
        env = dict(os.environ)
        env.update(
            {
                "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
                "LABEL_STUDIO_USERNAME": self.email,
                "LABEL_STUDIO_PASSWORD": self.password,
                "LABEL_STUDIO_USER_TOKEN": self.token,
                "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
                "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
                "DJANGO_DB": "sqlite",
                "LATEST_VERSION_CHECK": "false",
                "COLLECT_ANALYTICS": "false",
            }
        )
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                self.executable,
                "start",
                "--no-browser",
                "--port",
                str(self.port),
                "--internal-host",
                "127.0.0.1",
                "--data-dir",
                str(self.data_dir),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.time() + STARTUP_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"label-studio exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as r:
                    if r.status == 200:
                        if cache is not None and not cached:
                            self._save_cache(cache)
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(1.0)
        self.stop()
        raise RuntimeError(f"label-studio did not answer /health within {STARTUP_TIMEOUT_S} s: {self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text("utf-8", errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after 15 s."""
        if self.proc is None:
            return
        try:
            pgid = os.getpgid(self.proc.pid)
        except ProcessLookupError:
            pgid = None
        if pgid is not None:
            try:
                os.killpg(pgid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(pgid, signal.SIGKILL)
                self.proc.wait(timeout=15)
            except ProcessLookupError:
                pass
            try:  # children that outlived the leader
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()

    def api(self, method: str, path: str, body=None, token: str | None = None):
        """One JSON call with ``Authorization: Token``; raises RuntimeError with the server's answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Token {token or self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                raw = r.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:500]!r}") from None
        return json.loads(raw) if raw else None

    def __enter__(self) -> LabelStudioServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    # a background job ignores SIGINT: let SIGTERM stop the server's process group too
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with LabelStudioServer(sys.argv[1] if len(sys.argv) > 1 else ".venv-labelstudio/bin/label-studio") as server:
        print(f"url={server.url} token={server.token} email={server.email} password={server.password}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
