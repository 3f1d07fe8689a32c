"""Secrets never printed or stored (issue 16): userinfo, query strings and tokens in URLs, and whatever a
server echoes back (an Authorization header included), in synth and annotate-import messages.

A real local HTTP server (stdlib, in a thread) answers every request with 401 and a body that echoes
the request's full path and headers, the worst case of a chatty proxy.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from instructkit.redact import join_path, redact, redact_url

SEEDS = Path(__file__).parent / "data" / "synth_seeds.jsonl"
KEY = "sk-header-secret-0123456789"
QUERY_KEY = "sk-query-secret-987"


class EchoServer:
    """Answers 401 with ``{"error": ..., "path": ..., "headers": ...}``; records each request."""

    def __init__(self):
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                server.requests.append({"path": self.path, "headers": dict(self.headers)})
                body = json.dumps({"error": "bad key", "path": self.path, "headers": dict(self.headers)}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _clean(text: str) -> None:
    for secret in (KEY, QUERY_KEY, "hunter2"):
        assert secret not in text, text


def test_redaction_rules():
    assert redact_url("https://bob:hunter2@h:8443/v1?api_key=sk-1&v=2#f") == "https://***@h:8443/v1?api_key=***&v=***"
    text = redact(
        f'{{"auth": "Authorization: Bearer {KEY}", "url": "http://u:hunter2@h/x?token={QUERY_KEY}", "password": "pw99"}}',
        [KEY],
    )
    _clean(text)
    assert "pw99" not in text and "http://***@h/x?token=***" in text
    assert (
        join_path("http://h/ls?tok=1", "/api/export?exportType=JSON") == "http://h/ls/api/export?tok=1&exportType=JSON"
    )


def test_synth_over_http_prints_no_secret(cli, tmp_path, monkeypatch):
    """Was: the whole URL (?api_key=...) and the server's body (the echoed bearer token) on stderr; the
    path was appended after the query (``/v1?api_key=...//chat/completions``)."""
    monkeypatch.setenv("SECRET_TEST_KEY", KEY)
    with EchoServer() as server:
        url = f"{server.url}/v1?api_key={QUERY_KEY}"
        result = cli(
            "synth",
            "--seeds",
            SEEDS,
            "--generator",
            url,
            "--model",
            "m",
            "--api-key-env",
            "SECRET_TEST_KEY",
            "-o",
            tmp_path / "out",
            "-n",
            "2",
            ok=False,
        )
    line = result.output.strip()
    assert result.exit_code == 2 and "Traceback" not in line and line.count("\n") == 0, line
    _clean(line)
    assert f"{server.url}/v1/chat/completions?api_key=*** answered HTTP 401" in line
    assert "Bearer ***" in line or "Authorization" not in line
    # the path went before the query, and the key went in the header, not the URL
    assert server.requests[0]["path"] == f"/v1/chat/completions?api_key={QUERY_KEY}"
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("manifest.json"))


def test_synth_refuses_userinfo_in_the_url(cli, tmp_path, monkeypatch):
    """Was: httpx sent user:password@ as Basic auth instead of the API key."""
    monkeypatch.setenv("SECRET_TEST_KEY", KEY)
    with EchoServer() as server:
        url = server.url.replace("http://", "http://bob:hunter2@") + "/v1"
        args = ["synth", "--seeds", SEEDS, "--generator", url, "--model", "m", "--api-key-env", "SECRET_TEST_KEY"]
        result = cli(*args, "-o", tmp_path / "out", ok=False)
    line = result.output.strip()
    assert result.exit_code == 2 and line.count("\n") == 0, line
    _clean(line)
    assert line.startswith(
        f"error: the server URL {server.url.replace('http://', 'http://***@')}/v1 holds user:password@"
    )
    assert "SECRET_TEST_KEY" in line and server.requests == []  # nothing was sent


def test_label_studio_messages_print_no_secret(cli, tmp_path, monkeypatch):
    """annotate-import --label-studio-url: the 401 body echoing the token, and the URL's query, are masked."""
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", KEY)
    with EchoServer() as server:
        url = f"{server.url}/ls?token={QUERY_KEY}"
        result = cli("annotate-import", "-o", tmp_path / "o", "--label-studio-url", url, "--project", "3", ok=False)
        userinfo = cli(
            "annotate-import",
            "-o",
            tmp_path / "o",
            "--label-studio-url",
            server.url.replace("http://", "http://bob:hunter2@"),
            "--project",
            "3",
            ok=False,
        )
    line = result.output.strip()
    assert result.exit_code == 2 and line.count("\n") == 0, line
    _clean(line)
    assert f"Label Studio GET {server.url}/ls/api/projects/3/export?token=***&exportType=***" in line
    assert server.requests[0]["path"].startswith(f"/ls/api/projects/3/export?token={QUERY_KEY}&exportType=JSON")
    assert server.requests[0]["headers"]["Authorization"] == f"Token {KEY}"
    assert userinfo.exit_code == 2 and "holds user:password@" in userinfo.output
    _clean(userinfo.output)
    assert len(server.requests) == 1


@pytest.mark.parametrize("body", [f"Authorization: Bearer {KEY}", f"your key {KEY} is wrong", f"token={KEY}"])
def test_http_generator_masks_echoed_keys(body, monkeypatch):
    """The key actually sent is masked in any shape a server echoes it back."""
    from instructkit.generation import HttpGenerator

    class Resp:
        text = body

    monkeypatch.setenv("SECRET_TEST_KEY", KEY)
    gen = HttpGenerator.__new__(HttpGenerator)  # no server needed: only the message helper is under test
    gen.api_key_env = "SECRET_TEST_KEY"
    _clean(gen._body(Resp()))
