"""Optional prompt rewriting: ask an LLM to restate a user's motion description in training-caption style.

MotionMillion rewrites free-form prompts with Llama-3.1-8B-Instruct into the concise style of its captions, keeping
the meaning and the order of actions, and parses the answer from square brackets; on any failure the original
prompt is used (`docs/models.md`, "Prompt rewriting"). We do the same against any OpenAI-compatible chat
endpoint (vLLM, llama.cpp server, Ollama, hosted APIs) with the standard library only, and record why a rewrite
was not used instead of raising: generation must never fail because the rewriter did.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.error
import urllib.request

__all__ = ["SYSTEM_PROMPT", "RewriteResult", "chat_completions_url", "rewrite_prompt"]

SYSTEM_PROMPT = (
    "You rewrite descriptions of human motion into the style of motion-capture training captions. "
    "Rewrite the user's description as one or two concise sentences in the third person that start with "
    "'a person', keep exactly the same meaning and the same order of actions, and add nothing new. "
    "Answer with the rewritten description inside square brackets, for example: "
    "[a person walks forward, then turns left and sits down.]"
)
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


@dataclasses.dataclass(frozen=True)
class RewriteResult:
    """The outcome of one rewrite.

    Attributes:
        original: The prompt as given.
        rewritten: The prompt to use: the rewrite when `used`, otherwise `original`.
        used: Whether the rewrite was accepted.
        error: Why the rewrite was not used (None when it was).
    """

    original: str
    rewritten: str
    used: bool
    error: str | None = None


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


def rewrite_prompt(
    prompt: str,
    url: str,
    model: str,
    timeout: float = 10.0,
    api_key: str | None = None,
    max_chars: int = 400,
) -> RewriteResult:
    """Rewrite `prompt` into training-caption style, falling back to `prompt` on any failure.

    Args:
        prompt: The user's motion description.
        url: The server, with or without ``/v1`` and ``/chat/completions`` (see `chat_completions_url`).
        model: The model name the server expects.
        timeout: Seconds allowed for connecting and for each read.
        api_key: Sent as ``Authorization: Bearer <key>`` when given.
        max_chars: Longest accepted rewrite; longer answers are treated as failures.

    Returns:
        A `RewriteResult`; `error` says what went wrong when the rewrite was not used.
    """
    try:
        answer = _chat(prompt, chat_completions_url(url), model, timeout, api_key)
        rewritten = _parse_answer(answer, max_chars)
    except Exception as err:  # any failure falls back to the original prompt, by design
        return RewriteResult(prompt, prompt, used=False, error=_describe(err))
    return RewriteResult(prompt, rewritten, used=True)


def _chat(prompt: str, endpoint: str, model: str, timeout: float, api_key: str | None) -> str:
    """POST one chat request and return the assistant message's text."""
    body = {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
        "temperature": 0.0,
        "max_tokens": 256,
    }
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(endpoint, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ValueError(f"malformed response: {raw[:200]!r}") from err
    if not isinstance(content, str):
        raise ValueError(f"malformed response: message content is {type(content).__name__}, not text")
    return content


def _parse_answer(answer: str, max_chars: int) -> str:
    """The text inside the first square brackets of `answer`, whitespace-normalised and checked."""
    match = _BRACKETS.search(answer)
    if match is None:
        raise ValueError(f"no bracketed answer in {answer[:200]!r}")
    text = " ".join(match.group(1).split())
    if not text:
        raise ValueError("empty answer")
    if len(text) > max_chars:
        raise ValueError(f"answer too long ({len(text)} > {max_chars} characters)")
    return text


def _describe(err: Exception) -> str:
    """A one-line description of why a rewrite failed."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code}: {err.reason}"
    if isinstance(err, urllib.error.URLError):
        err = err.reason if isinstance(err.reason, Exception) else err
    if isinstance(err, TimeoutError):
        return f"timeout: {err}"
    return f"{type(err).__name__}: {err}"
