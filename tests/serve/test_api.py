"""`motionmill serve` against a real server on 127.0.0.1 with the built-in model: every endpoint and format, every
kind of bad request answered with a clear 4xx (or 503 for a full queue) while the server keeps serving, batching,
the token, the Host check and the store's size cap."""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="motionmill serve needs the [serve] extra")
pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")

from motionmill.inference.pipeline import TextToMotion  # noqa: E402
from motionmill.serve.api import FORMATS, ServeSettings, serving  # noqa: E402

FAST = {"candidates": 1, "seconds": 2.0}  # best of 1: a request takes well under a second here


class Recording:
    """The built-in pipeline, recording each call's batch size and optionally held back until released."""

    def __init__(self, pipe: TextToMotion):
        self.pipe, self.batches, self.gate = pipe, [], threading.Event()
        self.gate.set()

    def __call__(self, prompts, **kwargs):
        self.gate.wait(timeout=60)
        self.batches.append(len(prompts))
        if any("FAULT" in p for p in prompts):
            raise ValueError("a prompt this pipeline refuses")
        return self.pipe(prompts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.pipe, name)


@pytest.fixture(scope="module")
def pipe():
    return Recording(TextToMotion.from_pretrained("builtin"))


@pytest.fixture(scope="module")
def server(pipe, tmp_path_factory):
    settings = ServeSettings(port=0, store=str(tmp_path_factory.mktemp("store")), max_queue=3, max_batch=8,
                             batch_wait=0.3)  # fmt: skip
    with serving(settings, pipe) as url:
        yield url


def call(url: str, path: str, body=None, headers: dict | None = None, raw: bytes | None = None):
    """(status, headers, body bytes) of one request; HTTP errors are answers, not exceptions."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json",
                                                                      **(headers or {})})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def generate(url: str, **fields) -> dict:
    status, _, body = call(url, "/v1/motions", {"prompt": "a person walks forward", **FAST, **fields})
    assert status == 200, body
    return json.loads(body)


def test_every_format_of_a_motion_is_served_and_agrees(server):
    record = generate(server, seed=3)
    assert set(record["files"]) == set(FORMATS) and record["fps"] == 30 and record["duration"] > 1
    files = {}
    for name, link in record["files"].items():
        status, headers, body = call(server, link)
        assert status == 200 and len(body) > 100, (name, body[:200])
        files[name] = body
    features = np.load(__import__("io").BytesIO(files["npy"]))
    joints = np.load(__import__("io").BytesIO(files["joints.npy"]))
    assert features.shape == (record["frames"], 272) and joints.shape == (record["frames"], 22, 3)
    assert files["bvh"].startswith(b"HIERARCHY") and files["mp4"][4:8] == b"ftyp"
    assert files["glb"][:4] == b"glTF" and files["smpl.npz"][:2] == b"PK" and b"motion-data" in files["html"]


def test_health_metrics_schema_and_page(server):
    status, _, body = call(server, "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    generate(server)
    status, _, body = call(server, "/metrics")
    assert status == 200 and b'motionmill_requests_total{route="/v1/motions",status="200"}' in body
    assert b"motionmill_batch_size_count" in body
    status, _, body = call(server, "/openapi.json")
    assert status == 200 and "/v1/motions" in json.loads(body)["paths"]
    status, _, page = call(server, "/")
    assert status == 200 and b'id="prompt"' in page
    assert b"http://" not in page and b"https://" not in page  # nothing loaded from elsewhere
    status, _, docs = call(server, "/docs")
    assert status == 200 and b"<code>candidates</code>" in docs and b"1 .. 16" in docs and b"https://" not in docs


@pytest.mark.parametrize(("body", "status", "names"), [
    ({"prompt": ""}, 422, "prompt"),
    ({"prompt": "   "}, 422, "prompt"),
    ({"prompt": "walks", "seconds": 0}, 422, "seconds"),
    ({"prompt": "walks", "seconds": -2}, 422, "seconds"),
    ({"prompt": "walks", "seconds": 10_000}, 422, "seconds"),
    ({"prompt": "walks", "colour": "red"}, 422, "colour"),
    ({"prompt": "walks", "temperature": "hot"}, 422, "temperature"),
    ({"prompt": "walks", "candidates": 1000}, 422, "candidates"),
    ({"prompt": "x" * 1_500}, 422, "prompt"),
    ({"prompt": "x" * 100_000}, 413, "bytes"),
    ({"seconds": 2}, 422, "prompt"),
])  # fmt: skip
def test_bad_requests_get_a_clear_4xx_and_the_server_goes_on(server, body, status, names):
    got, _, answer = call(server, "/v1/motions", body)
    assert got == status and names in answer.decode(), answer[:300]


def test_malformed_json_huge_integers_and_streamed_bodies(server):
    assert call(server, "/v1/motions", raw=b'{"prompt": "walks",')[0] == 422
    status, _, answer = call(server, "/v1/motions", raw=b'{"prompt": "walks", "seed": ' + b"9" * 5000 + b"}")
    assert status in (400, 422) and b"detail" in answer  # Python refuses to parse an integer that long
    assert call(server, "/v1/motions", raw=b'{"prompt": "walks", "seed": ' + b"9" * 500 + b"}")[0] == 422
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:  # no Content-Length: a chunked 40 KB body
        s.sendall(b"POST /v1/motions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        for _ in range(10):
            chunk = b"x" * 4096
            s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 413")
    generate(server)  # still serving


def test_only_generated_files_are_served(server):
    record = generate(server)
    motion_id = record["id"]
    for path in (f"/v1/motions/{motion_id}.exe", f"/v1/motions/{motion_id}.record.json", "/v1/motions/..%2F..%2Fetc",
                 f"/v1/motions/{motion_id[:-1]}g.npy", "/v1/motions/" + "0" * 32 + ".npy"):  # fmt: skip
        assert call(server, path)[0] == 404, path
    assert call(server, "/v1/motions/")[0] in (404, 405)  # no listing


def test_requests_for_another_host_are_refused(server):
    status, _, body = call(server, "/healthz", headers={"Host": "attacker.example"})
    assert status == 400


def test_requests_that_arrive_together_share_a_batch(server, pipe):
    before = len(pipe.batches)
    answers = []
    threads = [threading.Thread(target=lambda i=i: answers.append(generate(server, seed=i))) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 3 and len({a["id"] for a in answers}) == 3
    assert max(pipe.batches[before:]) >= 2, pipe.batches[before:]  # 0.3 s of batch wait gathers them


def test_a_failing_request_fails_alone_in_its_batch(server, pipe):
    answers = {}

    def post(prompt):
        answers[prompt] = call(server, "/v1/motions", {"prompt": prompt, **FAST})

    threads = [threading.Thread(target=post, args=(p,)) for p in ("a person walks", "FAULT here", "a person sits")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers["FAULT here"][0] == 422 and b"refuses" in answers["FAULT here"][2]
    assert answers["a person walks"][0] == 200 and answers["a person sits"][0] == 200


def test_a_full_queue_answers_503_then_every_waiting_request_completes(server, pipe):
    pipe.gate.clear()  # the worker holds its batch: later requests queue up (3 at most)
    results = []

    def post(i):
        results.append(call(server, "/v1/motions", {"prompt": "a person jumps", "seed": i, **FAST})[0])

    first = threading.Thread(target=post, args=(0,))
    first.start()
    time.sleep(0.6)  # taken by the worker, which now waits at the gate
    waiting = [threading.Thread(target=post, args=(i,)) for i in range(1, 4)]
    for t in waiting:
        t.start()
    time.sleep(0.5)
    status, headers, body = call(server, "/v1/motions", {"prompt": "a person jumps", **FAST})
    assert status == 503 and headers.get("retry-after") == "2", body
    pipe.gate.set()
    for t in [first, *waiting]:
        t.join()
    assert results == [200] * 4
    generate(server)


def test_a_token_is_required_when_set_and_off_loopback(pipe, tmp_path):
    with pytest.raises(ValueError, match="--token"):
        ServeSettings(host="0.0.0.0")
    with serving(ServeSettings(port=0, token="s3cret", store=str(tmp_path)), pipe) as url:
        body = {"prompt": "a person waves", **FAST}
        assert call(url, "/v1/motions", body)[0] == 401
        assert call(url, "/v1/motions", body, {"Authorization": "Bearer wrong"})[0] == 401
        assert call(url, "/metrics")[0] == 401
        status, _, answer = call(url, "/v1/motions", body, {"Authorization": "Bearer s3cret"})
        assert status == 200
        assert call(url, json.loads(answer)["files"]["bvh"])[0] == 401
        assert call(url, "/healthz")[0] == 200


def test_the_store_keeps_under_its_cap_oldest_first(pipe, tmp_path):
    with serving(ServeSettings(port=0, store=str(tmp_path), max_store_bytes=100_000), pipe) as url:
        first, second = generate(url, seed=1), generate(url, seed=2)
        assert call(url, first["files"]["npy"])[0] == 404  # two 2-second motions are over 100 kB
        assert call(url, second["files"]["npy"])[0] == 200


def test_cleanup_on_request_locks_the_feet_of_the_served_files(server):
    from motionmill.motion.cleanup import clean_feet
    from motionmill.motion.container import Motion

    plain, cleaned = generate(server, seed=4), generate(server, seed=4, cleanup=True)
    assert cleaned["cleanup"] is True and plain["cleanup"] is False
    raw = np.load(__import__("io").BytesIO(call(server, plain["files"]["npy"])[2]))
    served = np.load(__import__("io").BytesIO(call(server, cleaned["files"]["npy"])[2]))
    expected, report = clean_feet(Motion(raw))
    assert report.changed and np.allclose(served, expected.features, atol=1e-5)
