"""The words of a caption that a left/right mirror of its motion changes.

"turns left, then waves with the right hand" describes the mirror image of its motion as "turns right, then waves
with the left hand". `mirror_text` makes that swap (left <-> right, leftward(s) <-> rightward(s), clockwise <->
counterclockwise / anticlockwise), keeping each word's capitalisation, so a motion and its mirror image can be
trained as a pair that differs only in side. English only; "left" as a verb ("he left") is rare in motion
captions and swapped like the rest.
"""

from __future__ import annotations

import re

__all__ = ["mirror_text", "names_a_side"]

_SWAP = {
    "left": "right",
    "right": "left",
    "leftward": "rightward",
    "rightward": "leftward",
    "leftwards": "rightwards",
    "rightwards": "leftwards",
    "clockwise": "counterclockwise",
    "counterclockwise": "clockwise",
    "counter-clockwise": "clockwise",
    "anticlockwise": "clockwise",
    "anti-clockwise": "clockwise",
}
# longer alternatives first, so "counter-clockwise" is one word and not "counter-" + "clockwise"
_WORD = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _SWAP), key=len, reverse=True)) + r")\b", re.IGNORECASE)


def _swap(match: re.Match) -> str:
    word = match.group(0)
    other = _SWAP[word.lower()]
    if word.isupper() and len(word) > 1:
        return other.upper()
    return other[0].upper() + other[1:] if word[0].isupper() else other


def mirror_text(text: str) -> str:
    """`text` with its side words swapped: the description of the motion's left/right mirror image."""
    return _WORD.sub(_swap, text)


def names_a_side(text: str) -> bool:
    """Whether `text` has a side word, i.e. describes a motion that its mirror image would not match."""
    return _WORD.search(text) is not None
