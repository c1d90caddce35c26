"""The rating server under hostile or careless clients, over real sockets on 127.0.0.1: many ratings at once, requests
for files other than the report's, foreign Host headers, malformed and slow requests, and spreadsheet formulas in the
CSV export."""

from __future__ import annotations

import csv
import io
import json
import os
import select
import socket
import threading
import time

import pytest

from motion_factory import random_motion
from motionmill.export.report import PromptEntry, write_prompts_report
from motionmill.serve.ratings import DB_FILE, RatingStore, ReportServer, serving

PROMPTS = {"000_walk": "a person walks", "001_jump": '=HYPERLINK("http://evil.example", "jumps")'}
GOOD = {"prompt_id": "000_walk", "rater": "ana", "text_alignment": 4, "naturalness": 5, "plausibility": 3}


@pytest.fixture
def report(tmp_path):
    folder = tmp_path / "report"
    entries = [PromptEntry(pid, text, random_motion(i, frames=10)[1], model="tiny")
               for i, (pid, text) in enumerate(PROMPTS.items())]  # fmt: skip
    write_prompts_report(entries, folder, "Prompts")
    return folder


@pytest.fixture
def server(report):
    with serving(report, port=0) as srv:
        yield srv


def exchange(srv, raw: bytes, timeout: float = 15.0) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` on a new connection and read the reply until the server closes: (status, headers, body)."""
    with socket.create_connection(srv.server_address[:2], timeout=timeout) as sock:
        sock.sendall(raw)
        data = _read_all(sock)
    return _parse(data)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def host(srv, name: str = "127.0.0.1") -> str:
    return f"{name}:{srv.server_address[1]}"


def get(srv, path: str, host_header: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = f"GET {path} HTTP/1.1\r\nHost: {host_header or host(srv)}\r\nConnection: close\r\n\r\n"
    return exchange(srv, request.encode())


def post_raw(srv, body: bytes, host_header: str | None = None, length: int | str | None = None) -> bytes:
    """A POST /ratings request with `body` (and a Content-Length of `length`, default its length)."""
    return (
        f"POST /ratings HTTP/1.1\r\nHost: {host_header or host(srv)}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def post(srv, rating: dict, host_header: str | None = None) -> tuple[int, dict]:
    status, _, body = exchange(srv, post_raw(srv, json.dumps(rating).encode(), host_header))
    return status, json.loads(body)


def stored(srv) -> list[dict]:
    return RatingStore(srv.store.path).rows()


def test_fifty_simultaneous_ratings_are_all_stored(server):
    count = 50
    start, statuses, connecting = threading.Barrier(count), [None] * count, [0.0] * count

    def rate(i):
        start.wait()
        try:
            began = time.monotonic()
            with socket.create_connection(server.server_address[:2], timeout=15) as sock:
                connecting[i] = time.monotonic() - began
                sock.sendall(post_raw(server, json.dumps({**GOOD, "rater": f"rater{i}"}).encode()))
                statuses[i] = _parse(_read_all(sock))[0]
        except OSError as e:
            statuses[i] = repr(e)

    threads = [threading.Thread(target=rate, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [201] * count
    assert sorted(r["rater"] for r in stored(server)) == sorted(f"rater{i}" for i in range(count))
    # A connection the listen backlog had no room for is dropped and retried a second later (or refused outright,
    # on some systems): every one must have been taken at once.
    assert max(connecting) < 0.9, sorted(connecting)[-5:]


def test_the_database_and_its_journal_are_not_served(server, report):
    assert post(server, GOOD)[0] == 201
    (report / f"{DB_FILE}-journal").write_bytes(b"journal")
    for path in (f"/{DB_FILE}", f"/{DB_FILE}-journal", f"/{DB_FILE}-wal", "/./ratings.sqlite", "/x/../ratings.sqlite"):
        status, _, body = get(server, path)
        assert status == 404, path
        assert b"SQLite" not in body


def test_only_files_are_served_and_folders_are_not_listed(server, report):
    (report / "motions").mkdir()
    (report / "motions" / "000_walk.bvh").write_text("HIERARCHY\n")
    assert get(server, "/motions/000_walk.bvh")[::2] == (200, b"HIERARCHY\n")
    for path in ("/motions/", "/motions", "/motions//000_walk.bvh", "/motions/./000_walk.bvh"):
        status, _, body = get(server, path)
        assert status == 404, path
        assert b"000_walk" not in body


def test_symlinks_and_dotfiles_are_not_served(server, report, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("TOP SECRET")
    os.symlink(secret / "key.txt", report / "key.txt")
    os.symlink(secret, report / "linked")
    (report / ".env").write_text("TOP SECRET")
    (report / ".git").mkdir()
    (report / ".git" / "config").write_text("TOP SECRET")
    for path in ("/key.txt", "/linked/key.txt", "/.env", "/.git/config", "/%2egit/config", "/../secret/key.txt"):
        status, _, body = get(server, path)
        assert status in (400, 404), path
        assert b"TOP SECRET" not in body
    status, headers, body = get(server, "/report.html")
    assert status == 200 and b"motionmillReport" in body and headers["content-type"].startswith("text/html")
    status, headers, empty = exchange(server, f"HEAD /report.html HTTP/1.0\r\nHost: {host(server)}\r\n\r\n".encode())
    assert (status, int(headers["content-length"]), empty) == (200, len(body), b"")


def test_requests_for_a_foreign_host_are_refused(server):
    # A DNS-rebinding page reaches 127.0.0.1 under its own name, which the browser sends as the Host.
    for name in ("evil.example", "127.0.0.1.evil.example", "localhost.evil.example"):
        assert get(server, "/report.html", host(server, name))[0] == 403
        assert get(server, "/ratings.csv", host(server, name))[0] == 403
        assert post(server, GOOD, host(server, name))[0] == 403
    assert stored(server) == []
    status, _, body = exchange(server, b"GET /report.html HTTP/1.0\r\n\r\n")  # no Host at all
    assert status == 400 and b"motionmillReport" not in body
    for name in ("127.0.0.1", "localhost", "LOCALHOST"):
        assert get(server, "/report.html", host(server, name))[0] == 200
    assert get(server, "/report.html", "localhost:9999")[0] == 200  # a port forward keeps its own port
    assert post(server, GOOD, "localhost")[0] == 201


def test_malformed_requests_get_a_4xx_and_the_server_keeps_going(server):
    assert get(server, "/%00")[0] == 400
    assert get(server, "/report.html%00.txt")[0] == 400
    assert get(server, "/%ff")[0] in (400, 404)
    huge = ('{"prompt_id": "000_walk", "rater": "ana", "text_alignment": ' + "4" * 5000 +
            ', "naturalness": 5, "plausibility": 3}').encode()  # fmt: skip
    status, _, body = exchange(server, post_raw(server, huge))
    assert status == 400 and json.loads(body)["field"] is None
    status, _, body = exchange(server, post_raw(server, b"[" * 30000 + b"]" * 30000))
    assert status == 400
    assert exchange(server, post_raw(server, b"{}", length="1" + "0" * 5000))[0] in (400, 413)
    good = json.dumps(GOOD).encode()
    for length in (f"0_{len(good)}", f"+{len(good)}", f"{len(good)}, {len(good)}"):
        assert exchange(server, post_raw(server, good, length=length))[0] == 400, length
    assert post(server, GOOD) == (201, {"id": 1})


def test_a_body_shorter_than_announced_is_answered_408_within_seconds(server):
    started = time.monotonic()
    status, _, body = exchange(server, post_raw(server, b"{}", length=100))  # then the client says nothing
    assert status == 408 and "error" in json.loads(body)
    assert time.monotonic() - started < 7.0  # one read's timeout (5 s), not half a minute


def test_a_trickling_client_is_cut_off_at_the_request_deadline(server):
    server.request_timeout = 1.5
    request = post_raw(server, json.dumps(GOOD).encode())
    started = time.monotonic()
    with socket.create_connection(server.server_address[:2], timeout=10) as sock:
        for byte in request:  # one byte every 0.2 s: each read succeeds, the whole request never arrives
            if _readable(sock, 0.2) or time.monotonic() - started > 5.0:
                break  # the server answered or closed the connection (or the test has seen enough)
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
        elapsed = time.monotonic() - started
        answered = _readable(sock, 0)
    assert answered and elapsed < 3.0, elapsed
    assert stored(server) == []


def _readable(sock: socket.socket, wait: float) -> bool:
    return bool(select.select([sock], [], [], wait)[0])


def test_idle_connections_do_not_each_take_a_thread(server):
    before = threading.active_count()
    sockets = [socket.create_connection(server.server_address[:2], timeout=10) for _ in range(100)]
    try:
        time.sleep(0.5)
        grown = threading.active_count() - before
    finally:
        for sock in sockets:
            sock.close()
    assert grown <= 40, grown  # a bounded pool of workers, not one thread per connection


def test_connections_beyond_the_queue_are_answered_503_and_the_queue_drains(report):
    class Small(ReportServer):
        workers, max_pending, io_timeout = 1, 1, 1.0

    srv = Small(("127.0.0.1", 0), report, RatingStore.for_report(report))
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        idle = socket.create_connection(srv.server_address[:2], timeout=10)  # holds the one worker for 1 s
        time.sleep(0.2)
        waiting = socket.create_connection(srv.server_address[:2], timeout=10)  # waits in the queue
        waiting.sendall(f"GET /index.json HTTP/1.0\r\nHost: {host(srv)}\r\n\r\n".encode())
        time.sleep(0.2)
        started = time.monotonic()
        assert exchange(srv, f"GET /index.json HTTP/1.0\r\nHost: {host(srv)}\r\n\r\n".encode())[0] == 503
        assert time.monotonic() - started < 0.5
        status, _, body = _parse(_read_all(waiting))  # served once the idle connection timed out
        assert status == 200 and json.loads(body)["prompts"]
        idle.close()
        waiting.close()
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_csv_export_neutralises_spreadsheet_formulas(server):
    texts = ['=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1)", "fine = ok", "4"]
    for text in texts:
        assert post(server, {**GOOD, "rater": "ana", "comment": text})[0] == 201
    assert post(server, {**GOOD, "prompt_id": "001_jump", "rater": "=cmd|' /C calc'!A0"})[0] == 201
    status, headers, body = get(server, "/ratings.csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))
    comments = [r["comment"] for r in rows[: len(texts)]]
    assert comments == ['\'=HYPERLINK("http://evil.example")', "'+1+1", "'-2+3", "'@SUM(A1)", "fine = ok", "4"]
    assert rows[-1]["rater"] == "'=cmd|' /C calc'!A0"
    assert rows[-1]["prompt"] == "'" + PROMPTS["001_jump"]
    assert [r["text_alignment"] for r in rows] == ["4"] * len(rows)  # numbers stay numbers
    assert stored(server)[-1]["rater"] == "=cmd|' /C calc'!A0"  # the database keeps what was typed
    assert server.store.csv_text() == body.decode("utf-8")


def test_tabs_and_carriage_returns_that_start_a_cell_are_neutralised_too(tmp_path):
    # Submitted text is stripped, so these can only come from a report's index (prompt text, model name).
    store = RatingStore(tmp_path / "r.sqlite", {"p": {"prompt": "\t=1+1", "model": "\r@model"}})
    store.add({**GOOD, "prompt_id": "p"})
    (row,) = csv.DictReader(io.StringIO(store.csv_text(), newline=""))
    assert (row["prompt"], row["model"]) == ("'\t=1+1", "'\r@model")
    store.export_csv(tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes().decode("utf-8") == store.csv_text()
