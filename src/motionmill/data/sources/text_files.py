"""Shared plain-text parsing for the source readers: caption files and split id lists.

Caption files follow HumanML3D (https://github.com/EricGuo5513/HumanML3D, `texts/<id>.txt`): one caption per line,
`caption#pos-tagged tokens#start#end`, with start and end in seconds from the clip start and `0.0#0.0` (or NaN, as
the HumanML3D loader treats it) meaning the whole clip. MotionMillion's released `texts/` use the same name scheme;
a line without the `#` fields is read as a whole-clip caption, so plain caption files work too. Split files
(HumanML3D `train.txt`, MotionMillion `split/<version>/train.txt`) list one clip id per line.

Spec options (`key=value` after a source's path) are parsed by `motionmill.utils.spec`.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

__all__ = ["SPLIT_NAMES", "named_errors", "parse_caption_line", "read_captions", "read_split_table"]

READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)
"""What numpy and zipfile raise on truncated or garbage files."""
SPLIT_NAMES = ("train", "val", "test")
"""The split files a dataset folder may hold, as `<name>.txt`."""


def parse_caption_line(line: str) -> dict | None:
    """One caption line -> {"text", "start", "end"} (seconds; 0, 0 = whole clip), or None for a blank line.

    The caption is everything before the last three `#` fields, so a `#` inside the caption survives. Start and
    end that are missing, NaN, unparsable or not increasing fall back to the whole clip.
    """
    line = line.strip()
    if not line:
        return None
    fields = line.rsplit("#", 3)
    if len(fields) < 4:
        return {"text": line, "start": 0.0, "end": 0.0}
    text, start, end = fields[0].strip(), _seconds(fields[2]), _seconds(fields[3])
    if not text:
        return None
    if start is None or end is None or end <= start:
        start = end = 0.0
    return {"text": text, "start": start, "end": end}


def _seconds(field: str) -> float | None:
    try:
        value = float(field)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def read_captions(path: str | Path) -> list[dict]:
    """All captions of a caption file; a missing or empty file gives [] (the quality filter rejects it later).

    Raises:
        ValueError: the file exists but is not UTF-8 text (names the file).
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: caption file is not UTF-8 text ({e.reason} at byte {e.start})") from None
    return [c for c in map(parse_caption_line, lines) if c is not None]


@lru_cache(maxsize=16)
def read_split_table(folder: str) -> dict[str, str]:
    """{clip id: split name} from `<folder>/{train,val,test}.txt` (absent files are skipped).

    Cached per process, so workers read each split folder once. An id listed in two files keeps the first of
    train, val, test.
    """
    table: dict[str, str] = {}
    for split in reversed(SPLIT_NAMES):
        path = Path(folder) / f"{split}.txt"
        if path.is_file():
            ids = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
            table.update((i, split) for i in ids if i)
    return table


@contextmanager
def named_errors(path: str | Path, what: str = "") -> Iterator[None]:
    """Re-raise `READ_ERRORS` from the block as ValueError naming `path` (unless it already does).

    Used around readers and constructors whose messages say what is wrong but not in which file.
    """
    try:
        yield
    except READ_ERRORS as e:
        message = str(e) or type(e).__name__
        if str(path) not in message:
            message = f"{path}: {what}{message}"
        raise ValueError(message) from e
