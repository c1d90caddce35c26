"""One request to an OpenAI-compatible chat-completions endpoint, with the standard library only.

Shared by the optional language-model steps: prompt rewriting (`text/rewrite.py`) and captions from key frames
(`video/caption_llm.py`). Both send one chat request (vLLM, llama.cpp server, Ollama, hosted APIs all accept the same
body), read the answer from square brackets, and fall back to what they had on any failure, recording a one-line
reason: a step that only polishes text must never stop the work around it.

The request is bounded every way a misbehaving server could stretch it: `timeout` for connecting and for each read,
`total_timeout` for the whole exchange (checked between reads of the body, so a server that trickles bytes is cut off
at most one `timeout` after it), and `max_bytes` for the body read (a server that streams without end is cut off
there, not when memory runs out).

Messages are OpenAI's: ``{"role": ..., "content": ...}`` where content is a string or a list of parts,
`text_part` and `image_part` (a JPEG as a ``data:`` URL), the form vision-language models accept.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import urllib.error
import urllib.request

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
        api_key: Sent as ``Authorization: Bearer <key>`` when given.
        max_tokens: The answer's length limit asked of the server.
        total_timeout: Seconds allowed for the whole exchange (default: twice `timeout`); checked between reads.
        max_bytes: Largest response body accepted.

    Raises:
        urllib.error.URLError, urllib.error.HTTPError, OSError, TimeoutError: the server could not be reached, or
            answered with an error status, or too slowly.
        ValueError: the response is larger than `max_bytes` or is not a chat completion with text content.
    """
    start = time.monotonic()
    total = 2 * timeout if total_timeout is None else total_timeout
    body = {"model": model, "messages": messages, "temperature": 0.0, "max_tokens": max_tokens}
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(
        chat_completions_url(url), data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = _read_bounded(response, start + total, total, max_bytes)
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ValueError(f"malformed response: {raw[:200]!r}") from err
    if not isinstance(content, str):
        raise ValueError(f"malformed response: message content is {type(content).__name__}, not text")
    return content


def _read_bounded(response, deadline: float, total: float, max_bytes: int) -> bytes:
    """The response body, read until the end, `deadline` (monotonic seconds) or `max_bytes`, whichever comes first."""
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no complete answer within {total:g} s")
        # read1 returns after one socket read, so the deadline is checked however slowly the bytes come
        chunk = response.read1(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ValueError(f"response larger than {max_bytes} bytes")
        chunks.append(chunk)


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
