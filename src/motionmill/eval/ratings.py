"""Human ratings of a prompts report: the SQLite store and its CSV export.

The store is where `motionmill eval serve` (`serve/ratings.py`) puts what raters submit, and where the prompts suite
reads the ratings given so far for its summary: one row per submission, with the prompt text and model copied from
the report's `index.json` so the table stands on its own. A text cell starting with =, +, -, @, a tab or a carriage
return is exported with a ' in front, so a spreadsheet shows it as text instead of running it as a formula; the
database keeps the text as submitted. Writes are one at a time (a lock around each insert) with a 30 s busy timeout.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sqlite3
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from motionmill.export.report import MAX_ID_CHARS, read_index
from motionmill.utils.io import atomic_write

__all__ = ["COLUMNS", "DB_FILE", "SCORES", "TEXT_LIMITS", "RatingError", "RatingStore"]

DB_FILE = "ratings.sqlite"
COLUMNS = ("id", "prompt_id", "prompt", "model", "rater", "text_alignment", "naturalness", "plausibility",
           "comment", "created_at")  # fmt: skip
SCORES = ("text_alignment", "naturalness", "plausibility")
# Longest accepted text per field, in characters; longer text is refused rather than cut.
TEXT_LIMITS = {"prompt_id": MAX_ID_CHARS, "rater": 100, "comment": 2000}
# A CSV cell starting with one of these is a formula (or becomes one) in spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ratings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  prompt_id TEXT NOT NULL,
  prompt TEXT NOT NULL,
  model TEXT NOT NULL,
  rater TEXT NOT NULL,
  text_alignment INTEGER NOT NULL CHECK (text_alignment BETWEEN 1 AND 5),
  naturalness INTEGER NOT NULL CHECK (naturalness BETWEEN 1 AND 5),
  plausibility INTEGER NOT NULL CHECK (plausibility BETWEEN 1 AND 5),
  comment TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL
)
"""


class RatingError(ValueError):
    """A rejected rating; `field` names the offending field (None when the whole body is wrong)."""

    def __init__(self, field: str | None, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class RatingStore:
    """Ratings in a SQLite file (created on first use).

    Args:
        path: the database file.
        prompts: the report's prompts by id, each a mapping with "prompt" and "model" (as in `index.json`).
            When given, only these ids are accepted and their text and model are stored with each rating; when
            None any prompt id is accepted and prompt and model are stored empty.
    """

    def __init__(self, path: str | os.PathLike, prompts: Mapping[str, Mapping] | None = None):
        self.path = Path(path)
        self.prompts = prompts
        # One writer at a time within the process; other processes are waited for up to the busy timeout.
        self._write_lock = threading.Lock()
        with self._connect() as con:
            con.execute(_SCHEMA)

    @classmethod
    def for_report(cls, report_dir: str | os.PathLike, db: str | os.PathLike | None = None) -> RatingStore:
        """The store of a report folder: `db` or `report_dir/ratings.sqlite`, checked against its index.json."""
        index = read_index(report_dir)
        prompts = {p["prompt_id"]: p for p in index["prompts"]}
        return cls(db if db is not None else Path(report_dir) / DB_FILE, prompts)

    @contextlib.contextmanager
    def _connect(self):
        # A connection per operation: the server handles each request in its own thread, and sqlite3
        # connections must not be shared between threads. The context commits or rolls back, then closes.
        con = sqlite3.connect(self.path, timeout=30)  # seconds to wait for another writer (SQLite's busy timeout)
        try:
            with con:
                yield con
        finally:
            con.close()

    def validate(self, rating: Mapping) -> dict:
        """The row to store for a submitted rating, or RatingError naming the first bad field."""
        if not isinstance(rating, Mapping):
            raise RatingError(None, f"a rating must be a JSON object, got {type(rating).__name__}")
        unknown = sorted(set(rating) - {*TEXT_LIMITS, *SCORES})
        if unknown:
            raise RatingError(unknown[0], f"unknown field (expected {', '.join([*TEXT_LIMITS, *SCORES])})")
        row = {name: _text(rating, name, required=name != "comment") for name in TEXT_LIMITS}
        for name in SCORES:
            value = rating.get(name)
            # bool is an int subclass in Python, and JSON true must not count as a rating of 1.
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
                raise RatingError(name, f"must be an integer from 1 to 5, got {_show(value)}")
            row[name] = value
        entry = {"prompt": "", "model": ""}
        if self.prompts is not None:
            if row["prompt_id"] not in self.prompts:
                raise RatingError("prompt_id", f"unknown prompt {row['prompt_id']!r} (not in this report's index)")
            entry = self.prompts[row["prompt_id"]]
        row["prompt"], row["model"] = str(entry.get("prompt", "")), str(entry.get("model", ""))
        row["created_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return row

    def add(self, rating: Mapping) -> int:
        """Validate and store one rating (a JSON-like mapping of the form fields); returns its row id.

        Raises:
            RatingError: if a field is missing, unknown, of the wrong type, out of range or too long.
        """
        row = self.validate(rating)
        names = [c for c in COLUMNS if c != "id"]
        with self._write_lock, self._connect() as con:
            cursor = con.execute(f"INSERT INTO ratings ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                                 [row[n] for n in names])  # fmt: skip
        return cursor.lastrowid

    def rows(self) -> list[dict]:
        """All ratings in the order they were stored."""
        with self._connect() as con:
            cursor = con.execute(f"SELECT {', '.join(COLUMNS)} FROM ratings ORDER BY id")
            return [dict(zip(COLUMNS, values, strict=True)) for values in cursor]

    def csv_text(self) -> str:
        """All ratings as CSV with a header line (the table's columns).

        Lines end in CRLF (RFC 4180), so a carriage return inside a cell is quoted like a line feed. A text cell
        starting with =, +, -, @, a tab or a carriage return gets a ' in front, so spreadsheet programs show it as
        text instead of evaluating it as a formula (CSV injection); the database keeps the text as submitted.
        """
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({name: _cell(value) for name, value in row.items()} for row in self.rows())
        return buffer.getvalue()

    def export_csv(self, path: str | os.PathLike) -> Path:
        """Write all ratings to a CSV file (atomically, as `csv_text`, in UTF-8); returns the path."""
        atomic_write(path, self.csv_text().encode("utf-8"))
        return Path(path)


def _cell(value):
    """A value as a CSV cell: text that a spreadsheet would read as a formula is prefixed with a quote."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def _text(rating: Mapping, name: str, required: bool) -> str:
    value = rating.get(name, "")
    if not isinstance(value, str):
        raise RatingError(name, f"must be text, got {_show(value)}")
    value = value.strip()
    if required and not value:
        raise RatingError(name, "is required")
    if len(value) > TEXT_LIMITS[name]:
        raise RatingError(name, f"must be at most {TEXT_LIMITS[name]} characters, got {len(value)}")
    return value


def _show(value) -> str:
    """A submitted value as the client wrote it (JSON, cut to 100 characters), for error messages."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= 100 else text[:97] + "..."
