"""Corpus building: sources -> ingest -> featurise -> quality filter -> shards -> clip table, stats and splits.

MotionMillion built its 2M-clip corpus with an unreleased pipeline; this one is written so that a build is a pure
function of its inputs, whatever runs it:

* Work plan. Items are the (source, key) pairs of every source in the given order, keys as the source sorts them.
  The plan is cut into shards of `shard_size` items. Shard k is made by `process_shard(spec)`, a pure function
  that loads, filters and writes its shard with `store.ShardWriter`. The same function runs in-process, in a local
  process pool or as Ray tasks, so the corpus is byte-identical across engines and worker counts.
* Nothing is lost silently. An item whose `load` raises is quarantined (stage "read", filter "load"); one that
  yields no sample is quarantined once (filter "empty"); a rejection sample (`Sample.rejection`: a part the source
  rejected itself, such as a video's track) is quarantined with the source's stage, filter, value and reason; a
  sample that cannot be resampled or fails a quality filter is quarantined with the filter, the value and the
  reason. Accounting: an item has `max(1, samples)` outcomes (rejection samples are samples) and each outcome is
  exactly one clip-table row or one quarantine row, so `sum over items of max(1, samples) == clips + quarantined`;
  the build checks this (and each part's row counts against its shard info) and raises if it does not hold.
* Resumable. A shard is done when `completed_shard` finds its files intact and its plan digest (sources, keys,
  frame rate, split rule, quality thresholds) matches; a rerun after a crash or `kill -9` only redoes the rest.
  Finalisation streams the parts shard by shard in shard order and is deterministic, so a resumed build equals a
  clean one byte for byte.
* Splits: the source's split when it gives one, else a hash of the clip id into train/val/test by fractions.

Shape legend: T frames, F features.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motionmill.data.quality import QualityConfig, assess
from motionmill.data.sources import Sample, Source, open_source
from motionmill.data.store import (
    SCHEMA_VERSION,
    ClipRecord,
    QuarantineRecord,
    ShardWriter,
    clip_schema,
    completed_shard,
    import_pyarrow,
    quarantine_schema,
    shard_name,
)
from motionmill.utils.io import atomic_path, atomic_write

__all__ = ["BuildConfig", "ShardSpec", "build_corpus", "describe", "hash_split", "plan_shards", "process_shard"]

ENGINES = ("local", "ray")
_PARTIAL = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}")
"""Names of unfinished atomic writes: ".<name>.<pid>.<8 hex digits><suffix>" (utils.io.atomic_path)."""
RAY_HINT = "the ray engine needs Ray: pip install 'motionmill[ray]'"


@dataclass(frozen=True)
class BuildConfig:
    """How to build a corpus. Only `fps`, `shard_size`, the split rule and `quality` change the corpus bytes."""

    shard_size: int = 1000
    """Items per shard (--shard-size): the unit of work, of resume and of parallelism."""
    workers: int | None = None
    """Worker processes (--workers); None means os.cpu_count(); 1 runs in this process (local engine)."""
    engine: str = "local"
    """--engine: "local" (process pool) or "ray" (Ray tasks; extra motionmill[ray])."""
    ray_address: str | None = None
    """--ray-address of an existing Ray cluster; None starts a local Ray instance."""
    fps: float = 30.0
    """Corpus frame rate (--fps); samples at another rate are resampled."""
    split_fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)
    """train/val/test fractions for clips whose source gives no split."""
    split_seed: int = 0
    """Salt of the split hash."""
    quality: QualityConfig = field(default_factory=QualityConfig)
    """Quality filter thresholds."""
    progress: bool = True
    """Show a tqdm progress bar (items/s) on stderr."""

    def __post_init__(self) -> None:
        if not (isinstance(self.shard_size, int) and self.shard_size >= 1):
            raise ValueError(f"--shard-size must be a positive integer, got {self.shard_size!r}")
        if self.workers is not None and not (isinstance(self.workers, int) and self.workers >= 1):
            raise ValueError(f"--workers must be a positive integer, got {self.workers!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"--fps must be a positive number, got {self.fps!r}")
        fr = self.split_fractions
        if len(fr) != 3 or min(fr) < 0 or abs(sum(fr) - 1) > 1e-6:
            raise ValueError(f"split_fractions must be 3 non-negative numbers summing to 1, got {fr!r}")

    @property
    def num_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def content(self) -> dict:
        """The settings that determine the corpus bytes (recorded in the manifest and the shard digests)."""
        return {"fps": self.fps, "shard_size": self.shard_size, "split_fractions": list(self.split_fractions),
                "split_seed": self.split_seed, "quality": self.quality.to_dict()}  # fmt: skip


@dataclass(frozen=True)
class ShardSpec:
    """Everything `process_shard` needs to make shard `index`; picklable for worker processes and Ray."""

    out: str
    index: int
    sources: tuple
    """All sources of the build (small, picklable dataclasses)."""
    items: tuple[tuple[int, str], ...]
    """(source position, key) pairs of this shard, in plan order."""
    fps: float
    split_fractions: tuple[float, float, float]
    split_seed: int
    quality: QualityConfig
    digest: str
    """SHA-256 of the plan of this shard: a completed shard with another digest is rebuilt."""


# ---------------------------------------------------------------- splits and plan


def hash_split(clip_id: str, fractions: Sequence[float] = (0.9, 0.05, 0.05), seed: int = 0) -> str:
    """train/val/test from a hash of the clip id: stable across runs, machines and corpus sizes."""
    u = int.from_bytes(hashlib.sha256(f"{seed}/{clip_id}".encode()).digest()[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "val" if u < fractions[0] + fractions[1] else "test"


def plan_shards(sources: Sequence[Source], out: str | Path, cfg: BuildConfig) -> list[ShardSpec]:
    """The deterministic work plan: every source's items in order, cut into shards of `cfg.shard_size` items."""
    items = [(i, key) for i, source in enumerate(sources) for key in source.items()]
    ids = [repr(source) for source in sources]
    specs = []
    for index, start in enumerate(range(0, len(items), cfg.shard_size)):
        chunk = tuple(items[start : start + cfg.shard_size])
        used = sorted({i for i, _ in chunk})
        plan = {"schema": SCHEMA_VERSION, "sources": [ids[i] for i in used], "items": chunk, **cfg.content()}
        digest = hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode()).hexdigest()
        specs.append(ShardSpec(str(out), index, tuple(sources), chunk, cfg.fps, tuple(cfg.split_fractions),
                               cfg.split_seed, cfg.quality, digest))  # fmt: skip
    return specs


# ---------------------------------------------------------------- one shard


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Torch on one thread: the workers share the cores, and float sums then do not depend on the thread count."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def process_shard(spec: ShardSpec) -> dict:
    """Load, filter and write one shard; returns its info (also written to parts/<shard>.json).

    Never raises for bad items: they go to the shard's quarantine. The info holds the item accounting (`items`,
    `outcomes` = sum of max(1, samples)) and counts per source, split and filter for the manifest.
    """
    writer = ShardWriter(spec.out, spec.index)
    tally = {"outcomes": 0, "samples": 0, "sources": Counter(), "rejected_sources": Counter(),
             "splits": Counter(), "split_frames": Counter(), "filters": Counter()}  # fmt: skip
    with _one_thread():
        for position, key in spec.items:
            _process_item(writer, spec.sources[position], key, spec, tally)
    extra = {"digest": spec.digest, "items": len(spec.items), "outcomes": tally["outcomes"],
             "samples": tally["samples"], **{k: dict(sorted(v.items())) for k, v in tally.items()
                                             if isinstance(v, Counter)}}  # fmt: skip
    return writer.close(extra)


def _reject(writer: ShardWriter, tally: dict, item: str, source: str, stage: str, flt: str, value: float,
            reason: str) -> None:  # fmt: skip
    writer.reject(QuarantineRecord(item, source, stage, flt, float(value), reason))
    tally["filters"][flt] += 1
    tally["rejected_sources"][source] += 1


def _process_item(writer: ShardWriter, source: Source, key: str, spec: ShardSpec, tally: dict) -> None:
    """One item: load it, then featurise, filter and store (or quarantine) each of its samples."""
    item = f"{source.name}/{key}"
    try:
        samples = list(source.load(key))
    except Exception as e:  # any reader failure is the item's problem, never the build's
        tally["outcomes"] += 1
        return _reject(writer, tally, item, source.name, "read", "load", math.nan, f"{type(e).__name__}: {e}")
    if not samples:
        tally["outcomes"] += 1
        return _reject(writer, tally, item, source.name, "read", "empty", 0, "the item yielded no samples")
    tally["outcomes"] += len(samples)
    tally["samples"] += len(samples)
    for sample in samples:
        _process_sample(writer, source, sample, spec, tally)


def _process_sample(writer: ShardWriter, source: Source, sample: Sample, spec: ShardSpec, tally: dict) -> None:
    """Resample to the corpus rate, run the quality filters, then add the clip or quarantine it."""
    sid = str(sample.id)
    if sample.rejection is not None:  # rejected by its source: recorded as the source measured it
        stage, flt, value, reason = sample.rejection
        return _reject(writer, tally, sid, source.name, str(stage), str(flt), value, str(reason))
    try:
        if sample.motion.fps != spec.fps:
            sample.motion = sample.motion.resample(spec.fps)
    except Exception as e:
        return _reject(writer, tally, sid, source.name, "featurise", "resample", math.nan, f"{type(e).__name__}: {e}")
    try:
        scores, failures = assess(sample, spec.quality)
    except Exception as e:
        return _reject(writer, tally, sid, source.name, "filter", "error", math.nan, f"{type(e).__name__}: {e}")
    if failures:
        flt, value, _ = failures[0]
        return _reject(writer, tally, sid, source.name, "filter", flt, value, "; ".join(r for _, _, r in failures))
    split = sample.split or hash_split(sid, spec.split_fractions, spec.split_seed)
    texts = [{"text": str(t.get("text", "")), "start": float(t.get("start", 0.0)), "end": float(t.get("end", 0.0))}
             for t in sample.texts]  # fmt: skip
    record = ClipRecord(sid, source.name, sample.licence or source.licence, spec.fps, texts, scores, split,
                        dict(sample.meta))  # fmt: skip
    try:
        writer.add(record, sample.motion.features)
    except Exception as e:  # e.g. metadata that is not JSON: the row is not written, so quarantine the sample
        return _reject(writer, tally, sid, source.name, "store", "error", math.nan, f"{type(e).__name__}: {e}")
    tally["sources"][source.name] += 1
    tally["splits"][split] += 1
    tally["split_frames"][split] += sample.motion.num_frames


# ---------------------------------------------------------------- engines


def _run_local(specs: list[ShardSpec], workers: int, done: Callable[[dict], None]) -> None:
    """Run shards in this process (workers == 1) or in a pool of fresh (spawned) processes."""
    if workers == 1 or len(specs) <= 1:
        for spec in specs:
            done(process_shard(spec))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")  # no fork of a parent that may hold torch threads
    with ProcessPoolExecutor(min(workers, len(specs)), mp_context=ctx) as pool:
        for future in as_completed([pool.submit(process_shard, spec) for spec in specs]):
            done(future.result())


def _run_ray(specs: list[ShardSpec], cfg: BuildConfig, done: Callable[[dict], None]) -> None:
    """Run shards as Ray tasks on an existing cluster (cfg.ray_address) or a local instance.

    On a cluster, `out` must be a folder every node can write (a shared file system).
    """
    try:
        import ray
    except ImportError:
        raise ImportError(RAY_HINT) from None
    started = not ray.is_initialized()
    if started:
        local = {} if cfg.ray_address else {"num_cpus": cfg.num_workers}
        ray.init(address=cfg.ray_address, include_dashboard=False, log_to_driver=False, **local)
    try:
        task = ray.remote(num_cpus=1, max_retries=2)(process_shard)
        pending = [task.remote(spec) for spec in specs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            done(ray.get(ready[0]))
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------- finalisation (streams shard by shard)


def _part(out: Path, index: int, kind: str) -> Path:
    return out / "parts" / f"{shard_name(index)}.{kind}"


def _check_accounting(out: Path, specs: list[ShardSpec], infos: list[dict]) -> dict:
    """Verify that every planned item is accounted for; returns the build's accounting."""
    _, pq = import_pyarrow()
    for spec, info in zip(specs, infos, strict=True):
        rows = (pq.read_metadata(_part(out, spec.index, "clips.parquet")).num_rows,
                pq.read_metadata(_part(out, spec.index, "quarantine.parquet")).num_rows)  # fmt: skip
        if info["items"] != len(spec.items) or rows != (info["clips"], info["quarantined"]):
            raise RuntimeError(f"{info['name']}: {info['items']} items and rows {rows} disagree with the plan "
                               f"({len(spec.items)} items) or the shard info")  # fmt: skip
        if info["outcomes"] != info["clips"] + info["quarantined"]:
            raise RuntimeError(f"{info['name']}: {info['outcomes']} item outcomes but {info['clips']} clips + "
                               f"{info['quarantined']} quarantined")  # fmt: skip
    total = {k: sum(i[k] for i in infos) for k in ("items", "samples", "outcomes", "clips", "quarantined")}
    planned = sum(len(s.items) for s in specs)
    if total["items"] != planned or total["outcomes"] != total["clips"] + total["quarantined"]:
        raise RuntimeError(f"items lost: {planned} planned, accounting {total}")
    return {**total, "rule": "sum over items of max(1, samples) == clips + quarantined"}


def _concat_parts(out: Path, n: int, kind: str, name: str, schema) -> None:
    """Concatenate the parts of one table, in shard order, into one Parquet file (one row group per shard)."""
    _, pq = import_pyarrow()
    with atomic_path(out / name) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for k in range(n):
            writer.write_table(pq.read_table(_part(out, k, kind), schema=schema))


def _clip_slices(out: Path, n: int, split: str | None) -> Iterator[tuple[str, str, np.ndarray]]:
    """(id, split, (T, F) float16 memmap slice) of every clip, or of one split's clips, shard by shard."""
    _, pq = import_pyarrow()
    for k in range(n):
        table = pq.read_table(_part(out, k, "clips.parquet"), columns=["id", "split", "offset", "frames"]).to_pydict()
        shard = np.load(out / "shards" / f"{shard_name(k)}.npy", mmap_mode="r")
        for cid, s, off, t in zip(table["id"], table["split"], table["offset"], table["frames"], strict=True):
            if split is None or s == split:
                yield cid, s, shard[off : off + t]


def _write_splits(out: Path, n: int, names: list[str]) -> None:
    """splits/<split>.txt: clip ids one per line, in corpus order."""
    with contextlib.ExitStack() as stack:
        files = {s: stack.enter_context(open(stack.enter_context(atomic_path(out / "splits" / f"{s}.txt")), "w"))
                 for s in names}  # fmt: skip
        _, pq = import_pyarrow()
        for k in range(n):
            table = pq.read_table(_part(out, k, "clips.parquet"), columns=["id", "split"]).to_pydict()
            for cid, s in zip(table["id"], table["split"], strict=True):
                files[s].write(cid + "\n")


def _write_stats(out: Path, n: int, splits: dict) -> str | None:
    """stats.safetensors fitted in one streaming pass over the train split (all clips if there is none)."""
    from motionmill.motion.normalize import Normalizer

    split = "train" if splits.get("train", 0) else None
    frames = sum(c for s, c in splits.items() if split is None or s == split)
    if frames < 2:
        (out / "stats.safetensors").unlink(missing_ok=True)
        return None
    Normalizer.fit(x for _, _, x in _clip_slices(out, n, split)).save(out / "stats.safetensors")
    return split or "all"


def _merge(infos: list[dict], key: str) -> dict:
    total = Counter()
    for info in infos:
        total.update(info.get(key, {}))
    return dict(sorted(total.items()))


def _finalise(out: Path, specs: list[ShardSpec], cfg: BuildConfig, sources: Sequence[Source]) -> dict:
    """Write clips.parquet, quarantine.parquet, splits, stats and (last) manifest.json; return the manifest."""
    infos = [json.loads(_part(out, s.index, "json").read_text()) for s in specs]
    accounting = _check_accounting(out, specs, infos)
    n = len(specs)
    _concat_parts(out, n, "clips.parquet", "clips.parquet", clip_schema())
    _concat_parts(out, n, "quarantine.parquet", "quarantine.parquet", quarantine_schema())
    splits = _merge(infos, "splits")
    _write_splits(out, n, list(splits))
    split_frames = _merge(infos, "split_frames")
    stats_from = _write_stats(out, n, split_frames)
    frames = sum(i["frames"] for i in infos)
    counts = {"clips": accounting["clips"], "quarantined": accounting["quarantined"], "frames": frames,
              "hours": frames / cfg.fps / 3600, "sources": _merge(infos, "sources"),
              "rejected_sources": _merge(infos, "rejected_sources"), "filters": _merge(infos, "filters"),
              "splits": splits, "split_frames": split_frames}  # fmt: skip
    manifest = {"schema_version": SCHEMA_VERSION, "feature_dim": 272, "layout": "272", "fps": cfg.fps,
                "sources": [repr(s) for s in sources], "config": cfg.content(),
                "counts": counts, "accounting": accounting, "stats_from": stats_from, "shards": infos}  # fmt: skip
    atomic_write(out / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


# ---------------------------------------------------------------- the build


def _remove_partial_writes(out: Path) -> None:
    """Delete temporary files that a killed build left behind (utils.io.atomic_path names them ".<name>.*")."""
    for folder in (out, out / "shards", out / "parts", out / "splits"):
        if folder.is_dir():
            for tmp in folder.glob(".*"):
                if tmp.is_file() and _PARTIAL.match(tmp.name):
                    tmp.unlink(missing_ok=True)


def build_corpus(sources: Sequence[str | Source], out: str | Path, cfg: BuildConfig | None = None) -> dict:
    """Build (or resume building) a corpus in `out` from sources.

    Args:
        sources: spec strings ("builtin:1000", "humanml3d:/data/HumanML3D", ...) or Source objects.
        out: the corpus folder; shards already complete there with the same plan are kept.
        cfg: the build configuration.

    Returns:
        A summary: the manifest's counts and accounting, plus `built` and `reused` shard counts and `seconds`.
    """
    cfg = cfg or BuildConfig()
    start, out = time.perf_counter(), Path(out)
    _remove_partial_writes(out)
    opened = [open_source(s) if isinstance(s, str) else s for s in sources]
    specs = plan_shards(opened, out, cfg)
    todo = [s for s in specs if (completed_shard(out, s.index) or {}).get("digest") != s.digest]
    from tqdm.auto import tqdm

    total = sum(len(s.items) for s in specs)
    with tqdm(total=total, initial=total - sum(len(s.items) for s in todo), unit="item", desc="corpus",
              disable=not cfg.progress, smoothing=0.1) as bar:  # fmt: skip

        def done(info: dict) -> None:
            bar.update(info["items"])

        if cfg.engine == "ray":
            _run_ray(todo, cfg, done)
        else:
            _run_local(todo, cfg.num_workers, done)
    manifest = _finalise(out, specs, cfg, opened)
    return {"out": str(out), **manifest["counts"], "accounting": manifest["accounting"], "shards": len(specs),
            "built": len(todo), "reused": len(specs) - len(todo), "seconds": time.perf_counter() - start}  # fmt: skip


def describe(root: str | Path) -> str:
    """A plain-text report of a corpus: counts per source and split, hours of motion, rejections per filter."""
    manifest_path = Path(root) / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{root}: not a corpus (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    c, frames_per_hour = manifest["counts"], manifest["fps"] * 3600
    lines = [f"{root}: {c['clips']} clips, {c['hours']:.2f} h of motion, {c['quarantined']} quarantined"]
    lines += ["clips per source:"] + [f"  {s:<20} {n:>9} kept {c['rejected_sources'].get(s, 0):>9} rejected"
                                       for s in sorted(set(c["sources"]) | set(c["rejected_sources"]))
                                       for n in [c["sources"].get(s, 0)]]  # fmt: skip
    lines += ["clips per split:"] + [f"  {s:<20} {n:>9} {c['split_frames'][s] / frames_per_hour:9.2f} h"
                                      for s, n in c["splits"].items()]  # fmt: skip
    lines += ["rejected per filter:"] + [f"  {f:<20} {n:>9}" for f, n in c["filters"].items()]
    return "\n".join(lines)
