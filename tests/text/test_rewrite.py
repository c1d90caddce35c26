"""Prompt rewriting against a real HTTP server on 127.0.0.1 that plays an OpenAI-compatible chat endpoint.

Each failure mode (bad JSON, no brackets, HTTP 500, a slow server, nothing listening) must fall back to the original
prompt, record why, and return promptly.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from motionmill.text.rewrite import SYSTEM_PROMPT, chat_completions_url, rewrite_prompt

PROMPT = "Someone strolls ahead and then waves with the right hand"
REWRITE = "a person walks forward, then waves with the right hand."


def _reply(content: str) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


class _FakeChat(BaseHTTPRequestHandler):
    """Answers POSTs according to `server.mode` and records each request on `server.requests`."""

    def do_POST(self):  # noqa: N802 - name fixed by http.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        mode = self.server.mode
        if mode == "http500":
            self.send_error(500, "boom")
            return
        if mode == "sleep":
            self.server.release.wait(5.0)  # far past the client's 0.5 s timeout; released at teardown
        payload = {
            "ok": _reply(f"Sure! [{REWRITE}]"),
            "sleep": _reply(f"[{REWRITE}]"),
            "malformed": b'{"choices": [',
            "no_brackets": _reply(REWRITE),
            "empty": _reply("[   ]"),
            "too_long": _reply("[" + "a person walks " * 100 + "]"),
        }[mode]
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test): nothing left to answer

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _FakeChat)
    srv.daemon_threads, srv.block_on_close = True, False
    srv.mode, srv.requests, srv.release = "ok", [], threading.Event()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def _base(srv) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


def test_success_parses_brackets_and_sends_chat_request(server):
    result = rewrite_prompt(PROMPT, _base(server), "llama-3.1-8b", api_key="secret")
    assert result.used and result.error is None
    assert (result.original, result.rewritten) == (PROMPT, REWRITE)
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer secret"
    assert request["body"]["model"] == "llama-3.1-8b"
    assert request["body"]["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": PROMPT},
    ]


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", "/v1/chat/completions", "/v1/chat/completions/"])
def test_url_with_or_without_v1_and_path(server, suffix):
    result = rewrite_prompt(PROMPT, _base(server) + suffix, "m")
    assert result.used
    assert server.requests[-1]["path"] == "/v1/chat/completions"


def test_chat_completions_url_rule():
    assert chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/api/v2/chat/completions") == "http://h:1/api/v2/chat/completions"


@pytest.mark.parametrize(
    "mode, error",
    [
        ("malformed", "malformed response"),
        ("no_brackets", "no bracketed answer"),
        ("http500", "HTTP 500"),
        ("empty", "empty answer"),
        ("too_long", "answer too long"),
    ],
)
def test_failures_fall_back_to_original(server, mode, error):
    server.mode = mode
    result = rewrite_prompt(PROMPT, _base(server), "m")
    assert not result.used
    assert result.rewritten == result.original == PROMPT
    assert error in result.error


def test_slow_server_times_out(server):
    server.mode = "sleep"
    start = time.monotonic()
    result = rewrite_prompt(PROMPT, _base(server), "m", timeout=0.5)
    assert time.monotonic() - start < 3.0
    assert not result.used and result.rewritten == PROMPT
    assert "timed out" in result.error or "timeout" in result.error


def test_refused_connection_falls_back():
    with socket.socket() as sock:  # bind a free port, then close it so nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    result = rewrite_prompt(PROMPT, f"http://127.0.0.1:{port}", "m", timeout=2.0)
    assert time.monotonic() - start < 3.0
    assert not result.used and result.rewritten == PROMPT
    assert "refused" in result.error.lower()
