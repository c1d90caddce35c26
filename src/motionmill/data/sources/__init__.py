"""Source readers: each turns one on-disk format into `Sample`s of 30 fps 272-dim motion with captions.

A source lists its items as stable string keys (sorted, so every build sees the same order) and loads one item at
a time, raising ValueError (or OSError) with a reason for bad input; the pipeline quarantines such items and goes
on. Sources are plain dataclasses so they pickle to worker processes and Ray tasks.

Spec strings name a source on the command line: `humanml3d:DIR`, `motionmillion:DIR`, `amass:DIR`, `bvh:DIR`,
`amc:DIR`, `video:DIR`, `builtin:N[:SEED]`. Options follow the folder after commas, e.g.
`motionmillion:DIR,split=version1/t2m_60_300`, `amass:DIR,clip_seconds=8`, `bvh:DIR,units=cm`,
`video:DIR,lifter=geometric` (each reader documents its options; unknown ones are errors).

A source that examines an item in parts (the video source: one part per person track) may reject some parts itself.
It returns each as a rejection sample (`Sample.rejected`), which the pipeline quarantines with the source's own
stage, filter, value and reason, so a part rejected before it became motion is recorded like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from motionmill.motion.container import Motion

__all__ = ["Sample", "Source", "open_source"]


@dataclass
class Sample:
    """One clip ready for filtering and storage, or one part of an item that its source rejected (`rejection`)."""

    id: str
    """Globally unique clip id, "<source>/<key>" (with a "#<part>" suffix when an item yields several)."""
    motion: Motion | None
    """The motion, resampled to the corpus frame rate (30 fps); None on a rejection sample."""
    texts: list[dict] = field(default_factory=list)
    """[{"text": str, "start": seconds, "end": seconds}]; start = end = 0 means the whole clip."""
    licence: str = ""
    split: str | None = None
    """The split the source assigns (HumanML3D and MotionMillion split files, built-in plans), or None."""
    meta: dict = field(default_factory=dict)
    rejection: tuple[str, str, float, str] | None = None
    """(stage, filter, value, reason) when the source rejected this part itself, else None. The pipeline writes it
    to the quarantine as it is, under `id`, before resampling and the quality filters; it counts as a sample in the
    build's accounting (one sample, one quarantine row)."""

    @classmethod
    def rejected(cls, id: str, stage: str, filter: str, value: float, reason: str) -> Sample:
        """A rejection sample: no motion, only what the quarantine records."""
        return cls(id, None, rejection=(stage, filter, float(value), reason))


class Source(Protocol):
    name: str
    licence: str

    def items(self) -> list[str]:
        """Stable, sorted item keys."""
        ...

    def load(self, key: str) -> list[Sample]:
        """The samples of one item (usually one); raises ValueError/OSError naming the problem."""
        ...


SOURCES: dict[str, str] = {
    "humanml3d": "motionmill.data.sources.humanml3d:HumanML3DSource",
    "motionmillion": "motionmill.data.sources.motionmillion:MotionMillionSource",
    "amass": "motionmill.data.sources.amass:AmassSource",
    "bvh": "motionmill.data.sources.bvh:BvhSource",
    "amc": "motionmill.data.sources.amc:AmcSource",
    "video": "motionmill.data.sources.video:VideoSource",
    "builtin": "motionmill.data.sources.builtin:BuiltinSource",
}


def open_source(spec: str) -> Source:
    """Build a source from a spec string such as "humanml3d:/data/HumanML3D" or "builtin:1000"."""
    import importlib

    kind, _, arg = spec.partition(":")
    if kind not in SOURCES:
        raise ValueError(f"unknown source {kind!r} in {spec!r}; known: {', '.join(SOURCES)}")
    module, _, cls = SOURCES[kind].partition(":")
    return getattr(importlib.import_module(module), cls).from_spec(arg)
