"""Split a prompt into the steps it describes one after another.

"A man walks forward, then turns left. After that, he sits down." -> ["A man walks forward", "turns left",
"he sits down"]. The pipeline's step-by-step sampling (`compose`) generates each step from its own text and joins
them, because a small generator follows a short description far better than a long one that lists several
actions. The rules are English sequencing words only: sentence ends; "then", "and then", "next", "after that",
"afterwards", "finally", "once done", "followed by", "and ends by"; "before" and a leading "after" when a gerund
follows ("waves before jumping", "After jumping, she waves"); and, in a sentence that has one of these, the commas
that list its steps ("jumps, claps and then bows"). Words of simultaneity ("while", "as", "at the same time") and
plain "and" never split: what happens together stays one step.
"""

from __future__ import annotations

import re

__all__ = ["split_steps"]

_SENTENCE = re.compile(r"[.!?;]+\s+")
_CONNECTIVE = re.compile(
    r",?\s+and\s+then\s+|,?\s*\bthen\s+|,?\s+(?:and\s+)?finally\s+|,?\s+followed\s+by\s+|,?\s+and\s+ends\s+by\s+"
    r"|,?\s+before\s+(?=[\w-]+ing\b)",
    re.IGNORECASE,
)
_LIST_COMMA = re.compile(r",\s+")
_LEADING = re.compile(r"^(?:first|next|then|after\s+that|afterwards|finally|once\s+done|at\s+last)\b\s*,?\s*",
                      re.IGNORECASE)  # fmt: skip
_AFTER_GERUND = re.compile(r"^after\s+([\w-]+ing\b[^,]*),\s*(.+)$", re.IGNORECASE)


def split_steps(text: str) -> list[str]:
    """The steps of `text` in order, each stripped of its sequencing word; one step when nothing sequences it."""
    steps = []
    for sentence in _SENTENCE.split(text.strip()):
        sentence = _LEADING.sub("", sentence.strip())
        after = _AFTER_GERUND.match(sentence)
        head, sentence = ([after.group(1)], after.group(2)) if after else ([], sentence)
        pieces = _CONNECTIVE.split(sentence)
        if head or len(pieces) > 1:  # a sequence: commas list its steps too ("jumps, claps and then bows")
            pieces = [part for piece in pieces for part in _LIST_COMMA.split(piece)]
        steps += head + [_LEADING.sub("", piece.strip()) for piece in pieces]
    steps = [s.strip(" .,;!?") for s in steps]
    return [s for s in steps if any(ch.isalpha() for ch in s)] or [text.strip()]
