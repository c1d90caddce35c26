"""Human ratings of the prompts report: a small local server for the page, over the store of `eval/ratings.py`.

`motionmill eval serve REPORT_DIR` serves the folder written by `export.report.write_prompts_report` and stores what
its forms POST to `/ratings` in `REPORT_DIR/ratings.sqlite` (or `--db`): one row per submission, with the prompt
text and model copied from the report's `index.json` so the table stands on its own. `GET /ratings.csv` and
`motionmill eval ratings REPORT_DIR --csv OUT` export the rows.

The server is the standard library's `http.server`, meant for raters on the same machine or a trusted network: it
binds 127.0.0.1 unless told otherwise. It still holds up against careless or hostile clients (docs/evaluation.md,
"The rating server"):
- files: only regular files inside the report folder, reached without a symlink, with no name in the path starting
  with "." and never the ratings database or its journals; no directory listings. `/` redirects to the page.
- Host: a request must name this server: localhost, 127.0.0.1, ::1 or the address it is bound to (with a wildcard
  bind, any IP address or this machine's name), with any port. A web page that rebinds its own domain name to this
  machine (DNS rebinding) sends its own name, and is refused with 403.
- input: a malformed request gets a 4xx answer (400, 403, 404, 408, 411, 413, 415), never an unhandled error.
- time and threads: `workers` threads serve the connections, which wait in a queue of `max_pending` (more are
  answered 503) behind a listen backlog of `request_queue_size`. A request must arrive whole within `request_timeout`
  seconds with no read waiting more than `io_timeout`, and a reply must be sent within `response_timeout`, so a slow
  client holds a worker for seconds, not minutes.
- storage: one writer at a time (a lock around each insert) with a 30 s busy timeout, so simultaneous ratings wait
  for each other instead of failing.
- CSV: a text cell starting with =, +, -, @, a tab or a carriage return is exported with a ' in front, so a
  spreadsheet shows it as text instead of running it as a formula; the database keeps the text as submitted.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import mimetypes
import os
import queue
import re
import socket
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import unquote

from motionmill.eval.ratings import COLUMNS, DB_FILE, RatingError, RatingStore
from motionmill.export.report import REPORT_FILE

__all__ = ["COLUMNS", "DB_FILE", "RatingError", "RatingStore", "ReportServer", "serve_report", "serving"]

MAX_BODY_BYTES = 64 * 1024
# Files beside the database that SQLite writes (rollback journal, write-ahead log and its index); never served.
_DB_SIDECARS = ("", "-journal", "-wal", "-shm")


class _Handler(BaseHTTPRequestHandler):
    """The report folder's files (GET, HEAD), POST /ratings and GET /ratings.csv, on one connection each."""

    server: ReportServer
    server_version = "motionmill-ratings"
    sys_version = ""

    def setup(self):
        # The request must arrive whole by `request_timeout`, the reply leave by `response_timeout` after it starts,
        # and no single read or write may wait more than `io_timeout`.
        self.connection = self.request
        limits = self.server
        self.connection.settimeout(limits.io_timeout)
        request_end = time.monotonic() + limits.request_timeout
        self.rfile = io.BufferedReader(_Reader(self.connection, limits.io_timeout, request_end))
        self.wfile = _Writer(self.connection, limits.io_timeout, limits.response_timeout)
        self._replied = False

    def do_GET(self):
        self._guarded(self._get, False)

    def do_HEAD(self):
        self._guarded(self._get, True)

    def do_POST(self):
        self._guarded(self._post)

    def _guarded(self, method, *args):
        try:
            if self._host_is_ours():
                method(*args)
        except (TimeoutError, ConnectionError):
            raise  # the client is too slow or gone: the connection is closed (BaseHTTPRequestHandler)
        except Exception as e:  # a bug or a full disk must not stop the server, nor leave the client waiting
            print(f"motionmill: {self.command} {self.path[:200]!r} failed: {e!r}", file=sys.stderr)
            if not self._replied:
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {e}", "field": None})

    def _host_is_ours(self) -> bool:
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "exactly one Host header is required", "field": None})
            return False
        if not self.server.serves_host(hosts[0]):
            self._json(HTTPStatus.FORBIDDEN, {"error": "this server does not serve that Host", "field": None})
            return False
        return True

    def _request_path(self) -> str | None:
        """The request's path, percent-decoded, or None (after answering 400) when it is not a clean one."""
        raw = self.path.split("?", 1)[0].split("#", 1)[0]
        try:
            path = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            path = None
        if path is None or not path.startswith("/") or re.search(r"[\x00-\x1f\x7f]", path):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "the path must be /-rooted UTF-8 text", "field": None})
            return None
        return path

    def _get(self, head: bool):
        path = self._request_path()
        if path is None:
            return
        if path == "/":
            return self._reply(HTTPStatus.FOUND, b"", "text/plain", {"Location": REPORT_FILE}, head)
        if path == "/ratings.csv":
            try:
                body = self.server.store.csv_text().encode("utf-8")
            except sqlite3.Error as e:
                return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"export failed: {e}", "field": None})
            return self._reply(HTTPStatus.OK, body, "text/csv; charset=utf-8",
                               {"Content-Disposition": 'attachment; filename="ratings.csv"'}, head)  # fmt: skip
        opened = self.server.open_file(path)
        if opened is None:
            return self._json(HTTPStatus.NOT_FOUND, {"error": "not found", "field": None})
        with opened as f:
            size = os.fstat(f.fileno()).st_size
            self._start_reply(HTTPStatus.OK, _content_type(path), size, {"Cache-Control": "no-cache"})
            while not head and (chunk := f.read(64 * 1024)):
                self.wfile.write(chunk)

    def _post(self):
        if self.path.split("?", 1)[0] != "/ratings":
            return self._json(HTTPStatus.NOT_FOUND, {"error": "only /ratings accepts POST", "field": None})
        try:
            rating = self._read_json()
            row_id = self.server.store.add(rating)
        except RatingError as e:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(e), "field": e.field})
        except _BadRequest as e:
            return self._json(e.status, {"error": str(e), "field": None})
        except sqlite3.Error as e:  # a full disk or a database locked for too long
            print(f"motionmill: rating not stored: {e!r}", file=sys.stderr)
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"rating not stored: {e}", "field": None})
        self._json(HTTPStatus.CREATED, {"id": row_id})

    def _read_json(self):
        # Requiring application/json makes a cross-site page's POST a CORS preflight, which this server never
        # approves, so other web sites cannot store ratings through the rater's browser.
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise _BadRequest(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json")
        if "Transfer-Encoding" in self.headers:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "send the body with a Content-Length, not a Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            raise _BadRequest(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        if len(lengths) > 1 or not re.fullmatch(r"[0-9]{1,19}", lengths[0].strip()):
            raise _BadRequest(HTTPStatus.BAD_REQUEST, "the Content-Length header must be one byte count")
        length = int(lengths[0])
        if length > MAX_BODY_BYTES:
            raise _BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body must be at most {MAX_BODY_BYTES} bytes")
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            raise _BadRequest(HTTPStatus.REQUEST_TIMEOUT, f"the body ({length} bytes) did not arrive in time") from None
        if len(body) < length:
            raise _BadRequest(HTTPStatus.BAD_REQUEST, f"the body ended after {len(body)} of {length} bytes")
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: also integers of 4300+ digits
            raise _BadRequest(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON ({str(e)[:200]})") from None

    def _json(self, status: HTTPStatus, payload: dict) -> None:
        self._reply(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _reply(self, status: HTTPStatus, body: bytes, content_type: str, headers: Mapping[str, str] | None = None,
               head: bool = False) -> None:  # fmt: skip
        self._start_reply(status, content_type, len(body), {"Cache-Control": "no-store", **(headers or {})})
        if not head:
            self.wfile.write(body)

    def _start_reply(self, status: HTTPStatus, content_type: str, length: int, headers: Mapping[str, str]) -> None:
        self._replied = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, format, *args):
        pass  # one line per request would bury the URL and errors the command prints


def _content_type(path: str) -> str:
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") or kind == "application/json" else kind


class _Reader(io.RawIOBase):
    """A connection's incoming bytes, each read waiting at most `io_timeout` and none past `end` (monotonic time):
    a client that sends a byte now and then cannot stretch its request beyond the deadline."""

    def __init__(self, sock: socket.socket, io_timeout: float, end: float):
        self._sock, self._io_timeout, self._end = sock, io_timeout, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(min(self._io_timeout, left))
        return self._sock.recv_into(buffer)


class _Writer(io.RawIOBase):
    """A connection's outgoing bytes, sent in pieces that may each wait at most `io_timeout`, all within `seconds`
    of the first write: a client that reads slowly or not at all cannot hold the reply's thread."""

    _PIECE = 64 * 1024

    def __init__(self, sock: socket.socket, io_timeout: float, seconds: float):
        self._sock, self._io_timeout, self._seconds = sock, io_timeout, seconds
        self._end: float | None = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._end is None:
            self._end = time.monotonic() + self._seconds
        view = memoryview(data).cast("B")
        for start in range(0, len(view), self._PIECE):
            left = self._end - time.monotonic()
            if left <= 0:
                raise TimeoutError("the reply could not be sent in time")
            self._sock.settimeout(min(self._io_timeout, left))
            self._sock.sendall(view[start : start + self._PIECE])
        return len(view)


class _BadRequest(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


class ReportServer(HTTPServer):
    """The HTTP server of a report folder; `url` is the address of its page.

    Connections are served by a fixed pool of `workers` threads (started here, ended by `server_close`); the class
    attributes below are its limits (module docstring), which a subclass or an instance before serving may change.
    """

    request_queue_size = 128  # the listen backlog: connections the system holds before they are accepted
    workers = 16  # threads serving connections
    max_pending = 256  # accepted connections waiting for a worker; beyond this they are answered 503
    io_timeout = 5.0  # seconds any one read or write may wait
    request_timeout = 10.0  # seconds for a request's line, headers and body to arrive
    response_timeout = 60.0  # seconds for a reply to be sent
    allowed_hosts: frozenset[str] = frozenset({"localhost", "127.0.0.1", "::1"})

    def __init__(self, address: tuple[str, int], report_dir: Path, store: RatingStore):
        self.report_dir, self.store = Path(report_dir), store
        self.root = os.path.realpath(report_dir)
        super().__init__(address, _Handler)
        bound = str(address[0]).strip("[]").lower()
        self._hosts = {*self.allowed_hosts, bound} - {""}
        self._wildcard = bound in ("", "0.0.0.0", "::")
        if self._wildcard:  # reached by this machine's addresses, which are not known here, or by its name
            self._hosts |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        self._pending: queue.Queue = queue.Queue(self.max_pending)
        self._threads = [threading.Thread(target=self._work, name=f"ratings-{i}", daemon=True)
                         for i in range(self.workers)]  # fmt: skip
        for thread in self._threads:
            thread.start()

    def serves_host(self, host: str) -> bool:
        """Whether a request with this Host header is for this server (any port: a forwarded port keeps its own)."""
        host = host.strip().lower()
        name = host[1 : host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
        name = name.rstrip(".")
        if name in self._hosts:
            return True
        if self._wildcard:  # an IP address cannot be rebound, unlike a name
            with contextlib.suppress(ValueError):
                return bool(ipaddress.ip_address(name))
        return False

    def open_file(self, path: str):
        """The report folder's file at a decoded URL path, opened for reading, or None when it is not one to serve:
        a directory, anything reached through a symlink, a name starting with "." anywhere in the path, or the
        ratings database and its journals."""
        segments = path[1:].split("/")
        if any(not s or s.startswith(".") or "\\" in s for s in segments):
            return None
        current = self.root
        try:
            for segment in segments:
                current = os.path.join(current, segment)
                info = os.lstat(current)
                if stat.S_ISLNK(info.st_mode):
                    return None
            if not stat.S_ISREG(info.st_mode):
                return None
            fd = os.open(current, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except (OSError, ValueError):
            return None
        opened = os.fdopen(fd, "rb")
        found = os.fstat(fd)
        if (found.st_dev, found.st_ino) != (info.st_dev, info.st_ino) or self._is_database(found):
            opened.close()  # replaced since it was looked at, or the ratings themselves
            return None
        return opened

    def _is_database(self, found: os.stat_result) -> bool:
        for base in {str(self.store.path), os.path.join(self.root, DB_FILE)}:
            for suffix in _DB_SIDECARS:
                with contextlib.suppress(OSError):
                    if os.path.samestat(found, os.stat(base + suffix)):
                        return True
        return False

    def process_request(self, request, client_address):
        # Called by serve_forever for each accepted connection: queue it for the workers, or refuse it at once.
        try:
            self._pending.put_nowait((request, client_address))
        except queue.Full:
            body = b'{"error": "too many connections, try again", "field": null}'
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1"
                             b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
            self.shutdown_request(request)

    def _work(self):
        while (item := self._pending.get()) is not None:
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def shutdown_request(self, request):
        # Read what the client sent and nobody read (a body after a refusal, say) before closing: closing with
        # unread bytes makes the system reset the connection, which can destroy the reply before it is read.
        with contextlib.suppress(OSError):
            request.shutdown(socket.SHUT_WR)
            request.setblocking(False)
            for _ in range(16):
                if not request.recv(65536):
                    break
        request.close()

    def server_close(self):
        super().server_close()
        with contextlib.suppress(queue.Empty):
            while True:  # connections nobody will serve now
                item = self._pending.get_nowait()
                if item is not None:
                    self.shutdown_request(item[0])
        for _ in self._threads:
            with contextlib.suppress(queue.Full):
                self._pending.put(None, timeout=1)

    def handle_error(self, request, client_address):
        # A browser closing its connection mid-reply, or a client too slow, is routine; anything else is printed.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
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
