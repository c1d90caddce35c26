"""Human ratings of the prompts report: a SQLite store, its CSV export and a small local server for the page.

`motionmill eval serve REPORT_DIR` serves the folder written by `export.report.write_prompts_report` and stores what
its forms POST to `/ratings` in `REPORT_DIR/ratings.sqlite` (or `--db`): one row per submission, with the prompt
text and model copied from the report's `index.json` so the table stands on its own. `GET /ratings.csv` and
`motionmill eval ratings REPORT_DIR --csv OUT` export the rows.

The server is the standard library's `http.server` (threads, one SQLite connection per request), meant for raters
on the same machine or a trusted network: it binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from motionmill.export.report import MAX_ID_CHARS, REPORT_FILE, read_index
from motionmill.utils.io import atomic_write

__all__ = ["COLUMNS", "DB_FILE", "RatingError", "RatingStore", "ReportServer", "serve_report", "serving"]

DB_FILE = "ratings.sqlite"
COLUMNS = ("id", "prompt_id", "prompt", "model", "rater", "text_alignment", "naturalness", "plausibility",
           "comment", "created_at")  # fmt: skip
SCORES = ("text_alignment", "naturalness", "plausibility")
# Longest accepted text per field, in characters; longer text is refused rather than cut.
TEXT_LIMITS = {"prompt_id": MAX_ID_CHARS, "rater": 100, "comment": 2000}
MAX_BODY_BYTES = 64 * 1024

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
        con = sqlite3.connect(self.path, timeout=10)
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
        with self._connect() as con:
            cursor = con.execute(f"INSERT INTO ratings ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                                 [row[n] for n in names])  # fmt: skip
        return cursor.lastrowid

    def rows(self) -> list[dict]:
        """All ratings in the order they were stored."""
        with self._connect() as con:
            cursor = con.execute(f"SELECT {', '.join(COLUMNS)} FROM ratings ORDER BY id")
            return [dict(zip(COLUMNS, values, strict=True)) for values in cursor]

    def csv_text(self) -> str:
        """All ratings as CSV with a header line (the table's columns)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return buffer.getvalue()

    def export_csv(self, path: str | os.PathLike) -> Path:
        """Write all ratings to a CSV file (atomically); returns the path."""
        atomic_write(path, self.csv_text())
        return Path(path)


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
    """A submitted value as the client wrote it (JSON), for error messages."""
    return json.dumps(value, default=repr)


class _Handler(SimpleHTTPRequestHandler):
    """Static files of the report folder, plus POST /ratings and GET /ratings.csv."""

    server: ReportServer
    timeout = 30  # seconds a client may stall mid-request before its thread gives up on it

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/":
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", REPORT_FILE)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/ratings.csv":
            try:
                body = self.server.store.csv_text().encode("utf-8")
            except sqlite3.Error as e:
                return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"export failed: {e}", "field": None})
            self._reply(HTTPStatus.OK, body, "text/csv; charset=utf-8",
                        {"Content-Disposition": 'attachment; filename="ratings.csv"'})  # fmt: skip
        else:
            super().do_GET()

    def do_POST(self):
        if urlsplit(self.path).path != "/ratings":
            return self._json(HTTPStatus.NOT_FOUND, {"error": "only /ratings accepts POST", "field": None})
        try:
            rating = self._read_json()
            row_id = self.server.store.add(rating)
        except RatingError as e:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(e), "field": e.field})
        except _BadRequest as e:
            return self._json(e.status, {"error": str(e), "field": None})
        except Exception as e:  # a full disk or a locked database must not stop the server
            print(f"motionmill: rating not stored: {e!r}", file=sys.stderr)
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"rating not stored: {e}", "field": None})
        self._json(HTTPStatus.CREATED, {"id": row_id})

    def _read_json(self):
        # Requiring application/json makes a cross-site page's POST a CORS preflight, which this server never
        # approves, so other web sites cannot store ratings through the rater's browser.
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise _BadRequest(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")
        if "Content-Length" not in self.headers:
            raise _BadRequest(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        try:
            length = int(self.headers["Content-Length"])
        except ValueError:
            length = -1
        if length < 0:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "the Content-Length header must be a byte count")
        if length > MAX_BODY_BYTES:
            raise _BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body must be at most {MAX_BODY_BYTES} bytes")
        body = self.rfile.read(length)
        if len(body) < length:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, f"the body ended after {len(body)} of {length} bytes")
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON ({e})") from None

    def _json(self, status: HTTPStatus, payload: dict) -> None:
        self._reply(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _reply(self, status: HTTPStatus, body: bytes, content_type: str, headers: Mapping[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # one line per request would bury the URL and errors the command prints


class _BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


class ReportServer(ThreadingHTTPServer):
    """The HTTP server of a report folder; `url` is the address of its page."""

    daemon_threads = True  # an open browser connection must not keep Ctrl-C from ending the command

    def __init__(self, address: tuple[str, int], report_dir: Path, store: RatingStore):
        self.report_dir, self.store = report_dir, store
        super().__init__(address, functools.partial(_Handler, directory=str(report_dir)))

    def handle_error(self, request, client_address):
        # A browser closing its connection mid-reply is routine; anything else is printed in full.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/{REPORT_FILE}"


def serve_report(report_dir: str | os.PathLike, host: str = "127.0.0.1", port: int = 0,
                 db: str | os.PathLike | None = None) -> ReportServer:  # fmt: skip
    """A server for a prompts report folder, bound and ready: call `serve_forever()` (or run it in a thread),
    then `shutdown()` and `server_close()`.

    Args:
        report_dir: folder written by `write_prompts_report` (holds report.html and index.json).
        host: interface to listen on; 127.0.0.1 keeps it on this machine.
        port: TCP port; 0 picks a free one (see `.url`).
        db: SQLite file for the ratings (default report_dir/ratings.sqlite).

    Raises:
        FileNotFoundError: if the folder holds no report.
    """
    report_dir = Path(report_dir)
    return ReportServer((host, port), report_dir, RatingStore.for_report(report_dir, db))


@contextlib.contextmanager
def serving(report_dir: str | os.PathLike, **options) -> Iterator[ReportServer]:
    """`serve_report(report_dir, **options)` running in a background thread for the length of a `with` block."""
    server = serve_report(report_dir, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
