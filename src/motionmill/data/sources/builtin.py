"""Built-in corpus reader: clip `index` of the procedural corpus `seed` (motionmill.synth.corpus.make_clip).

Format origin: this project (`synth/`); nothing is read from disk. A clip is a pure function of (seed, index), so
any worker can build any item, and its split (train/val/test/zeroshot), captions with time spans and action plan
come from the same ClipPlan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from motionmill.data.sources import Sample

__all__ = ["BuiltinSource"]

KEY_DIGITS = 6
"""Keys are zero-padded to at least this many digits, so string order is index order."""


@dataclass(frozen=True)
class BuiltinSource:
    """`size` clips of the built-in corpus with seed `seed`."""

    size: int
    """Number of clips."""
    seed: int = 0
    """Corpus seed; the same (seed, index) always gives the same clip."""
    licence: str = "motionmill built-in (Apache-2.0)"

    name: ClassVar[str] = "builtin"

    @classmethod
    def from_spec(cls, arg: str) -> BuiltinSource:
        """`N` or `N:SEED`."""
        size, _, seed = arg.partition(":")
        try:
            return cls(int(size), int(seed or 0))
        except ValueError:
            raise ValueError(f"builtin source expects N or N:SEED (integers), got {arg!r}") from None

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"builtin corpus size must be >= 0, got {self.size}")

    def items(self) -> list[str]:
        """Keys "000000" .. f"{N-1:06d}", zero-padded to a common width."""
        width = max(KEY_DIGITS, len(str(self.size - 1)))
        return [f"{i:0{width}d}" for i in range(self.size)]

    def load(self, key: str) -> list[Sample]:
        """Clip int(key): its motion, captions (whole-clip spans as 0, 0), split and plan in meta."""
        from motionmill.synth.corpus import make_clip

        index = int(key)
        if not 0 <= index < self.size:
            raise ValueError(f"builtin clip {key!r} is outside 0..{self.size - 1}")
        clip = make_clip(self.seed, index)
        motion = clip.motion()
        motion.meta["rotations"] = "synth"
        texts = [_span(c.text, c.start, c.end, motion.duration) for c in clip.captions]
        plan = clip.plan
        meta = {"seed": self.seed, "index": index, "actions": [s.action for s in plan.segments],
                "segments": [_segment(s) for s in plan.segments], "holdout": list(plan.holdout),
                "caption_templates": [list(c.templates) for c in clip.captions], "rotations": "synth"}  # fmt: skip
        return [Sample(id=f"{self.name}/{self.seed}/{key}", motion=motion, texts=texts, licence=self.licence,
                       split=plan.split, meta=meta)]  # fmt: skip


def _span(text: str, start: float, end: float, duration: float) -> dict:
    """A caption dict, with a span covering the whole clip written as 0, 0 and ends clamped to the clip."""
    end = min(end, duration)
    if start <= 0 and end >= duration - 1e-6:
        start = end = 0.0
    return {"text": text, "start": float(start), "end": float(end)}


def _segment(segment) -> dict:
    """A plan segment as plain JSON-able data."""
    return {"action": segment.action, "start": segment.start, "end": segment.end,
            "modifiers": dict(segment.modifiers), "layer": segment.layer,
            "layer_modifiers": dict(segment.layer_modifiers)}  # fmt: skip
