"""Clip plans: what a built-in corpus clip contains, before any motion or text is made.

A plan is a short sequence of segments (one atomic action each, with its modifiers and time span) and is the single
source from which the motion generator, the caption grammar and the expected predicate values are all derived.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ClipPlan", "Segment"]


@dataclass(frozen=True)
class Segment:
    """One atomic action over a time span of the clip."""

    action: str
    """A name from synth.catalog.ACTIONS."""
    start: float
    """Start time in seconds from the clip start."""
    end: float
    """End time in seconds."""
    modifiers: tuple[tuple[str, object], ...] = ()
    """(kind, value) pairs, kinds from catalog.MODIFIER_VALUES, e.g. (("speed", "fast"), ("side", "left"))."""
    layer: str | None = None
    """An upper-body action performed at the same time (only on locomotion segments), e.g. "wave"."""
    layer_modifiers: tuple[tuple[str, object], ...] = ()
    """Modifiers of the layered action."""

    def modifier(self, kind: str, default=None):
        return dict(self.modifiers).get(kind, default)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class ClipPlan:
    """A whole clip: 1 to 4 segments played in order with blended transitions."""

    seed: int
    index: int
    split: str
    """train | val | test | zeroshot."""
    segments: tuple[Segment, ...]
    fps: float = 30.0
    holdout: tuple[str, ...] = field(default=())
    """For zeroshot clips: which held-out rule(s) the clip exercises (action_modifier, composition, phrasing)."""

    @property
    def duration(self) -> float:
        return self.segments[-1].end
