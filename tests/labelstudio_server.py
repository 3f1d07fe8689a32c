"""Start and stop a real Label Studio server for the integration test (and for manual checks).

Label Studio lives in its own virtual environment (``make labelstudio``: about 1 GB with its own
pins). The server runs on 127.0.0.1 with SQLite in a temporary data dir, in a new process session,
so stopping it kills the whole group (the PID we get may be a wrapper around Django).

Usage from a shell: ``python tests/labelstudio_server.py .venv-labelstudio/bin/label-studio`` prints
the URL and token and waits for Ctrl-C.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
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

    def start(self) -> LabelStudioServer:
        env = dict(os.environ)
        env.update({
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir), "LABEL_STUDIO_USERNAME": self.email,
            "LABEL_STUDIO_PASSWORD": self.password, "LABEL_STUDIO_USER_TOKEN": self.token,
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true", "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "DJANGO_DB": "sqlite", "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false",
        })
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.executable, "start", "--no-browser", "--port", str(self.port), "--internal-host", "127.0.0.1",
             "--data-dir", str(self.data_dir)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + STARTUP_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"label-studio exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as r:
                    if r.status == 200:
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
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers={
            "Authorization": f"Token {token or self.token}", "Content-Type": "application/json"})
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
