"""Training datasets over a corpus: random windows (tokenizer) and caption-motion pairs (generator, evaluator).

Every random choice is a pure function of (seed, epoch, index) through `np.random.default_rng`, so a sample does
not depend on the worker that loads it, the number of workers, or what was loaded before: data order survives an
exact resume, and ranks of a multi-process run, which split each batch between them (`training.distributed`), draw
the same items as one process would.

Shape legend: B batch, T frames, F features.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from motionmill.data.store import Corpus

__all__ = ["LengthBucketSampler", "TextMotionDataset", "WindowDataset", "collate_padded"]


def _rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


class WindowDataset(Dataset):
    """Fixed-length random windows of normalised features, clips drawn in proportion to their length.

    Args:
        corpus: an open Corpus.
        split: which split to draw from.
        window: frames per window; clips shorter than this are skipped.
        normalizer: applied to each window when given (motion.normalize.Normalizer).
        samples: windows per epoch (default: one per usable clip).
        seed: base seed.
    """

    def __init__(self, corpus: Corpus, split: str = "train", window: int = 64, normalizer=None,
                 samples: int | None = None, seed: int = 0):  # fmt: skip
        self.corpus, self.window, self.normalizer, self.seed = corpus, window, normalizer, seed
        self.clips = corpus.indices(split, min_frames=window)
        if len(self.clips) == 0:
            raise ValueError(f"no {split} clips of at least {window} frames in {corpus.root}")
        lengths = np.array([corpus.frames(i) for i in self.clips], dtype=np.float64)
        self.cumulative = np.cumsum(lengths - window + 1)  # number of window starts per clip
        self.samples = samples or len(self.clips)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, index: int) -> torch.Tensor:
        """(window, F) float32."""
        position = _rng(self.seed, self.epoch, index).integers(0, int(self.cumulative[-1]))
        k = int(np.searchsorted(self.cumulative, position, side="right"))
        start = int(position - (self.cumulative[k - 1] if k else 0))
        x = self.corpus.window(int(self.clips[k]), start, self.window)
        if self.normalizer is not None:
            x = self.normalizer.normalize(x)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


class TextMotionDataset(Dataset):
    """One random caption per clip per epoch, with the motion cropped to the caption's time span.

    A caption with a span (start < end, seconds) describes only that part of the clip, so the motion is cut to it
    (HumanML3D's convention); longer motions are randomly cropped to `max_frames`.
    """

    def __init__(self, corpus: Corpus, split: str = "train", min_frames: int = 16, max_frames: int = 300,
                 normalizer=None, seed: int = 0):  # fmt: skip
        self.corpus, self.min_frames, self.max_frames = corpus, min_frames, max_frames
        self.normalizer, self.seed, self.epoch = normalizer, seed, 0
        texts = corpus.table.column("texts").to_pylist()
        self.clips = np.array([i for i in corpus.indices(split, min_frames=min_frames) if texts[i]], dtype=np.int64)
        if len(self.clips) == 0:
            raise ValueError(f"no captioned {split} clips of at least {min_frames} frames in {corpus.root}")
        self.texts = [texts[i] for i in self.clips]
        self.fps = corpus.table.column("fps").to_numpy()[self.clips].astype(np.float64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips)

    def lengths(self) -> np.ndarray:
        """Upper bound of each item's frame count (for length bucketing)."""
        return np.minimum([self.corpus.frames(int(i)) for i in self.clips], self.max_frames)

    def __getitem__(self, index: int) -> dict:
        """{"text": str, "motion": (T, F) float32, "length": T, "clip": row index, "start": first frame}."""
        rng = _rng(self.seed, self.epoch, index)
        clip, fps = int(self.clips[index]), float(self.fps[index])
        caption = self.texts[index][int(rng.integers(len(self.texts[index])))]
        start, stop = self._span(caption, clip, fps)
        if stop - start > self.max_frames:
            start += int(rng.integers(0, stop - start - self.max_frames + 1))
            stop = start + self.max_frames
        x = self.corpus.window(clip, start, stop - start)
        if self.normalizer is not None:
            x = self.normalizer.normalize(x)
        return {"text": caption["text"], "motion": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                "length": x.shape[0], "clip": clip, "start": start}  # fmt: skip

    def _span(self, caption: dict, clip: int, fps: float) -> tuple[int, int]:
        n = self.corpus.frames(clip)
        s, e = float(caption.get("start") or 0.0), float(caption.get("end") or 0.0)
        if e <= s:  # 0#0 (or a malformed span) means the whole clip
            return 0, n
        start, stop = int(round(s * fps)), min(n, int(round(e * fps)) + 1)
        if stop - start < self.min_frames:  # too short to learn from: fall back to the whole clip
            return 0, n
        return start, stop


def collate_padded(items: list[dict]) -> dict:
    """Pad motions to the longest in the batch: {"text": [B], "motion": (B, T, F), "mask": (B, T), "length": (B,)}."""
    lengths = torch.tensor([it["length"] for it in items])
    T, F = int(lengths.max()), items[0]["motion"].shape[-1]
    motion = torch.zeros(len(items), T, F)
    for b, it in enumerate(items):
        motion[b, : it["length"]] = it["motion"]
    mask = torch.arange(T)[None] < lengths[:, None]
    return {"text": [it["text"] for it in items], "motion": motion, "mask": mask, "length": lengths,
            "clip": torch.tensor([it["clip"] for it in items])}  # fmt: skip


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of similar lengths (less padding), shuffled deterministically per epoch.

    Items are sorted by length inside random chunks of `bucket_batches` batches, cut into batches, and the batches
    shuffled. In a multi-process run these are global batches, which the training loop splits between ranks.
    """

    def __init__(self, lengths, batch_size: int, seed: int = 0, bucket_batches: int = 50):
        if batch_size < 1:
            raise ValueError(f"need batch_size >= 1, got {batch_size}")
        self.lengths = np.asarray(lengths)
        self.batch_size, self.seed, self.bucket = batch_size, seed, bucket_batches * batch_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths))
        batches = []
        for c in range(0, len(order), self.bucket):
            chunk = order[c : c + self.bucket]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[b : b + self.batch_size] for b in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self._batches())

    def __len__(self) -> int:
        return len(self._batches())
