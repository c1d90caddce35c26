"""Prompt rewriting against misbehaving chat servers on 127.0.0.1: one that trickles its status line and headers, one
that announces or sends a huge body, and one that redirects elsewhere. Each call must fall back to the original prompt
within its deadline, without reading the body whole and without sending the API key anywhere else."""

from __future__ import annotations

import time

import pytest

from fake_chat import QuietHandler, base_url, reply, serve
from motionmill.text.rewrite import rewrite_prompt
from motionmill.utils.chat import MAX_RESPONSE_BYTES, chat

PROMPT = "someone walks"
MESSAGES = [{"role": "user", "content": "hello"}]


class _Misbehaving(QuietHandler):
    """Answers POSTs according to `server.mode`:
    "headers": the status line and a long header, one byte every `server.interval` seconds (for at most 8 s);
    "announced": a Content-Length of 200 MB, ten bytes, then nothing until the server stops;
    "endless": 200 MB without a Content-Length, counting on `server.sent` what the client accepted;
    "redirect": status `server.status` pointing at `server.location`."""

    def do_POST(self):  # noqa: N802 - name fixed by http.server
        self.server.requests.append(self.read_json())
        mode = self.server.mode
        try:
            if mode == "headers":
                head = b"HTTP/1.0 200 OK\r\nX-Pad: " + b"a" * 1000
                started = time.monotonic()
                for i in range(len(head)):
                    if self.server.release.wait(self.server.interval) or time.monotonic() - started > 8:
                        return
                    self.wfile.write(head[i : i + 1])
                    self.wfile.flush()
            elif mode == "announced":
                self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n")
                self.wfile.write(b'Content-Length: 200000000\r\n\r\n{"choices"')
                self.wfile.flush()
                self.server.release.wait(5.0)
            elif mode == "endless":
                self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
                block = b"x" * 65536
                for _ in range(200_000_000 // len(block)):
                    self.wfile.write(block)
                    self.server.sent += len(block)
            elif mode == "redirect":
                self.send_response(self.server.status)
                self.send_header("Location", self.server.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should


class _Elsewhere(QuietHandler):
    """Where redirects point: records every request's method, path and Authorization, and answers a rewrite."""

    def _answer(self):
        self.server.requests.append((self.command, self.path, self.headers.get("Authorization")))
        if self.command == "POST":
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_json(reply("[a person walks.]"))

    do_GET = do_POST = _answer  # noqa: N815 - names fixed by http.server


@pytest.fixture
def server():
    with serve(_Misbehaving, mode="headers", interval=0.05, sent=0, status=302, location="") as srv:
        yield srv


def test_a_server_trickling_its_headers_is_cut_off_at_the_deadline(server):
    started = time.monotonic()
    result = rewrite_prompt(PROMPT, base_url(server), "m", timeout=0.5)  # each byte comes well within 0.5 s
    elapsed = time.monotonic() - started
    assert not result.used and result.rewritten == PROMPT
    assert result.error == "timeout: no complete answer within 1 s"
    assert elapsed < 1.6, elapsed
    started = time.monotonic()
    result = rewrite_prompt(PROMPT, base_url(server), "m", timeout=0.5, total_timeout=0.3)
    assert result.error == "timeout: no complete answer within 0.3 s"
    assert time.monotonic() - started < 0.9
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="no complete answer within 0.3 s"):
        chat(MESSAGES, base_url(server), "m", timeout=0.5, total_timeout=0.3)
    assert time.monotonic() - started < 0.9


def test_an_announced_body_over_the_limit_is_refused_before_reading_it(server):
    server.mode = "announced"
    started = time.monotonic()
    result = rewrite_prompt(PROMPT, base_url(server), "m", timeout=3.0)
    assert not result.used
    assert result.error == f"ValueError: response larger than {MAX_RESPONSE_BYTES} bytes (200000000 announced)"
    assert time.monotonic() - started < 1.5  # not after a read timeout waiting for the rest


def test_an_endless_body_is_cut_off_at_the_limit(server):
    server.mode = "endless"
    started = time.monotonic()
    result = rewrite_prompt(PROMPT, base_url(server), "m", timeout=3.0)
    assert not result.used and result.error == f"ValueError: response larger than {MAX_RESPONSE_BYTES} bytes"
    assert time.monotonic() - started < 3.0
    time.sleep(0.2)
    assert server.sent < 64 * MAX_RESPONSE_BYTES  # socket buffers at most, not the 200 MB


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_refused_and_the_key_goes_nowhere_else(server, status):
    with serve(_Elsewhere) as elsewhere:
        server.mode, server.status = "redirect", status
        server.location = base_url(elsewhere) + "/v1/chat/completions"
        result = rewrite_prompt(PROMPT, base_url(server), "m", timeout=3.0, api_key="secret")
        assert not result.used
        assert result.error.startswith(f"HTTP {status}: redirect to {server.location} refused")
        assert elsewhere.requests == []
    assert len(server.requests) == 1
