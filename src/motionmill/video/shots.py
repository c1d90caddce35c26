"""Shot boundary detection: hard cuts, fades through black or white, and dissolves, in one streaming pass.

Each frame is reduced to a thumbnail. While frames stream in, the detector keeps the thumbnails of the last few
dozen frames only, and per frame a handful of numbers; the decisions are made over those numbers at the end, so
memory stays bounded (about 100 bytes per frame) however long the video is.

* A hard cut is a frame that differs from the previous one by at least `cut_threshold` and by `cut_ratio` times
  more than the frames around it do (the median difference of the frames before it, and the frame after it). The
  difference is motion-compensated: the smallest mean absolute difference over small shifts of the thumbnail, so a
  pan or a running person does not read as a cut.
* A fade is a dip of the thumbnail's standard deviation to nearly flat (`flat_std`) between frames whose deviation
  is at least 1 / `dip_ratio` times larger, within `max_transition` frames on either side: the picture goes to one
  colour (black or white) and comes back. Its boundary is the middle of the flattest frames.
* A dissolve is a window of frames, each a mixture of the frames just before and just after the window plus a
  constant colour (least squares, residual at most `mixture_tolerance` of the difference of the two ends), whose
  ends differ by at least `dissolve_threshold`. A pan is not such a mixture. Overlapping windows form one dissolve,
  whose boundary is the mean centre of its windows with the largest difference of ends.

A boundary's frame is the first frame of the new shot for a cut, and the middle of the transition for a fade or
dissolve. Boundaries at the very start or end of a video (a fade in from black) are dropped. The thresholds were
chosen on generated development videos (seeds from 1000, motionmill.video.edits) disjoint from the seeds that
BENCHMARKS.md measures (bench/shot_detection.py).

Shape legend: T frames.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["Boundary", "Shot", "ShotConfig", "ShotDetector", "detect_shots", "thumbnail"]

THUMB = (36, 64)
"""(height, width) of the thumbnails compared, in cells."""


@dataclass(frozen=True)
class ShotConfig:
    cut_threshold: float = 0.03
    """Smallest motion-compensated mean absolute thumbnail difference (0..1) of a hard cut."""
    cut_ratio: float = 1.6
    """A cut differs this many times more than the median of the `context` frames before it and the frame after."""
    context: int = 15
    shift: int = 3
    """Largest shift, in thumbnail cells, searched by the motion-compensated difference."""
    flat_std: float = 0.03
    """A fade's flattest frame has a thumbnail standard deviation (0..1) below this."""
    dip_ratio: float = 0.3
    max_transition: int = 45
    """Frames searched on either side of a fade's flattest frame."""
    dissolve_halves: tuple[int, ...] = (3, 6, 10, 15)
    """Half-lengths of the windows tested for a dissolve, in frames."""
    dissolve_threshold: float = 0.08
    mixture_tolerance: float = 0.2


@dataclass(frozen=True)
class Boundary:
    frame: int
    kind: str
    """"cut", "fade" or "dissolve"."""
    start: int
    """First frame that belongs to neither shot (== frame for a cut)."""
    end: int
    """Last such frame (== frame - 1 for a cut: the shots touch)."""


@dataclass(frozen=True)
class Shot:
    start: int
    end: int
    """Exclusive."""

    @property
    def frames(self) -> int:
        return self.end - self.start


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (THUMB..., 3) float32 in 0..1 by block averages (H and W need not divide evenly)."""
    h, w = frame.shape[:2]
    rows = np.linspace(0, h, THUMB[0] + 1).astype(int)
    cols = np.linspace(0, w, THUMB[1] + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(frame.astype(np.float32), rows[:-1], axis=0), cols[:-1], axis=1)
    areas = np.outer(np.diff(rows), np.diff(cols))[..., None]
    return sums / (areas * 255.0)


def _mixture_residual(frame: np.ndarray, before: np.ndarray, after: np.ndarray) -> float:
    """How far `frame` is from a*before + b*after + c, relative to how far `before` is from `after`."""
    basis = np.stack([before.ravel(), after.ravel(), np.ones(before.size, np.float32)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, frame.ravel(), rcond=None)
    residual = np.abs(basis @ coef - frame.ravel()).mean()
    return float(residual / max(np.abs(before - after).mean(), 1e-6))


def shifted_difference(a: np.ndarray, b: np.ndarray, shift: int) -> float:
    """Smallest mean absolute difference of two thumbnails over shifts of up to `shift` cells (overlap only)."""
    h, w = a.shape[:2]
    best = np.inf
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            part_a = a[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
            part_b = b[max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
            best = min(best, float(np.abs(part_a - part_b).mean()))
    return best


class ShotDetector:
    """Feed frames one at a time with `push`; `boundaries()` after the last frame."""

    def __init__(self, config: ShotConfig | None = None):
        self.config = config or ShotConfig()
        reach = 2 * max(self.config.dissolve_halves) + 3
        self._recent: deque[np.ndarray] = deque(maxlen=reach)  # thumbnails of the last frames, newest last
        self._difference: list[float] = []  # motion-compensated difference to the previous frame (0 for frame 0)
        self._deviation: list[float] = []  # thumbnail standard deviation
        # dissolve windows: centre, half length, difference of the ends, mixture residual
        self._windows: list[tuple[int, int, float, float]] = []

    @property
    def frames(self) -> int:
        return len(self._deviation)

    def push(self, frame: np.ndarray) -> None:
        c = self.config
        thumb = thumbnail(frame)
        previous = self._recent[-1] if self._recent else None
        self._difference.append(0.0 if previous is None else shifted_difference(previous, thumb, c.shift))
        self._deviation.append(float(thumb.std()))
        self._recent.append(thumb)
        t = self.frames - 1
        for half in c.dissolve_halves:  # the window whose last frame (just after it) is this one
            if len(self._recent) < 2 * half + 3:
                continue
            before, after = self._recent[-(2 * half + 3)], thumb
            ends = float(np.abs(before - after).mean())
            if ends < c.dissolve_threshold:
                continue
            centre = t - half - 1
            inner = sorted({centre - half // 2, centre, centre + half // 2})
            residual = max(_mixture_residual(self._recent[i - t - 1], before, after) for i in inner)
            self._windows.append((centre, half, ends, residual))

    def _fades(self) -> list[Boundary]:
        """Dips of the standard deviation to a flat colour."""
        c = self.config
        deviation = np.asarray(self._deviation)
        fades, t = [], 1
        while t < len(deviation) - 1:
            low = deviation[t]
            before = deviation[max(0, t - c.max_transition) : t]
            after = deviation[t + 1 : t + 1 + c.max_transition]
            if low >= c.flat_std or before.max() * c.dip_ratio <= low or after.max() * c.dip_ratio <= low:
                t += 1
                continue
            last = t  # the flattest frames, then the rise out of the dip
            while last + 1 < len(deviation) and deviation[last + 1] <= 1.5 * low + 0.005:
                last += 1
            start, end = t, last
            while start > 0 and deviation[start - 1] > deviation[start] and t - start < c.max_transition:
                start -= 1
            while end + 1 < len(deviation) and deviation[end + 1] > deviation[end] and end - last < c.max_transition:
                end += 1
            fades.append(Boundary((t + last) // 2, "fade", start, end))
            t = end + 1
        return fades

    def _cuts(self, busy: np.ndarray) -> list[Boundary]:
        c = self.config
        d = np.asarray(self._difference)
        cuts = []
        for t in range(1, len(d)):
            around = max(float(np.median(d[max(1, t - c.context) : t])) if t > 1 else 0.0,
                         float(d[t + 1]) if t + 1 < len(d) else 0.0, 1e-3)  # fmt: skip
            if not busy[t] and d[t] >= c.cut_threshold and d[t] >= c.cut_ratio * around:
                cuts.append(Boundary(t, "cut", t, t - 1))
        return cuts

    def _dissolves(self, busy: np.ndarray) -> list[Boundary]:
        c = self.config
        windows = sorted(w for w in self._windows
                         if w[3] <= c.mixture_tolerance and not busy[w[0] - w[1] : w[0] + w[1] + 2].any())  # fmt: skip
        groups: list[list[tuple]] = []
        for w in windows:  # overlapping windows are one dissolve
            if groups and w[0] - w[1] <= max(g[0] + g[1] for g in groups[-1]):
                groups[-1].append(w)
            else:
                groups.append([w])
        dissolves = []
        for group in groups:
            widest = max(w[2] for w in group)
            centre = int(round(np.mean([w[0] for w in group if w[2] >= 0.9 * widest])))
            start = min(w[0] - w[1] for w in group)
            dissolves.append(Boundary(centre, "dissolve", start, max(w[0] + w[1] for w in group)))
        return dissolves

    def boundaries(self) -> list[Boundary]:
        """All boundaries between content, in frame order (none with only flat frames on one side)."""
        content = np.asarray(self._deviation) >= self.config.flat_std
        busy = np.zeros(self.frames + 1, dtype=bool)
        found = self._fades()
        for b in found:
            busy[b.start : b.end + 1] = True
        cuts = self._cuts(busy)
        for b in cuts:
            busy[b.frame] = True
        found = sorted(found + cuts + self._dissolves(busy), key=lambda b: b.frame)
        return [b for b in found if content[: b.start].any() and content[b.end + 1 :].any()]

    def shots(self) -> list[Shot]:
        """The content between boundaries; transition frames belong to no shot, nor do flat frames at either end."""
        flat = np.asarray(self._deviation) < self.config.flat_std
        edges, start = [], 0
        for b in self.boundaries():
            edges.append((start, b.start))
            start = b.end + 1
        edges.append((start, self.frames))
        shots = []
        for a, b in edges:
            while a < b and flat[a]:
                a += 1
            while b > a and flat[b - 1]:
                b -= 1
            if b > a:
                shots.append(Shot(a, b))
        return shots


def detect_shots(frames: Iterable[np.ndarray], config: ShotConfig | None = None) -> tuple[list[Boundary], list[Shot]]:
    """Boundaries and shots of a whole frame sequence (streamed; see ShotDetector)."""
    detector = ShotDetector(config)
    for frame in frames:
        detector.push(frame)
    return detector.boundaries(), detector.shots()
