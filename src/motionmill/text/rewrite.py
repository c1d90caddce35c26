"""Optional prompt rewriting: ask an LLM to restate a user's motion description in training-caption style.

MotionMillion rewrites free-form prompts with Llama-3.1-8B-Instruct into the concise style of its captions, keeping
the meaning and the order of actions, and parses the answer from square brackets; on any failure the original
prompt is used (`docs/models.md`, "Prompt rewriting"). We do the same against any OpenAI-compatible chat
endpoint (vLLM, llama.cpp server, Ollama, hosted APIs) with the standard library only (`utils/chat.py`, shared with
the video captioner), and record why a rewrite was not used instead of raising: generation must never fail because
the rewriter did.

The request's limits are those of `utils/chat.py`: no answer within `timeout` of silence, or no complete answer within
`total_timeout` (default twice `timeout`) however the server trickles it, a response over 1 MiB (refused from its
Content-Length when it announces one, else cut off there), an error status and any redirect all count as failures;
redirects are refused rather than followed, so the API key is only ever sent to the URL given.
"""

from __future__ import annotations

import dataclasses

from motionmill.utils.chat import chat, chat_completions_url, describe_error, parse_bracketed

__all__ = ["SYSTEM_PROMPT", "RewriteResult", "chat_completions_url", "rewrite_prompt"]

SYSTEM_PROMPT = (
    "You rewrite descriptions of human motion into the style of motion-capture training captions. "
    "Rewrite the user's description as one or two concise sentences in the third person that start with "
    "'a person', keep exactly the same meaning and the same order of actions, and add nothing new. "
    "Answer with the rewritten description inside square brackets, for example: "
    "[a person walks forward, then turns left and sits down.]"
)


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


def rewrite_prompt(
    prompt: str,
    url: str,
    model: str,
    timeout: float = 10.0,
    api_key: str | None = None,
    max_chars: int = 400,
    total_timeout: float | None = None,
) -> RewriteResult:
    """Rewrite `prompt` into training-caption style, falling back to `prompt` on any failure.

    Args:
        prompt: The user's motion description.
        url: The server, with or without ``/v1`` and ``/chat/completions`` (see `chat_completions_url`).
        model: The model name the server expects.
        timeout: Seconds allowed for connecting and for each read; the whole exchange is abandoned after twice this.
        api_key: Sent as ``Authorization: Bearer <key>`` when given, to `url` only (redirects are refused).
        max_chars: Longest accepted rewrite; longer answers are treated as failures.
        total_timeout: Seconds allowed for the whole exchange instead of twice `timeout`.

    Returns:
        A `RewriteResult`; `error` says what went wrong when the rewrite was not used.
    """
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}]
    try:
        answer = chat(messages, url, model, timeout, api_key, total_timeout=total_timeout)
        rewritten = parse_bracketed(answer, max_chars)
    except Exception as err:  # any failure falls back to the original prompt, by design
        return RewriteResult(prompt, prompt, used=False, error=describe_error(err))
    return RewriteResult(prompt, rewritten, used=True)
