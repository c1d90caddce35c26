"""The corpus store: fixed-size shards of features plus a Parquet clip table, a manifest, stats and splits.

Layout of a corpus folder:

    manifest.json          schema version, counts, feature layout, one entry per shard with its SHA-256
    shards/shard-00000.npy (frames, F) float16, all clips of the shard back to back, memory-mappable
    clips.parquet          one row per clip: id, source, licence, fps, frames, texts (text, start, end), quality
                           scores, split, shard, offset, meta (JSON)
    quarantine.parquet     one row per rejected item: item, source, stage, filter, value, reason
    stats.safetensors      normalisation mean / group-constant std (motion.normalize)
    splits/<split>.txt     clip ids, one per line
    parts/shard-00000.*    per-shard clip and quarantine tables and the shard info (.json, written last), from
                           which the build assembles the tables above in shard order; kept for resuming

Motion and annotations are stored apart (TMR's convention), so the table opens in pandas, DuckDB or Ray without
touching motion, and one clip or window is read from its shard without reading other clips. Shards are written
by `ShardWriter` (one per shard, atomically) and are final once written, which makes builds resumable.

Shape legend: T frames, F features.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from motionmill.utils.io import atomic_write, npy_bytes

__all__ = ["SCHEMA_VERSION", "ClipRecord", "Corpus", "QuarantineRecord", "ShardWriter", "clip_schema",
           "completed_shard", "quarantine_schema", "shard_name"]  # fmt: skip

SCHEMA_VERSION = 1
SPLITS = ("train", "val", "test", "zeroshot")


@dataclass
class ClipRecord:
    """The table row of one clip (its features go to the shard)."""

    id: str
    source: str
    licence: str
    fps: float
    texts: list[dict] = field(default_factory=list)
    """[{"text": str, "start": seconds, "end": seconds}]; start = end = 0 means the whole clip."""
    quality: dict[str, float] = field(default_factory=dict)
    split: str = ""
    meta: dict = field(default_factory=dict)


@dataclass
class QuarantineRecord:
    """A rejected item and why."""

    item: str
    source: str
    stage: str
    """read | featurise | filter | store, or a source's own stage (video: decode | shots | track | motion | caption)."""
    filter: str
    """The filter (quality stage) or the kind of failure: load, empty, resample, error."""
    value: float
    """The measured value, NaN when nothing was measured."""
    reason: str


def import_pyarrow():
    """(pyarrow, pyarrow.parquet), imported on first use with an error naming the extra."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the corpus store needs pyarrow: pip install 'motionmill[data]'") from None
    return pa, pq


def clip_schema():
    pa, _ = import_pyarrow()
    text = pa.struct([("text", pa.string()), ("start", pa.float32()), ("end", pa.float32())])
    return pa.schema([
        ("id", pa.string()), ("source", pa.string()), ("licence", pa.string()), ("fps", pa.float32()),
        ("frames", pa.int32()), ("texts", pa.list_(text)), ("quality", pa.map_(pa.string(), pa.float32())),
        ("split", pa.string()), ("shard", pa.int32()), ("offset", pa.int64()), ("meta", pa.string()),
    ])  # fmt: skip


def quarantine_schema():
    pa, _ = import_pyarrow()
    return pa.schema([("item", pa.string()), ("source", pa.string()), ("stage", pa.string()),
                      ("filter", pa.string()), ("value", pa.float32()), ("reason", pa.string())])  # fmt: skip


def _parquet_bytes(rows: list[dict], schema) -> bytes:
    pa, pq = import_pyarrow()
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _plain(value):
    """JSON fallback for numpy scalars and arrays in clip metadata."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"clip metadata value {value!r} is not JSON-serialisable")


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


class ShardWriter:
    """Collects the clips of one shard and writes its files atomically on `close`.

    Files: shards/<name>.npy (features, float16), parts/<name>.clips.parquet, parts/<name>.quarantine.parquet and
    parts/<name>.json (shard info, written last: its presence marks the shard complete).
    """

    def __init__(self, root: str | Path, index: int, feature_dim: int = 272):
        self.root, self.index, self.feature_dim = Path(root), index, feature_dim
        self.rows: list[dict] = []
        self.rejected: list[dict] = []
        self.chunks: list[np.ndarray] = []
        self.frames = 0

    def add(self, record: ClipRecord, features: np.ndarray) -> None:
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(f"clip {record.id}: features must be (T, {self.feature_dim}), got {features.shape}")
        meta = json.dumps(record.meta, sort_keys=True, default=_plain)
        row = {**record.__dict__, "frames": int(features.shape[0]), "shard": self.index, "offset": self.frames,
               "quality": sorted(record.quality.items()), "meta": meta}  # fmt: skip
        self.rows.append(row)
        self.chunks.append(np.asarray(features, dtype=np.float16))
        self.frames += features.shape[0]

    def reject(self, record: QuarantineRecord) -> None:
        self.rejected.append(dict(record.__dict__))

    def close(self, extra: dict | None = None) -> dict:
        """Write the shard and return its info.

        Args:
            extra: more JSON-able fields for the info (the pipeline adds its item accounting and plan digest).

        Returns:
            {name, clips, quarantined, frames, sha256 (of the .npy), files: {relative path: sha256}, **extra}.
        """
        name = shard_name(self.index)
        data = np.concatenate(self.chunks) if self.chunks else np.zeros((0, self.feature_dim), np.float16)
        blobs = {f"shards/{name}.npy": npy_bytes(data),
                 f"parts/{name}.clips.parquet": _parquet_bytes(self.rows, clip_schema()),
                 f"parts/{name}.quarantine.parquet": _parquet_bytes(self.rejected, quarantine_schema())}  # fmt: skip
        for rel, blob in blobs.items():
            atomic_write(self.root / rel, blob)
        files = {rel: hashlib.sha256(blob).hexdigest() for rel, blob in blobs.items()}
        info = {**(extra or {}), "name": name, "clips": len(self.rows), "quarantined": len(self.rejected),
                "frames": self.frames, "sha256": files[f"shards/{name}.npy"], "files": files}  # fmt: skip
        atomic_write(self.root / "parts" / f"{name}.json", json.dumps(info, sort_keys=True))
        return info


def completed_shard(root: str | Path, index: int) -> dict | None:
    """The info of a shard whose files are all written and intact (SHA-256 checked), else None."""
    root = Path(root)
    name = shard_name(index)
    info_path = root / "parts" / f"{name}.json"
    if not info_path.is_file():
        return None
    try:
        info = json.loads(info_path.read_text())
    except ValueError:
        return None
    files = info.get("files") or {f"shards/{name}.npy": info.get("sha256")}
    for rel, digest in files.items():
        path = root / rel
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return None
    return info


class Corpus:
    """Read access to a corpus folder. Opening reads the manifest and the clip table only."""

    def __init__(self, root: str | Path, columns: list[str] | None = None):
        _, pq = import_pyarrow()
        self.root = Path(root)
        manifest_path = self.root / "manifest.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{self.root}: not a corpus (no manifest.json)")
        self.manifest = json.loads(manifest_path.read_text())
        if self.manifest.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"{self.root}: schema version {self.manifest.get('schema_version')} is not "
                             f"{SCHEMA_VERSION}; rebuild the corpus")  # fmt: skip
        self.table = pq.read_table(self.root / "clips.parquet", columns=columns)
        # the columns every read needs, as numpy for speed
        self._shard = self.table.column("shard").to_numpy() if "shard" in self.table.column_names else None
        self._offset = self.table.column("offset").to_numpy() if "offset" in self.table.column_names else None
        self._frames = self.table.column("frames").to_numpy() if "frames" in self.table.column_names else None
        self._shards: dict[int, np.ndarray] = {}

    @property
    def feature_dim(self) -> int:
        return int(self.manifest["feature_dim"])

    def __len__(self) -> int:
        return self.table.num_rows

    def frames(self, i: int) -> int:
        return int(self._frames[i])

    def _shard_array(self, s: int) -> np.ndarray:
        arr = self._shards.get(s)
        if arr is None:
            # copy-on-write map: pages are shared and never written, and torch accepts the (writable) array
            arr = np.load(self.root / "shards" / f"{shard_name(s)}.npy", mmap_mode="c").view(np.ndarray)
            self._shards[s] = arr
        return arr

    def window(self, i: int, start: int, length: int) -> np.ndarray:
        """(length, F) float32 frames [start, start + length) of clip i (clipped to the clip)."""
        n = int(self._frames[i])
        lo = min(max(0, start), n)
        hi = max(lo, min(n, start + length))
        base = int(self._offset[i])
        block = self._shard_array(int(self._shard[i]))[base + lo : base + hi]
        # torch converts float16 with F16C instructions, about 10x faster than numpy's scalar loop
        return torch.from_numpy(block).float().numpy()

    def clip(self, i: int) -> np.ndarray:
        """(T, F) float32 features of clip i."""
        return self.window(i, 0, int(self._frames[i]))

    def row(self, i: int) -> dict:
        """The table row of clip i as a dict."""
        return {name: self.table.column(name)[i].as_py() for name in self.table.column_names}

    def indices(self, split: str | None = None, min_frames: int = 0, max_frames: int | None = None) -> np.ndarray:
        """Row indices of clips in `split` (None: all) with a length in [min_frames, max_frames]."""
        keep = self._frames >= min_frames
        if max_frames is not None:
            keep &= self._frames <= max_frames
        if split is not None:
            keep &= np.asarray(self.table.column("split").to_numpy(zero_copy_only=False)) == split
        return np.flatnonzero(keep)

    def stats(self):
        """The corpus normaliser (motion.normalize.Normalizer)."""
        from motionmill.motion.normalize import Normalizer

        path = self.root / "stats.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"{self.root}: missing stats.safetensors")
        return Normalizer.load(path)
