"""Source readers: each turns one on-disk format into `Sample`s of 30 fps 272-dim motion with captions.

A source lists its items as stable string keys (sorted, so every build sees the same order) and loads one item at
a time, raising ValueError (or OSError) with a reason for bad input; the pipeline quarantines such items and goes
on. Sources are plain dataclasses so they pickle to worker processes and Ray tasks.

Spec strings name a source on the command line: `humanml3d:DIR`, `motionmillion:DIR`, `amass:DIR`, `bvh:DIR`,
`amc:DIR`, `builtin:N[:SEED]`. Options follow the folder after commas, e.g.
`motionmillion:DIR,split=version1/t2m_60_300`, `amass:DIR,clip_seconds=8`, `bvh:DIR,units=cm` (each reader
documents its options; unknown ones are errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from motionmill.motion.container import Motion

__all__ = ["Sample", "Source", "open_source"]


@dataclass
class Sample:
    """One clip ready for filtering and storage."""

    id: str
    """Globally unique clip id, "<source>/<key>"."""
    motion: Motion
    """The motion, resampled to the corpus frame rate (30 fps)."""
    texts: list[dict] = field(default_factory=list)
    """[{"text": str, "start": seconds, "end": seconds}]; start = end = 0 means the whole clip."""
    licence: str = ""
    split: str | None = None
    """The split the source assigns (HumanML3D and MotionMillion split files, built-in plans), or None."""
    meta: dict = field(default_factory=dict)


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
