"""Load on `motionmill serve`: concurrent clients for a fixed time, with batching and one request at a time.

The server runs in its own process with the built-in model (as `motionmill serve` does), on 127.0.0.1 only; each
of `--clients` threads posts prompts in a loop for `--seconds` (bounded: no retries, a 120 s timeout per request)
and fetches nothing else. Counted per mode: requests sent, answered 200, errors (any other answer or exception),
motions per second, p50 and p95 latency, and the server's resident memory (after a warm-up request, then every
second; printed after the warm-up and at each quarter of the run). The same server code runs twice: batching on
(up to 16 requests per pipeline call) and off (`max_batch` 1, one request at a time). Requests ask best of
`--candidates` (default 1) and durations of 2-4 s.

Run: `python bench/serve_load.py [--clients 16] [--seconds 60] [--candidates 1]`.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np

PROMPTS = ["a person walks forward", "a person jumps twice", "a person waves with the right hand",
           "a person turns left and walks", "a person runs in a circle", "a person sits down",
           "a person kicks with the left leg", "a person walks backward slowly"]  # fmt: skip

SERVER = """
import sys
from motionmill.serve.api import ServeSettings, run_server
run_server(ServeSettings(port=int(sys.argv[1]), max_batch=int(sys.argv[2]), store=sys.argv[3]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def post(url: str, body: dict) -> tuple[int, float]:
    start = time.perf_counter()
    request = urllib.request.Request(url + "/v1/motions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError:
        status = -1
    return status, time.perf_counter() - start


def run_mode(max_batch: int, clients: int, seconds: float, candidates: int) -> dict:
    port = free_port()
    with tempfile.TemporaryDirectory() as store:
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(max_batch), store],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 120
            while post(url, {"prompt": "a person walks", "candidates": candidates, "seconds": 2})[0] != 200:
                assert server.poll() is None and time.time() < deadline, "the server did not start"
                time.sleep(0.5)
            memory = [rss_mib(server.pid)]
            results, lock, stop = [], threading.Lock(), time.perf_counter() + seconds

            def client(k: int) -> None:
                rng = np.random.default_rng(k)
                while time.perf_counter() < stop:
                    body = {"prompt": PROMPTS[int(rng.integers(len(PROMPTS)))], "seed": int(rng.integers(1 << 30)),
                            "seconds": float(rng.uniform(2, 4)), "candidates": candidates}  # fmt: skip
                    answer = post(url, body)
                    with lock:
                        results.append(answer)

            threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                memory.append(rss_mib(server.pid))
                time.sleep(1.0)
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
    ok = [latency for status, latency in results if status == 200]
    return {"max_batch": max_batch, "sent": len(results), "ok": len(ok), "errors": len(results) - len(ok),
            "per_second": len(ok) / elapsed, "p50": float(np.percentile(ok, 50)), "p95": float(np.percentile(ok, 95)),
            "rss": [memory[0], *(memory[int(q * (len(memory) - 1))] for q in (0.25, 0.5, 0.75, 1.0))]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--candidates", type=int, default=1)
    args = parser.parse_args()
    rows = [run_mode(batch, args.clients, args.seconds, args.candidates) for batch in (16, 1)]
    print(f"{args.clients} clients for {args.seconds:g} s, best of {args.candidates}, 2-4 s motions, built-in model")
    print("| batching | requests sent | answered 200 | errors | motions/s | p50 s | p95 s | server RSS MiB: "
          "after warm-up, at 25 / 50 / 75 / 100% of the run |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        mode = f"up to {r['max_batch']}" if r["max_batch"] > 1 else "off (1 at a time)"
        print(f"| {mode} | {r['sent']} | {r['ok']} | {r['errors']} | {r['per_second']:.2f} | {r['p50']:.2f} | "
              f"{r['p95']:.2f} | {' / '.join(f'{m:.0f}' for m in r['rss'])} |")  # fmt: skip
    print(f"batching / one at a time: {rows[0]['per_second'] / rows[1]['per_second']:.2f}x")


if __name__ == "__main__":
    main()
