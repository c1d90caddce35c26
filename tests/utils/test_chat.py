"""The shared chat request: its limits on the response's size and on the whole exchange's time, against a real HTTP
server on 127.0.0.1, for the request itself and for both of its users (prompt rewriting, LLM captions); the
bracketed-answer parsing; image parts."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest
from PIL import Image

from fake_chat import QuietHandler, base_url, reply, serve
from motionmill.text.rewrite import rewrite_prompt
from motionmill.utils.chat import (
    MAX_RESPONSE_BYTES,
    chat,
    chat_completions_url,
    describe_error,
    image_part,
    parse_bracketed,
    parse_bracketed_list,
    text_part,
)
from motionmill.video.caption import Caption, CaptionPart
from motionmill.video.caption_llm import llm_caption

MESSAGES = [{"role": "user", "content": "hello"}]


class _FakeChat(QuietHandler):
    """Answers POSTs according to `server.mode`: "ok" (`server.answer`), "big" (a body of `server.size` bytes, with
    or without a Content-Length), "trickle" (a valid answer, one byte every `server.interval` seconds)."""

    def do_POST(self):  # noqa: N802 - name fixed by http.server
        self.server.requests.append(self.read_json())
        mode = self.server.mode
        if mode == "ok":
            self.send_json(reply(self.server.answer))
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if mode in ("big", "big_unsized"):
                payload = reply("[" + "x" * self.server.size + "]")
                if mode == "big":
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()  # without a length, the body ends when the connection closes (HTTP/1.0)
                for i in range(0, len(payload), 65536):
                    self.wfile.write(payload[i : i + 65536])
            elif mode == "trickle":
                payload = reply("[" + self.server.answer + "]")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                for i in range(len(payload)):
                    if self.server.release.wait(self.server.interval):
                        return
                    self.wfile.write(payload[i : i + 1])
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the size and deadline tests): nothing left to answer


@pytest.fixture
def server():
    with serve(_FakeChat, mode="ok", answer="[fine]", size=100, interval=0.05) as srv:
        yield srv


def test_chat_sends_the_request_and_returns_the_text(server):
    assert chat(MESSAGES, base_url(server), "m", max_tokens=77) == "[fine]"
    (body,) = server.requests
    assert body == {"model": "m", "messages": MESSAGES, "temperature": 0.0, "max_tokens": 77}


@pytest.mark.parametrize("mode", ["big", "big_unsized"])
def test_a_response_larger_than_max_bytes_is_refused(server, mode):
    server.mode, server.size = mode, 5000
    assert chat(MESSAGES, base_url(server), "m", max_bytes=10_000).startswith("[xxx")  # under the limit: read
    with pytest.raises(ValueError, match="response larger than 1000 bytes"):
        chat(MESSAGES, base_url(server), "m", max_bytes=1000)


def test_the_default_size_limit_is_one_mebibyte(server):
    server.mode, server.size = "big", MAX_RESPONSE_BYTES
    with pytest.raises(ValueError, match=f"response larger than {MAX_RESPONSE_BYTES} bytes"):
        chat(MESSAGES, base_url(server), "m")


def test_a_trickling_server_is_cut_off_at_the_total_timeout(server):
    server.mode, server.answer = "trickle", "a person walks forward and keeps walking for a long time"
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="no complete answer within 0.6 s") as caught:
        chat(MESSAGES, base_url(server), "m", timeout=0.5, total_timeout=0.6)
    assert time.monotonic() - start < 1.5  # each byte comes well within `timeout`: only the total stops it
    assert describe_error(caught.value) == "timeout: no complete answer within 0.6 s"


def test_a_slow_but_steady_answer_within_the_total_timeout_is_read(server):
    server.mode, server.answer, server.interval = "trickle", "ok", 0.01  # about 0.7 s in all
    assert chat(MESSAGES, base_url(server), "m", timeout=0.5, total_timeout=10.0).endswith("[ok]")


OFFLINE = Caption("the person walks.", (CaptionPart(0.0, 2.0, "walk", "the person walks"),), "offline:1")


def _rewrite(url: str, timeout: float = 10.0) -> str | None:
    return rewrite_prompt("someone walks", url, "m", timeout=timeout).error


def _caption(url: str, timeout: float = 10.0) -> str | None:
    return llm_caption(OFFLINE, url, "m", timeout=timeout)[1]


@pytest.mark.parametrize("user", [_rewrite, _caption], ids=["rewrite", "caption"])
def test_both_users_fall_back_on_a_huge_response(server, user):
    server.mode, server.size = "big_unsized", MAX_RESPONSE_BYTES
    assert f"response larger than {MAX_RESPONSE_BYTES} bytes" in user(base_url(server))


@pytest.mark.parametrize("user", [_rewrite, _caption], ids=["rewrite", "caption"])
def test_both_users_give_up_after_twice_the_timeout(server, user):
    server.mode, server.answer = "trickle", "a person walks forward and keeps walking for a long time"
    start = time.monotonic()
    error = user(base_url(server), timeout=0.4)
    assert time.monotonic() - start < 1.5
    assert error == "timeout: no complete answer within 0.8 s"


def test_chat_completions_url_rule():
    assert chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/api/v2/chat/completions/") == "http://h:1/api/v2/chat/completions"


def test_parse_bracketed_takes_the_first_answer():
    assert parse_bracketed("Sure: [ a person\n walks. ] or [something else]", 100) == "a person walks."
    with pytest.raises(ValueError, match="no bracketed answer"):
        parse_bracketed("a person walks.", 100)
    with pytest.raises(ValueError, match="empty answer"):
        parse_bracketed("[ ]", 100)
    with pytest.raises(ValueError, match=r"answer too long \(11 > 10 characters\)"):
        parse_bracketed("[abcdefghijk]", 10)


def test_parse_bracketed_list_wants_exactly_count_answers():
    assert parse_bracketed_list("[a] then [ b  c ]\n[d]", 3, 10) == ["a", "b c", "d"]
    with pytest.raises(ValueError, match="2 bracketed answers, 3 expected"):
        parse_bracketed_list("[a] [b]", 3, 10)
    with pytest.raises(ValueError, match="4 bracketed answers, 3 expected"):
        parse_bracketed_list("[a] [b] [c] [d]", 3, 10)
    with pytest.raises(ValueError, match="no bracketed answer"):
        parse_bracketed_list("a b c", 3, 10)
    with pytest.raises(ValueError, match="empty answer"):
        parse_bracketed_list("[a] [] [c]", 3, 10)
    with pytest.raises(ValueError, match="answer too long"):
        parse_bracketed_list("[a] [bbbbbbbbbbbb] [c]", 3, 10)


def test_image_and_text_parts_have_openais_form():
    assert text_part("hi") == {"type": "text", "text": "hi"}
    frame = np.zeros((30, 50, 3), np.uint8)
    frame[:, 25:] = 255
    part = image_part(frame)
    assert part["type"] == "image_url" and set(part["image_url"]) == {"url"}
    prefix, data = part["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/jpeg;base64"
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    assert image.format == "JPEG" and image.size == (50, 30)
    pixels = np.asarray(image.convert("RGB")).astype(float)
    assert pixels[:, :20].mean() < 10 and pixels[:, 30:].mean() > 245
