"""Real local OpenAI-compatible servers for tests (no mocks: real HTTP on 127.0.0.1).

- ``OpenAIServer(model_dir)``: runs ``transformers serve MODEL_DIR --host 127.0.0.1 --port P`` (the
  transformers 5 CLI; FastAPI + Uvicorn) in its own process group, waits for ``/health`` and stops
  the whole group on exit. The server is pinned to the directory, and requests must name the model
  exactly as the directory string (``server.model``).
- ``ScriptedServer(statuses)``: a stdlib ``http.server`` in a thread that answers
  ``/v1/chat/completions`` with the given HTTP statuses in turn (then 200s), and records every request
  (path, headers, body). For retry, budget and API-key tests.
- ``openai_server``: a pytest fixture with the tiny model served once per test session, however
  many test modules import it: ``from openai_server import openai_server  # noqa: F401``.

Example:
    with OpenAIServer(model_dir) as server:
        HttpGenerator(server.url, server.model).generate([[{"role": "user", "content": "hi"}]])
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_command() -> list[str]:
    exe = Path(sys.executable).parent / "transformers"
    found = str(exe) if exe.exists() else shutil.which("transformers")
    if not found:
        raise RuntimeError("the 'transformers' CLI is not installed next to this Python")
    return [found, "serve"]


class OpenAIServer:
    """``transformers serve`` for one local model directory, as a context manager.

    Args:
        model_dir: The model directory to serve (pinned: the only model the server answers for).
        port: Port on 127.0.0.1; default: a free one.
        startup_timeout: Seconds to wait for ``/health`` (cold start here: about 5-10 s).
    """

    def __init__(self, model_dir: str | Path, *, port: int | None = None, startup_timeout: float = 120):
        self.model = str(model_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile("w+", prefix="openai-server-", suffix=".log", delete=False)

    def start(self) -> OpenAIServer:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        cmd = _serve_command() + [
            self.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--device",
            "cpu",
            "--default-seed",
            "0",
        ]
        # A new session: stop() signals the whole process group (uvicorn may fork workers).
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + self.startup_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"transformers serve did not answer /health in {self.startup_timeout} s:\n{self.tail()}")

    def tail(self, n: int = 2000) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-n:]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def completion(content: str, model: str = "scripted") -> dict:
    """A minimal OpenAI chat.completion response body."""
    return {
        "id": "x",
        "object": "chat.completion",
        "model": model,
        "created": 0,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


class ScriptedServer:
    """A stdlib HTTP server answering chat completions with scripted statuses, in a thread.

    Args:
        statuses: HTTP statuses for the first requests, in order (e.g. ``[500, 500]``); later
            requests get 200 with ``reply``.
        reply: The text of a 200 answer; a callable gets the request body and returns the text.
        headers: Extra response headers for the scripted (non-200) answers, e.g. Retry-After.
    """

    def __init__(self, statuses: list[int] = (), reply="ok", headers: dict | None = None):
        self.statuses = list(statuses)
        self.reply = reply
        self.extra_headers = headers or {}
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body: dict, headers: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]}, {})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status = server.statuses.pop(0) if server.statuses else 200
                if status != 200:
                    self._send(status, {"error": {"message": f"scripted {status}"}}, server.extra_headers)
                    return
                text = server.reply(body) if callable(server.reply) else server.reply
                self._send(200, completion(text), {})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def openai_server(request, tiny_model) -> OpenAIServer:
    """The tiny model behind ``transformers serve``, started once per session (shared across modules)."""
    cache = request.config.__dict__.setdefault("_instructkit_openai_servers", {})
    key = str(tiny_model)
    if key not in cache:
        server = OpenAIServer(tiny_model)
        server.__enter__()
        cache[key] = server
        request.config.add_cleanup(lambda: server.__exit__(None, None, None))
    return cache[key]
