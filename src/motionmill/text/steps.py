"""Split a prompt into the steps it describes one after another.

"A man walks forward, then turns left. After that, he sits down." -> ["A man walks forward", "turns left",
"he sits down"]. The pipeline's step-by-step sampling (`compose`) generates each step from its own text and joins
them, because a small generator follows a short description far better than a long one that lists several
actions. The rules are English sequencing words only: sentence ends; "then", "and then", "next", "after that",
"afterwards", "finally", "once done", "followed by", "and ends by"; "before" and a leading "after" when a gerund
follows ("waves before jumping", "After jumping, she waves"). Words of simultaneity ("while", "as", "at the same
time") and plain "and" never split: what happens together stays one step.
"""

from __future__ import annotations

import re

__all__ = ["split_steps"]

_BOUNDARY = re.compile(
    r"[.!?;]+\s+"  # sentence ends
    r"|,?\s+and\s+then\s+|,?\s*\bthen\s+"
    r"|,?\s+(?:and\s+)?finally\s+|,?\s+followed\s+by\s+|,?\s+and\s+ends\s+by\s+"
    r"|,?\s+before\s+(?=\w+ing\b)",
    re.IGNORECASE,
)
_LEADING = re.compile(r"^(?:first|next|then|after\s+that|afterwards|finally|once\s+done|at\s+last)\b\s*,?\s*",
                      re.IGNORECASE)  # fmt: skip
_AFTER_GERUND = re.compile(r"^after\s+(\w+ing\b[^,]*),\s*(.+)$", re.IGNORECASE)


def split_steps(text: str) -> list[str]:
    """The steps of `text` in order, each stripped of its sequencing word; one step when nothing sequences it."""
    steps = []
    for piece in _BOUNDARY.split(text.strip()):
        piece = _LEADING.sub("", piece.strip())
        after = _AFTER_GERUND.match(piece)
        steps += [after.group(1), after.group(2)] if after else [piece]
    steps = [s.strip(" .,;!?") for s in steps]
    return [s for s in steps if any(ch.isalpha() for ch in s)] or [text.strip()]
