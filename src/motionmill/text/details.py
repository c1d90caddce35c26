"""A caption with one checkable detail changed: how many times, or how far round.

"claps three times, then turns 90 degrees" -> "claps twice, then turns 90 degrees" (or "... turns 180 degrees").
A text-motion evaluator trained with such captions as extra negatives must encode repetition counts and turn angles
to tell them from the true caption, which in-batch negatives (other clips, mostly other actions) seldom demand.
One detail is changed per caption, chosen from the text's checksum, so a caption always gets the same variant and
the variants can be cached like any caption. English only.
"""

from __future__ import annotations

import re
import zlib

__all__ = ["change_detail"]

_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_COUNT_WORDS = "|".join(_NUMBER_WORDS[1:])
# "at once" is no count, nor is a "once" that opens a clause ("Once he lands, ..."; see `_counts`)
_COUNT = re.compile(rf"\b(?:(?<!at )once|twice|a single time|(?P<n>\d+|{_COUNT_WORDS}) times?)\b", re.IGNORECASE)
_CLAUSE_START = re.compile(r"(?:^|[.,;:!?])\s*$")
_DEGREES = re.compile(r"\b(?P<n>\d+) degrees\b", re.IGNORECASE)
_TURN_SIZE = re.compile(r"\b(quarter|half)(?= turn)", re.IGNORECASE)
_OTHER_ANGLE = {45: 90, 90: 180, 180: 90, 270: 180, 360: 180}
_OTHER_SIZE = {"quarter": "half", "half": "quarter"}


def _counts(text: str) -> list[re.Match]:
    """Repetition counts of `text`: a "once" at the start of a sentence or after a comma is a conjunction."""
    return [m for m in _COUNT.finditer(text)
            if m.group(0).lower() != "once" or not _CLAUSE_START.search(text[: m.start()])]  # fmt: skip


def _count_of(match: re.Match) -> int:
    word = match.group(0).lower()
    if word in ("once", "a single time"):
        return 1
    if word == "twice":
        return 2
    n = match.group("n").lower()
    return int(n) if n.isdigit() else _NUMBER_WORDS.index(n)


def _count_phrase(n: int, like: str) -> str:
    """`n` times in the style of `like`: digits stay digits, words stay words."""
    if any(ch.isdigit() for ch in like):
        return f"{n} time" if n == 1 else f"{n} times"
    words = {1: "once", 2: "twice"}
    return words.get(n) or (f"{_NUMBER_WORDS[n]} times" if n < len(_NUMBER_WORDS) else f"{n} times")


def _other_count(n: int, pick: int) -> int:
    return n + 1 if n <= 1 or pick % 2 else n - 1


def change_detail(text: str) -> str | None:
    """`text` with one repetition count or turn angle changed, or None when it states neither."""
    found = [(m, "count") for m in _counts(text)]
    found += [(m, "degrees") for m in _DEGREES.finditer(text) if int(m.group("n")) in _OTHER_ANGLE]
    found += [(m, "size") for m in _TURN_SIZE.finditer(text)]
    if not found:
        return None
    pick = zlib.crc32(text.encode("utf-8"))
    match, kind = sorted(found, key=lambda f: f[0].start())[pick % len(found)]
    if kind == "count":
        new = _count_phrase(_other_count(_count_of(match), pick // len(found)), match.group(0))
    elif kind == "degrees":
        new = f"{_OTHER_ANGLE[int(match.group('n'))]} degrees"
    else:
        new = _OTHER_SIZE[match.group(0).lower()]
    if match.group(0)[0].isupper():
        new = new[0].upper() + new[1:]
    return text[: match.start()] + new + text[match.end() :]
