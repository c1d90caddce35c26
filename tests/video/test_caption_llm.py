"""Captions from a language model, against a real HTTP server on 127.0.0.1 that plays an OpenAI-compatible chat
endpoint; key frames from a small video written with imageio-ffmpeg.

A good answer replaces the texts and keeps the spans; every failure (bad JSON, another number of captions, one too
long, HTTP 500, a slow server, nothing listening) keeps the offline caption, names why, and returns promptly.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import time

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from fake_chat import ModeChat, base_url, reply, serve
from motionmill.video.caption import Caption, CaptionPart
from motionmill.video.caption_llm import SYSTEM_PROMPT, key_frames, llm_caption

OFFLINE = Caption(
    text="The person walks backward about 2 m slowly. Then the person turns left about 90 degrees.",
    parts=(
        CaptionPart(0.0, 2.5, "walk", "the person walks backward about 2 m slowly",
                    (("direction", "backward"), ("distance", 2.0), ("speed", 0.8))),
        CaptionPart(2.5, 4.0, "turn", "the person turns left about 90 degrees", (("turn", 90), ("side", "left"))),
    ),
    captioner="offline:1",
)  # fmt: skip
GOOD = (
    "Here you go:\n[a person steps backward slowly for a couple of metres.]\n[a person turns to the left.]\n"
    "[a person slowly backs up a couple of metres, then turns a quarter to the left.]"
)


class _FakeChat(ModeChat):
    """The answer to send in each `server.mode` (besides "http500" and a "sleep" first, see `ModeChat`)."""

    payloads = {
        "ok": reply(GOOD),
        "sleep": reply(GOOD),
        "malformed": b'{"choices": [',
        "not_text": json.dumps({"choices": [{"message": {"content": None}}]}).encode(),
        "too_few": reply("[a person steps backward.] [a person backs up.]"),
        "too_many": reply(GOOD + " [and waves.]"),
        "no_brackets": reply("a person steps backward, then turns left."),
        "empty": reply("[a person steps backward.] [ ] [a person backs up and turns.]"),
        "too_long": reply("[a person steps backward.] [" + "a person turns " * 50 + "] [a person backs up.]"),
        "huge": reply("[" + "x" * (1 << 20) + "]"),
    }


@pytest.fixture
def server():
    with serve(_FakeChat, mode="ok") as srv:
        yield srv


def _frame(width: int, height: int, value: int) -> np.ndarray:
    frame = np.full((height, width, 3), value, np.uint8)
    frame[: height // 2, : width // 2] = 255 - value  # some structure, so the JPEG is not trivial
    return frame


def test_a_good_answer_replaces_the_texts_and_keeps_the_spans(server):
    frames = [_frame(64, 48, 40), _frame(64, 48, 200)]
    caption, error = llm_caption(OFFLINE, base_url(server), "qwen2-vl-7b", frames=frames, api_key="secret")
    assert error is None
    assert caption.captioner == "llm:qwen2-vl-7b"
    assert caption.text == "a person slowly backs up a couple of metres, then turns a quarter to the left."
    assert [p.text for p in caption.parts] == ["a person steps backward slowly for a couple of metres.",
                                               "a person turns to the left."]  # fmt: skip
    for new, old in zip(caption.parts, OFFLINE.parts, strict=True):
        assert (new.start, new.end, new.action, new.details) == (old.start, old.end, old.action, old.details)
    assert [(r["start"], r["end"]) for r in caption.texts()] == [(0, 0), (0, 2.5), (2.5, 4)]

    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer secret"
    body = request["body"]
    assert body["model"] == "qwen2-vl-7b"
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["role"] == "user"
    text, *images = user["content"]
    assert text["type"] == "text"
    assert OFFLINE.text in text["text"] and all(p.text in text["text"] for p in OFFLINE.parts)
    assert "0.0-2.5 s" in text["text"] and "3 captions" in text["text"]
    assert len(images) == 2
    for part, sent in zip(images, frames, strict=True):
        assert part["type"] == "image_url"
        prefix, data = part["image_url"]["url"].split(",", 1)
        assert prefix == "data:image/jpeg;base64"
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.format == "JPEG" and image.size == (64, 48)
        assert abs(np.asarray(image.convert("RGB")).astype(float).mean() - sent.mean()) < 4


def test_without_frames_the_message_is_plain_text(server):
    caption, error = llm_caption(OFFLINE, base_url(server) + "/v1", "llama-3.1-8b")
    assert error is None and caption.captioner == "llm:llama-3.1-8b"
    content = server.requests[0]["body"]["messages"][1]["content"]
    assert isinstance(content, str) and OFFLINE.parts[0].text in content


@pytest.mark.parametrize(
    "mode, error",
    [
        ("malformed", "malformed response"),
        ("not_text", "malformed response"),
        ("too_few", "2 bracketed answers, 3 expected"),
        ("too_many", "4 bracketed answers, 3 expected"),
        ("no_brackets", "no bracketed answer"),
        ("empty", "empty answer"),
        ("too_long", "answer too long"),
        ("http500", "HTTP 500"),
        ("huge", "response larger than"),
    ],
)
def test_failures_keep_the_offline_caption(server, mode, error):
    server.mode = mode
    caption, reason = llm_caption(OFFLINE, base_url(server), "m", frames=[_frame(32, 32, 90)], max_chars=200)
    assert caption is OFFLINE
    assert error in reason


def test_a_slow_server_times_out(server):
    server.mode = "sleep"
    start = time.monotonic()
    caption, reason = llm_caption(OFFLINE, base_url(server), "m", timeout=0.5)
    assert time.monotonic() - start < 3.0
    assert caption is OFFLINE and ("timed out" in reason or "timeout" in reason)


def test_nothing_listening_keeps_the_offline_caption():
    with socket.socket() as sock:  # bind a free port, then close it so nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    caption, reason = llm_caption(OFFLINE, f"http://127.0.0.1:{port}", "m", timeout=2.0)
    assert caption is OFFLINE and "refused" in reason.lower()


def test_bad_frames_keep_the_offline_caption_too(server):
    caption, reason = llm_caption(OFFLINE, base_url(server), "m", frames=[np.zeros((4, 4, 5), np.uint8)])
    assert caption is OFFLINE and reason and server.requests == []


def write_video(path, count: int, size=(160, 96), fps: float = 30.0):
    """Frame i is flat grey at 20 + 10 i, so a decoded frame tells its index."""
    writer = imageio_ffmpeg.write_frames(str(path), size, fps=fps, macro_block_size=16, ffmpeg_log_level="error")
    writer.send(None)
    for i in range(count):
        writer.send(np.full((size[1], size[0], 3), 20 + 10 * i, np.uint8))
    writer.close()
    return path


def test_key_frames_returns_the_requested_frames(tmp_path):
    path = write_video(tmp_path / "v.mp4", 20)
    got = key_frames(path, [3, 0, 17, 3])
    assert [f.shape for f in got] == [(96, 160, 3)] * 4 and all(f.dtype == np.uint8 for f in got)
    assert [round((float(f.mean()) - 20) / 10) for f in got] == [3, 0, 17, 3]
    got[0][:] = 0  # the frames are the caller's to change
    assert key_frames(path, []) == []


def test_key_frames_are_scaled_to_max_side(tmp_path):
    path = write_video(tmp_path / "v.mp4", 5)
    (frame,) = key_frames(path, [4], max_side=80)
    assert frame.shape == (48, 80, 3) and abs(float(frame.mean()) - 60) < 4


def test_key_frames_outside_the_video_raise(tmp_path):
    path = write_video(tmp_path / "v.mp4", 5)
    with pytest.raises(IndexError, match="frame 5 asked for, the video has 5 frames"):
        key_frames(path, [1, 5])
    with pytest.raises(ValueError, match="negative"):
        key_frames(path, [-1])
