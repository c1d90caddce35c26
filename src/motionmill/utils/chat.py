"""One request to an OpenAI-compatible chat-completions endpoint, with the standard library only.

Shared by the optional language-model steps: prompt rewriting (`text/rewrite.py`) and captions from key frames
(`video/caption_llm.py`). Both send one chat request (vLLM, llama.cpp server, Ollama, hosted APIs all accept the same
body), read the answer from square brackets, and fall back to what they had on any failure, recording a one-line
reason: a step that only polishes text must never stop the work around it.

The request is bounded every way a misbehaving server could stretch it:
- time: `timeout` for connecting and for each read, and `total_timeout` (default twice `timeout`) for the whole
  exchange, connecting, status line, headers and body alike. A watchdog shuts the connection's socket down when the
  total runs out, so a server that trickles its headers or body a byte at a time is cut off then, not when it stops;
  the call fails with TimeoutError. (Only a slow DNS lookup of the host name is outside the watchdog's reach.)
- size: `max_bytes` (1 MiB) of body. A Content-Length above it is refused before the body is read, and a body that
  streams without end is cut off once it passes the limit, not when memory runs out.
- place: redirects are refused (a 3xx answer is an HTTPError, "redirect to URL refused"), so the request, its
  messages and the ``Authorization`` header only ever go to the URL given; only http:// and https:// URLs are used.

Messages are OpenAI's: ``{"role": ..., "content": ...}`` where content is a string or a list of parts,
`text_part` and `image_part` (a JPEG as a ``data:`` URL), the form vision-language models accept.
"""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import numpy as np

__all__ = [
    "MAX_RESPONSE_BYTES",
    "chat",
    "chat_completions_url",
    "describe_error",
    "image_part",
    "parse_bracketed",
    "parse_bracketed_list",
    "text_part",
]

MAX_RESPONSE_BYTES = 1 << 20
"""Largest response body read (1 MiB): a chat answer of a few hundred tokens is a few kB."""
_CHUNK = 64 * 1024
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def chat_completions_url(url: str) -> str:
    """The chat-completions endpoint for a server URL.

    Rule: trailing slashes are dropped; a URL already ending in ``/chat/completions`` is used as is; one ending in
    ``/v1`` gets ``/chat/completions``; any other gets ``/v1/chat/completions``. So ``http://host:8000``,
    ``http://host:8000/v1`` and ``http://host:8000/v1/chat/completions`` all reach the same endpoint. (A server
    with a versioned prefix other than ``/v1`` must be given its full ``.../chat/completions`` URL.)
    """
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


def text_part(text: str) -> dict:
    """A text part of a multimodal message's content."""
    return {"type": "text", "text": text}


def image_part(image: np.ndarray, quality: int = 85) -> dict:
    """An image part of a multimodal message's content: an (H, W, 3) uint8 RGB array as a base64 JPEG data URL.

    Needs Pillow (the `render` extra).
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="JPEG", quality=quality)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}}


def chat(
    messages: list[dict],
    url: str,
    model: str,
    timeout: float = 10.0,
    api_key: str | None = None,
    max_tokens: int = 256,
    total_timeout: float | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> str:
    """POST one chat request and return the assistant message's text.

    Args:
        messages: OpenAI chat messages; a message's content may be a string or a list of `text_part`/`image_part`.
        url: The server, with or without ``/v1`` and ``/chat/completions`` (see `chat_completions_url`).
        model: The model name the server expects.
        timeout: Seconds allowed for connecting and for each read.
        api_key: Sent as ``Authorization: Bearer <key>`` when given (and never to another address: redirects are
            refused).
        max_tokens: The answer's length limit asked of the server.
        total_timeout: Seconds allowed for the whole exchange (default: twice `timeout`), enforced by shutting the
            connection down, however the server sends its answer.
        max_bytes: Largest response body accepted.

    Raises:
        urllib.error.URLError, urllib.error.HTTPError, OSError: the server could not be reached, or answered with an
            error status or a redirect.
        TimeoutError: no complete answer within `timeout` of silence or `total_timeout` in all.
        ValueError: the URL is not http(s), or the response is larger than `max_bytes` or is not a chat completion
            with text content.
    """
    total = 2 * timeout if total_timeout is None else total_timeout
    endpoint = chat_completions_url(url)
    if urlsplit(endpoint).scheme not in ("http", "https"):
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    body = {"model": model, "messages": messages, "temperature": 0.0, "max_tokens": max_tokens}
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(endpoint, data=json.dumps(body).encode(), headers=headers, method="POST")
    deadline = _Deadline(total)
    opener = urllib.request.build_opener(_RefuseRedirects, _HTTPHandler(deadline), _HTTPSHandler(deadline))
    try:
        with opener.open(request, timeout=timeout) as response:
            raw = _read_bounded(response, deadline, max_bytes)
        if not deadline.finish():  # the watchdog ended the body early, so it may look complete but is not
            raise TimeoutError(f"no complete answer within {total:g} s")
    except Exception as err:
        deadline.finish()
        if deadline.expired and not isinstance(err, TimeoutError):
            raise TimeoutError(f"no complete answer within {total:g} s") from err
        raise
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ValueError(f"malformed response: {raw[:200]!r}") from err
    if not isinstance(content, str):
        raise ValueError(f"malformed response: message content is {type(content).__name__}, not text")
    return content


def _read_bounded(response, deadline: _Deadline, max_bytes: int) -> bytes:
    """The response body, read until the end, the deadline or `max_bytes`, whichever comes first."""
    announced = response.headers.get("Content-Length", "").strip()
    if announced.isascii() and announced.isdigit() and len(announced) < 20 and int(announced) > max_bytes:
        raise ValueError(f"response larger than {max_bytes} bytes ({int(announced)} announced)")
    chunks, size = [], 0
    while True:
        if deadline.expired:
            raise TimeoutError(f"no complete answer within {deadline.seconds:g} s")
        # read1 returns after one socket read, so the deadline is checked however slowly the bytes come
        chunk = response.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ValueError(f"response larger than {max_bytes} bytes")
        chunks.append(chunk)


class _Deadline:
    """The time limit of one exchange: when it passes, every socket opened for the exchange is shut down, which ends
    any read or write blocked on it at once (a per-read timeout alone lets a server that sends a byte now and then
    stretch the exchange without end). `finish()` stops the watchdog; it returns False if the time had run out."""

    def __init__(self, seconds: float):
        self.seconds, self.end = seconds, time.monotonic() + seconds
        self.expired = self._finished = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def finish(self) -> bool:
        with self._lock:
            self._finished = True
            self._timer.cancel()
            return not self.expired

    def watch(self, sock: socket.socket) -> socket.socket:
        """Shut `sock` down when the time runs out (at once if it has)."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut_down(sock)
        return sock

    def timeout(self, timeout) -> float:
        """`timeout` (seconds for one connect or read) shortened to the time left; TimeoutError if none is."""
        left = self.end - time.monotonic()
        if left <= 0 or self.expired:
            raise TimeoutError(f"no complete answer within {self.seconds:g} s")
        return min(timeout, left) if isinstance(timeout, (int, float)) else left

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for sock in self._sockets:
                _shut_down(sock)

    def connection_class(self, cls: type) -> type:
        """`cls` (an http.client connection class) with its sockets watched and its timeouts within the deadline."""
        deadline = self

        class Watched(cls):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                create = self._create_connection  # the raw TCP socket, before any proxy tunnel or TLS handshake
                self._create_connection = lambda *a, **kw: deadline.watch(create(*a, **kw))

            def connect(self):
                self.timeout = deadline.timeout(self.timeout)
                super().connect()
                deadline.watch(self.sock)  # the TLS socket, for https

        return Watched


def _shut_down(sock: socket.socket) -> None:
    try:  # the plain socket call, also for a TLS socket: it ends a blocked read without touching the TLS state
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed, or handed over to the TLS socket that wraps it


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self._deadline = deadline

    def do_open(self, http_class, req, **kwargs):
        return super().do_open(self._deadline.connection_class(http_class), req, **kwargs)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self._deadline = deadline

    def do_open(self, http_class, req, **kwargs):
        return super().do_open(self._deadline.connection_class(http_class), req, **kwargs)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Every redirect is an error: following one would send the messages and the API key to another address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl[:200]} refused", headers, fp)


def parse_bracketed(answer: str, max_chars: int) -> str:
    """The text inside the first square brackets of `answer`, whitespace-normalised and checked.

    Raises:
        ValueError: no brackets, an empty text, or one longer than `max_chars`.
    """
    match = _BRACKETS.search(answer)
    if match is None:
        raise ValueError(f"no bracketed answer in {answer[:200]!r}")
    return _checked(match.group(1), max_chars)


def parse_bracketed_list(answer: str, count: int, max_chars: int) -> list[str]:
    """The texts inside exactly `count` square brackets of `answer`, in order, whitespace-normalised and checked.

    Raises:
        ValueError: another number of bracketed texts, an empty one, or one longer than `max_chars`.
    """
    found = _BRACKETS.findall(answer)
    if not found:
        raise ValueError(f"no bracketed answer in {answer[:200]!r}")
    if len(found) != count:
        raise ValueError(f"{len(found)} bracketed answers, {count} expected")
    return [_checked(text, max_chars) for text in found]


def _checked(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    if not text:
        raise ValueError("empty answer")
    if len(text) > max_chars:
        raise ValueError(f"answer too long ({len(text)} > {max_chars} characters)")
    return text


def describe_error(err: Exception) -> str:
    """A one-line description of why a request or its answer failed."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code}: {err.reason}"
    if isinstance(err, urllib.error.URLError):
        err = err.reason if isinstance(err.reason, Exception) else err
    if isinstance(err, TimeoutError):
        return f"timeout: {err}"
    return f"{type(err).__name__}: {err}"
