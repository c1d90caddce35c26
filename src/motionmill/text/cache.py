"""An on-disk cache of per-token text states, so training never runs the text model per step.

MotionMillion recomputes flan-t5-xl features for every caption in the data loader, one caption at a time (defect 6
in `docs/models.md`); TMR instead computes text embeddings once, offline, keyed by model name. We do the latter:
`EmbeddingCache.precompute(captions)` encodes each distinct caption once and `get(texts)` reads the states back.

Layout: ``{folder}/{sha1(encoder name)[:16]}/shard-*.safetensors``. Each shard is immutable and written atomically
(temp name, fsync, rename; `motionmill.utils.io`). It holds one float16 tensor ``states`` of shape (rows, D), the
token states of many texts stacked, and in its safetensors metadata the encoder name and a JSON index
``{key: [offset, length]}`` with ``key = sha1(encoder name + "\\0" + text)``. Because a shard carries its own index,
a reader sees either a whole shard or none of it, concurrent writers never touch each other's files (a text written
twice is harmless: both copies are equal), and readers pick up new shards by rescanning the folder on a miss.
Rows are read through memory-mapped slices, so the cache never holds the whole corpus in memory.

Shape legend: B batch (texts), L text tokens, D per-token width.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

import torch

from motionmill.text.encoders import TextEncoder, pad_sequences

__all__ = ["EmbeddingCache", "text_key"]

_SHARD_GLOB = "shard-*.safetensors"  # atomic_path's temp files start with "." and never match


def text_key(encoder_name: str, text: str) -> str:
    """The cache key of `text` under `encoder_name`: ``sha1(name + "\\0" + text)`` as hex."""
    return hashlib.sha1(f"{encoder_name}\0{text}".encode()).hexdigest()


class EmbeddingCache:
    """Per-token text states on disk, computed with `encoder` only for texts not stored yet.

    Args:
        folder: Cache root; each encoder gets its own subfolder, so different encoders never share files.
        encoder: The text encoder; its `name` keys every entry, so change the name whenever the states change.
        batch_size: Texts per `encoder.encode` call.
        shard_size: Texts per shard file written by `precompute`.
    """

    def __init__(self, folder: str | Path, encoder: TextEncoder, batch_size: int = 64, shard_size: int = 4096):
        self.encoder, self.batch_size, self.shard_size = encoder, batch_size, shard_size
        self.folder = Path(folder) / hashlib.sha1(encoder.name.encode()).hexdigest()[:16]
        self.folder.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[str, int, int]] = {}  # key -> (shard file name, row offset, row count)
        self._shards: set[str] = set()
        self._handles: dict[str, object] = {}
        self.refresh()

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, text: str) -> bool:
        return text_key(self.encoder.name, text) in self._index

    def __getstate__(self) -> dict:
        # Memory maps do not cross process boundaries (DataLoader workers); they reopen lazily.
        return {**self.__dict__, "_handles": {}}

    def refresh(self) -> None:
        """Index the shards written since the last scan (by this or any other process)."""
        from safetensors import safe_open

        for path in sorted(self.folder.glob(_SHARD_GLOB)):
            if path.name in self._shards:
                continue
            with safe_open(path, framework="pt") as f:
                meta = f.metadata() or {}
            if meta.get("encoder") != self.encoder.name:
                raise ValueError(f"{path} holds states of encoder {meta.get('encoder')!r}, not {self.encoder.name!r}")
            for key, (offset, length) in json.loads(meta["index"]).items():
                self._index[key] = (path.name, offset, length)
            self._shards.add(path.name)

    def get(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """States of `texts` as ``(states (B, L, D) float32, mask (B, L) bool)`` on the CPU.

        Texts not cached yet are encoded and stored first (one shard per call), so results are always the
        float16-rounded stored values, whether or not they were cached before.
        """
        if isinstance(texts, str):
            raise TypeError("get expects a list of strings, got a single string")
        self._store(self._missing(texts), self.batch_size, progress=False)
        return pad_sequences([self._read(text_key(self.encoder.name, t)) for t in texts], self.encoder.dim)

    def precompute(self, texts: Iterable[str], batch_size: int | None = None) -> int:
        """Encode and store every distinct text not cached yet, with a progress bar; returns how many were new."""
        missing = self._missing(list(texts))
        self._store(missing, batch_size or self.batch_size, progress=bool(missing))
        return len(missing)

    def _missing(self, texts: list[str]) -> list[str]:
        """Distinct texts of `texts` (in first-seen order) that no shard holds, after rescanning on a miss."""
        name = self.encoder.name
        missing = [t for t in dict.fromkeys(texts) if text_key(name, t) not in self._index]
        if missing:
            self.refresh()
            missing = [t for t in missing if text_key(name, t) not in self._index]
        return missing

    def _store(self, texts: list[str], batch_size: int, progress: bool) -> None:
        """Encode `texts` in batches and write them as shards of at most `shard_size` texts."""
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts), desc=f"text states ({self.encoder.name})", unit="text", disable=not progress)
        for start in range(0, len(texts), self.shard_size):
            chunk = texts[start : start + self.shard_size]
            seqs = []
            for i in range(0, len(chunk), batch_size):
                states, mask = self.encoder.encode(chunk[i : i + batch_size])  # (b, l, D), (b, l)
                lengths = mask.sum(dim=1).tolist()
                seqs += [s[:n].detach().to("cpu", torch.float16) for s, n in zip(states, lengths, strict=True)]
                bar.update(len(states))
            self._write_shard(chunk, seqs)
        bar.close()

    def _write_shard(self, texts: list[str], seqs: list[torch.Tensor]) -> None:
        """Write one immutable shard holding `seqs` (one (L_i, D) float16 tensor per text) and index it."""
        from safetensors.torch import save

        from motionmill.utils.io import atomic_write

        rows = torch.cat(seqs)  # (sum L_i, D)
        if not torch.isfinite(rows).all():
            raise ValueError(f"encoder {self.encoder.name!r} produced states that overflow float16")
        index, offset = {}, 0
        for text, seq in zip(texts, seqs, strict=True):
            index[text_key(self.encoder.name, text)] = [offset, seq.shape[0]]
            offset += seq.shape[0]
        meta = {"encoder": self.encoder.name, "dim": str(self.encoder.dim), "index": json.dumps(index)}
        name = f"shard-{time.time_ns()}-{os.getpid()}-{secrets.token_hex(4)}.safetensors"
        atomic_write(self.folder / name, save({"states": rows.contiguous()}, metadata=meta))
        self.refresh()

    def _read(self, key: str) -> torch.Tensor:
        """The stored (L, D) states of one key, as float32."""
        from safetensors import safe_open

        file, offset, length = self._index[key]
        if file not in self._handles:
            self._handles[file] = safe_open(self.folder / file, framework="pt")
        return self._handles[file].get_slice("states")[offset : offset + length].float()
