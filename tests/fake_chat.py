"""A fake OpenAI-compatible chat endpoint for tests: a real `ThreadingHTTPServer` on 127.0.0.1 in a daemon thread.

`serve(handler, **attrs)` runs one for the length of a `with` block; the handler finds its settings (and records what
it was sent) on `self.server`. `ModeChat` answers from a table of canned replies chosen by `server.mode`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def reply(content: str) -> bytes:
    """A chat-completions response body whose one choice is an assistant message saying `content`."""
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


def base_url(srv: ThreadingHTTPServer) -> str:
    """The server's address, without a path (as a user passes it)."""
    return f"http://127.0.0.1:{srv.server_address[1]}"


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler], **attrs) -> Iterator[ThreadingHTTPServer]:
    """A server on a free port of 127.0.0.1 answering with `handler`, with `requests` (an empty list), `release` (an
    unset `threading.Event`) and `attrs` set on it. On leaving, `release` is set (so a handler waiting on it ends) and
    the server is shut down without waiting for handler threads."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads, srv.block_on_close = True, False
    srv.requests, srv.release = [], threading.Event()
    for name, value in attrs.items():
        setattr(srv, name, value)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing, with helpers to read a JSON body and send a JSON answer."""

    def read_json(self):
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def send_json(self, payload: bytes) -> None:
        """`payload` with status 200 and its length; a client that has given up already is not an error."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout or size test): nothing left to answer

    def log_message(self, *args):  # keep pytest output clean
        pass


class ModeChat(QuietHandler):
    """Answers POSTs with `payloads[server.mode]` and records each request on `server.requests` as its path, JSON body
    and Authorization header. Mode "http500" fails with HTTP 500; mode "sleep" first waits up to 5 s (far past a
    client's short timeout) for `server.release`, which is set when the server stops."""

    payloads: dict[str, bytes] = {}

    def do_POST(self):  # noqa: N802 - name fixed by http.server
        body = self.read_json()
        self.server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        mode = self.server.mode
        if mode == "http500":
            self.send_error(500, "boom")
            return
        if mode == "sleep":
            self.server.release.wait(5.0)
        self.send_json(self.payloads[mode])
