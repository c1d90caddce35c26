"""`motionmill serve`: text to motion over HTTP, with requests that arrive together sampled as one batch.

Endpoints (the OpenAPI schema is at /openapi.json):
- `POST /v1/motions` {"prompt", "seconds", "seed", "temperature", "top_k", "top_p", "guidance", "greedy",
  "candidates", "compose", "cleanup"}: every field but the prompt optional; answers the motion's id, duration,
  frames, fps and a link per file format;
- `GET /v1/motions/{id}.{npy,joints.npy,bvh,glb,smpl.npz,mp4,html}`: the motion in that format, written on first
  request and kept;
- `GET /healthz`, `GET /metrics` (Prometheus text format), `GET /` (the web page, `serve/web.py`).

Batching: a POST puts its request on a bounded queue and waits. One worker thread takes the first waiting request,
collects those that arrive within `batch_wait` (up to `max_batch`), and samples each group with the same sampling
settings in one call of the pipeline, which batches prompts with their own durations and seeds. A full queue answers
503 with Retry-After; a request not answered within `request_timeout` answers 504.

The module does not postpone annotations: FastAPI reads the request schema and `Request` from the endpoints'
annotations, which are local to `create_app`.

Limits and safety: request bodies over `max_body_bytes`, prompts over `max_prompt_chars`, durations outside
(0, the model's maximum], unknown fields and wrong types are refused with a 4xx naming the field. Binding to any
address but loopback needs a token (`--token` or MOTIONMILL_TOKEN), then required as `Authorization: Bearer` on
every /v1 route and /metrics. Requests to a loopback server must name it in their Host header (a page elsewhere
cannot reach it through a rebound DNS name). Only generated files are served: ids are random 32-hex names checked
against the store, formats come from a fixed list. Results are kept under `max_store_bytes`, oldest deleted first.
"""

import asyncio
import concurrent.futures
import json
import os
import queue
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

from motionmill.inference.settings import SamplingSettings

__all__ = ["FORMATS", "ServeSettings", "create_app", "run_server", "serving"]

FORMATS = {"npy": ".npy", "joints.npy": ".joints.npy", "bvh": ".bvh", "glb": ".glb", "smpl.npz": ".smpl.npz",
           "mp4": ".mp4", "html": ".html"}  # fmt: skip
"""URL suffix -> file suffix of every format a motion is served in."""
_MEDIA = {"npy": "application/octet-stream", "joints.npy": "application/octet-stream", "bvh": "text/plain",
          "glb": "model/gltf-binary", "smpl.npz": "application/zip", "mp4": "video/mp4",
          "html": "text/html"}  # fmt: skip
_ID = re.compile(r"[0-9a-f]{32}")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class ServeSettings:
    """What a server runs and the limits it enforces."""

    model: str = "builtin"
    """Pipeline folder, or builtin (--model)."""
    host: str = "127.0.0.1"
    """Address to bind (--host); anything but loopback needs a token."""
    port: int = 8000
    """Port (--port); 0 picks a free one."""
    token: str | None = None
    """Bearer token required on /v1 routes and /metrics (--token, or MOTIONMILL_TOKEN)."""
    store: str | None = None
    """Folder for generated files (--store); a temporary folder by default."""
    max_batch: int = 16
    """Requests sampled together at most."""
    batch_wait: float = 0.05
    """Seconds the worker waits for more requests after the first one of a batch."""
    max_queue: int = 64
    """Requests waiting at most; more get 503."""
    max_body_bytes: int = 16_384
    """Largest request body."""
    max_prompt_chars: int = 1_000
    """Longest prompt."""
    max_candidates: int = 16
    """Largest best-of-N a request may ask."""
    request_timeout: float = 120.0
    """Seconds a POST waits for its motion before answering 504."""
    max_store_bytes: int = 512 * 1024**2
    """Generated files kept at most; the oldest motions go first."""

    def __post_init__(self) -> None:
        if self.token is None:
            self.token = os.environ.get("MOTIONMILL_TOKEN") or None
        if self.host not in LOOPBACK and not self.token:
            raise ValueError(f"--host {self.host} is reachable from other machines: give --token TOKEN (or set "
                             "MOTIONMILL_TOKEN), which every request must then send as "
                             "'Authorization: Bearer'")  # fmt: skip
        positive = {"--port": self.port >= 0, "max_batch": self.max_batch >= 1, "max_queue": self.max_queue >= 1,
                    "batch_wait": self.batch_wait >= 0, "max_body_bytes": self.max_body_bytes >= 256,
                    "max_prompt_chars": self.max_prompt_chars >= 1,
                    "request_timeout": self.request_timeout > 0}  # fmt: skip
        if bad := [name for name, ok in positive.items() if not ok]:
            raise ValueError(f"invalid server settings: {', '.join(bad)}")


@dataclass
class _Job:
    prompt: str
    seconds: float | None
    seed: int
    sampling: SamplingSettings
    cleanup: bool
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class QueueFull(Exception):
    """The server has max_queue requests waiting."""


class Batcher:
    """One worker thread sampling queued jobs in batches (see the module docstring)."""

    def __init__(self, pipe, store: "MotionStore", settings: ServeSettings, metrics: "_Metrics"):
        self.pipe, self.store, self.settings, self.metrics = pipe, store, settings, metrics
        self.jobs: queue.Queue[_Job] = queue.Queue(maxsize=settings.max_queue)
        self.thread = threading.Thread(target=self._run, name="motionmill-batcher", daemon=True)
        self.thread.start()

    def submit(self, job: _Job) -> concurrent.futures.Future:
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            raise QueueFull from None
        self.metrics.queue_depth.set(self.jobs.qsize())
        return job.future

    def _next_batch(self) -> list[_Job]:
        batch = [self.jobs.get()]
        deadline = time.monotonic() + self.settings.batch_wait
        while len(batch) < self.settings.max_batch:
            try:
                batch.append(self.jobs.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        self.metrics.queue_depth.set(self.jobs.qsize())
        return [job for job in batch if job.future.set_running_or_notify_cancel()]

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            groups: dict[tuple, list[_Job]] = {}
            for job in batch:
                groups.setdefault(tuple(sorted(job.sampling.given().items())), []).append(job)
            for jobs in groups.values():
                self._sample(jobs)

    def _sample(self, jobs: list[_Job]) -> None:
        """One pipeline call for jobs sharing their sampling settings; every job gets a result or its error."""
        self.metrics.batch_size.observe(len(jobs))
        try:
            motions = self.pipe([j.prompt for j in jobs], seconds=[j.seconds for j in jobs],
                                seed=[j.seed for j in jobs], sampling=jobs[0].sampling)  # fmt: skip
        except Exception as e:  # never the worker; a request that fails alone fails only itself
            if len(jobs) > 1:
                for job in jobs:
                    self._sample([job])
            else:
                jobs[0].future.set_exception(e)
            return
        for job, motion in zip(jobs, motions, strict=True):
            try:
                if job.cleanup:
                    from motionmill.motion.cleanup import clean_feet

                    motion, _ = clean_feet(motion)
                job.future.set_result(self.store.add(job, motion))
            except Exception as e:
                job.future.set_exception(e)


class MotionStore:
    """Generated motions on disk: STORE/ID/motion.npy and record.json, other formats written on first request.

    The bytes of every motion are counted as files are written (a folder scan happens once, at start), so keeping
    the store under `max_bytes` costs nothing per request however many motions it holds.
    """

    def __init__(self, folder: Path, max_bytes: int):
        self.folder, self.max_bytes = folder, max_bytes
        self.lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)
        existing = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        self.sizes = {p.name: sum(f.stat().st_size for f in p.iterdir()) for p in existing}  # oldest first

    def add(self, job: _Job, motion) -> dict:
        from motionmill.export.formats import write_motion
        from motionmill.utils.io import atomic_write

        motion_id = secrets.token_hex(16)
        folder = self.folder / motion_id
        folder.mkdir()
        write_motion(motion, folder / "motion.npy")
        record = {"id": motion_id, "prompt": job.prompt, "seconds_asked": job.seconds, "seed": job.seed,
                  "duration": motion.duration, "frames": motion.num_frames, "fps": motion.fps,
                  "sampling": job.sampling.given(), "cleanup": job.cleanup,
                  "files": {name: f"/v1/motions/{motion_id}.{name}" for name in FORMATS}}  # fmt: skip
        atomic_write(folder / "record.json", json.dumps(record, indent=2))
        self._grew(motion_id, sum(f.stat().st_size for f in folder.iterdir()))
        return record

    def path(self, motion_id: str, name: str) -> Path | None:
        """The file of a stored motion in format `name`, written now if needed; None if the id is unknown."""
        from motionmill.export.formats import read_motion, write_motion

        if not _ID.fullmatch(motion_id) or name not in FORMATS or motion_id not in self.sizes:
            return None
        folder = self.folder / motion_id
        target = folder / f"motion{FORMATS[name]}"
        try:
            if not target.is_file():
                record = json.loads((folder / "record.json").read_text())
                write_motion(read_motion(folder / "motion.npy", fps=record["fps"]), target, title=record["prompt"])
                self._grew(motion_id, target.stat().st_size)
        except FileNotFoundError:  # deleted by the size cap meanwhile
            return None
        return target

    def _grew(self, motion_id: str, size: int) -> None:
        """Count `size` more bytes for a motion, then delete the oldest motions while the store is over max_bytes
        (the newest always stays)."""
        with self.lock:
            self.sizes[motion_id] = self.sizes.get(motion_id, 0) + size
            total = sum(self.sizes.values())
            for old in list(self.sizes)[:-1]:
                if total <= self.max_bytes:
                    break
                if old != motion_id:
                    total -= self.sizes.pop(old)
                    shutil.rmtree(self.folder / old, ignore_errors=True)


class _Metrics:
    """Prometheus metrics of one server (its own registry, so several servers can live in one process)."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("motionmill_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=self.registry)  # fmt: skip
        self.latency = Histogram("motionmill_generate_seconds", "Seconds from POST to answer",
                                 buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128),
                                 registry=self.registry)  # fmt: skip
        self.batch_size = Histogram("motionmill_batch_size", "Requests sampled in one pipeline call",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)  # fmt: skip
        self.queue_depth = Gauge("motionmill_queue_depth", "Requests waiting", registry=self.registry)


def _request_model(settings: ServeSettings, max_seconds: float):
    """The POST body's schema: types, ranges and caps, unknown fields refused."""
    from typing import Annotated

    from pydantic import BaseModel, ConfigDict, Field, StringConstraints

    help_of = {f.name: f.metadata["help"] for f in fields(SamplingSettings)}

    class MotionRequest(BaseModel):
        """A motion to generate; fields left out take the model's defaults."""

        model_config = ConfigDict(extra="forbid")
        prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                 max_length=settings.max_prompt_chars)] = Field(
            description="what the motion shows, in English")  # fmt: skip
        seconds: float | None = Field(None, gt=0, le=max_seconds, allow_inf_nan=False,
                                      description="target duration; left out, the model decides")  # fmt: skip
        seed: int = Field(0, ge=0, le=2**31 - 1, description="the same request and seed give the same motion")
        temperature: float | None = Field(None, gt=0, le=10, allow_inf_nan=False, description=help_of["temperature"])
        top_k: int | None = Field(None, ge=0, le=1_000_000, description=help_of["top_k"])
        top_p: float | None = Field(None, gt=0, le=1, description=help_of["top_p"])
        guidance: float | None = Field(None, ge=0, le=50, allow_inf_nan=False, description=help_of["guidance"])
        greedy: bool | None = Field(None, description=help_of["greedy"])
        candidates: int | None = Field(None, ge=1, le=settings.max_candidates, description=help_of["candidates"])
        compose: bool | None = Field(None, description=help_of["compose"])
        min_seconds: float | None = Field(None, ge=0, le=max_seconds, allow_inf_nan=False,
                                          description=help_of["min_seconds"])  # fmt: skip
        cleanup: bool = Field(False, description="lock planted feet (foot-contact clean-up) before writing the files")

    return MotionRequest


class _BodyLimit:
    """ASGI middleware: 413 for bodies over `max_bytes`, declared or streamed. A streamed body is answered as soon as
    it passes the limit, and the application is told the client left (it would turn an error raised while it reads
    the body into a 400)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = {"detail": f"the request body is over {self.max_bytes} bytes"}
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await _send_json(send, 413, too_large)
        received, answered = 0, False

        async def limited_receive():
            nonlocal received, answered
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes and not answered:
                answered = True
                await _send_json(send, 413, too_large)
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not answered:  # after our 413 the application's own answer is dropped
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _send_json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: ServeSettings, pipe=None):
    """The FastAPI application; `pipe` is a loaded `TextToMotion` (default: `settings.model`, loaded now)."""
    import tempfile

    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.responses import FileResponse, HTMLResponse, Response
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from motionmill.inference.pipeline import TextToMotion
    from motionmill.serve.web import api_docs, page

    pipe = pipe or TextToMotion.from_pretrained(settings.model)
    store_dir = Path(settings.store) if settings.store else Path(tempfile.mkdtemp(prefix="motionmill-serve-"))
    metrics = _Metrics()
    store = MotionStore(store_dir, settings.max_store_bytes)
    batcher = Batcher(pipe, store, settings, metrics)
    MotionRequest = _request_model(settings, pipe.max_seconds)  # noqa: N806 (a class)

    app = FastAPI(title="motionmill", version="1", docs_url=None, redoc_url=None,
                  description="Text to motion. POST /v1/motions, then GET the files it links.")  # fmt: skip
    app.state.store, app.state.batcher, app.state.metrics = store, batcher, metrics
    # a loopback server answers loopback names only (a rebound DNS name cannot reach it); one bound elsewhere is
    # reached by whatever name the machine has, and its token is what keeps others out
    hosts = [*LOOPBACK, "[::1]"] if settings.host in LOOPBACK else ["*"]
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    app.add_middleware(_BodyLimit, max_bytes=settings.max_body_bytes)

    @app.middleware("http")
    async def count(request: Request, call_next):
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.requests.labels(getattr(route, "path", "other"), str(response.status_code)).inc()
        return response

    def authorised(request: Request) -> None:
        if not settings.token:
            return
        sent = request.headers.get("authorization", "")
        if not secrets.compare_digest(sent.encode(), f"Bearer {settings.token}".encode()):
            raise HTTPException(401, "send the server's token as 'Authorization: Bearer TOKEN'",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    @app.post("/v1/motions", dependencies=[Depends(authorised)])
    async def create_motion(body: MotionRequest) -> dict:
        """Generate a motion; answers its id, duration, frames, fps and a link per file format."""
        sampling = body.model_dump(exclude={"prompt", "seconds", "seed", "cleanup"}, exclude_none=True)
        job = _Job(body.prompt, body.seconds, body.seed, SamplingSettings(**sampling), body.cleanup)
        started = time.monotonic()
        try:
            future = batcher.submit(job)
        except QueueFull:
            raise HTTPException(503, f"{settings.max_queue} requests are waiting; retry shortly",
                                headers={"Retry-After": "2"}) from None  # fmt: skip
        try:
            record = await asyncio.wait_for(asyncio.wrap_future(future), settings.request_timeout)
        except TimeoutError:
            raise HTTPException(504, f"no motion within {settings.request_timeout:g} s") from None
        except ValueError as e:  # the pipeline refused this request's values
            raise HTTPException(422, str(e)) from None
        metrics.latency.observe(time.monotonic() - started)
        return record

    @app.get("/v1/motions/{name}", dependencies=[Depends(authorised)])
    def motion_file(name: str):
        """A generated motion as ID.npy, ID.joints.npy, ID.bvh, ID.glb, ID.smpl.npz, ID.mp4 or ID.html."""
        motion_id, _, suffix = name.partition(".")
        path = store.path(motion_id, suffix)
        if path is None:
            raise HTTPException(404, f"no motion file {name!r}; formats: {', '.join(FORMATS)}")
        return FileResponse(path, media_type=_MEDIA[suffix], filename=f"motion-{motion_id[:8]}.{suffix}")

    @app.get("/healthz")
    def healthz() -> dict:
        """Liveness: the model, the requests waiting and the longest duration it samples."""
        return {"status": "ok", "model": pipe.name or settings.model, "queue": batcher.jobs.qsize(),
                "max_seconds": pipe.max_seconds}  # fmt: skip

    @app.get("/metrics", dependencies=[Depends(authorised)])
    def prometheus() -> Response:
        """Prometheus metrics: requests by route and status, latency, batch sizes, queue depth."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/docs", response_class=HTMLResponse)
    def docs() -> str:
        """This API's routes and request fields, as a page that needs no network."""
        return api_docs(app.openapi())

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        """The web page."""
        return page(list(FORMATS), pipe.max_seconds, settings.max_prompt_chars, bool(settings.token))

    return app


class _Server:
    """A uvicorn server on a thread (for `serving`); the bound port is read back after start."""

    def __init__(self, app, settings: ServeSettings):
        import uvicorn

        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                                timeout_keep_alive=5, limit_concurrency=settings.max_queue * 4)  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="motionmill-serve", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serving(settings: ServeSettings, pipe=None) -> _Server:
    """`with serving(settings) as url:` a running server on a thread, stopped on exit (tests, benchmarks)."""
    return _Server(create_app(settings, pipe), settings)


def run_server(settings: ServeSettings) -> None:
    """Load the model, then serve until interrupted (`motionmill serve`)."""
    import uvicorn

    app = create_app(settings)
    where = f"http://{settings.host}:{settings.port}/"
    print(f"motionmill serving {settings.model} on {where} (web page), {where}openapi.json (API schema)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", timeout_keep_alive=5,
                limit_concurrency=settings.max_queue * 4)  # fmt: skip
