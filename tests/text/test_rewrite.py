"""Prompt rewriting against a real HTTP server on 127.0.0.1 that plays an OpenAI-compatible chat endpoint.

Each failure mode (bad JSON, no brackets, HTTP 500, a slow server, nothing listening) must fall back to the original
prompt, record why, and return promptly.
"""

from __future__ import annotations

import socket
import time

import pytest

from fake_chat import ModeChat, base_url, reply, serve
from motionmill.text.rewrite import SYSTEM_PROMPT, chat_completions_url, rewrite_prompt

PROMPT = "Someone strolls ahead and then waves with the right hand"
REWRITE = "a person walks forward, then waves with the right hand."


class _FakeChat(ModeChat):
    """The answer to send in each `server.mode` (besides "http500" and a "sleep" first, see `ModeChat`)."""

    payloads = {
        "ok": reply(f"Sure! [{REWRITE}]"),
        "sleep": reply(f"[{REWRITE}]"),
        "malformed": b'{"choices": [',
        "no_brackets": reply(REWRITE),
        "empty": reply("[   ]"),
        "too_long": reply("[" + "a person walks " * 100 + "]"),
    }


@pytest.fixture
def server():
    with serve(_FakeChat, mode="ok") as srv:
        yield srv


def test_success_parses_brackets_and_sends_chat_request(server):
    result = rewrite_prompt(PROMPT, base_url(server), "llama-3.1-8b", api_key="secret")
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
    result = rewrite_prompt(PROMPT, base_url(server) + suffix, "m")
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
    result = rewrite_prompt(PROMPT, base_url(server), "m")
    assert not result.used
    assert result.rewritten == result.original == PROMPT
    assert error in result.error


def test_slow_server_times_out(server):
    server.mode = "sleep"
    start = time.monotonic()
    result = rewrite_prompt(PROMPT, base_url(server), "m", timeout=0.5)
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
