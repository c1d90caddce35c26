"""Twins of built-in clips: the same clip with one detail its captions name changed in every segment that has one.

A caption of the built-in corpus names every modifier of every segment (synth.captions), so a twin whose segment
turns 180 degrees where the clip turns 90, or squats three times where it squats twice, is a motion that the
clip's captions do not describe, yet one that differs from the clip in nothing else: actions, the random parts of
segment durations and the motion random stream are kept, and a changed segment lasts what its new modifiers ask (a
slower clap takes longer, four squats take twice as long as two). Contrastive training seldom meets such pairs
among the other clips of a batch; the evaluator's `data.twin_negatives` adds them as motions no caption may match.

Changes, per segment (one, chosen by a generator seeded by the clip): a turn keeps its side and swaps its size
(90 <-> 180 degrees; the other side is what a mirror image gives), any other modifier takes another of the values
the action allows, and a layered upper-body action may be dropped.

Shape legend: T' twin frames, S segments.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from motionmill.synth.actions import segment_seconds
from motionmill.synth.catalog import ACTIONS
from motionmill.synth.compose import compose
from motionmill.synth.corpus import STREAMS, plan_clip
from motionmill.synth.holdout import heldout_rules
from motionmill.synth.plan import ClipPlan, Segment

__all__ = ["TWIN_STREAM", "Twin", "changeable", "segment_frames", "twin_motion", "twin_plan"]

TWIN_STREAM = max(STREAMS.values()) + 1
"""Random stream of the twin choices, apart from the clip's own streams so the clip itself never changes."""


def _changes(seg: Segment) -> list[tuple[str, str | None]]:
    """What can change in a segment: ("modifiers" | "layer_modifiers", kind), or ("layer", None)."""
    out = [("modifiers", kind) for kind, _ in seg.modifiers if len(ACTIONS[seg.action].values(kind)) > 1]
    if seg.layer is not None:
        out += [("layer_modifiers", kind) for kind, _ in seg.layer_modifiers
                if len(ACTIONS[seg.layer].values(kind)) > 1]  # fmt: skip
        out.append(("layer", None))
    return out


def changeable(seg: Segment) -> bool:
    """Whether a twin can change something in `seg` (a named modifier with another value, or a layered action)."""
    return bool(_changes(seg))


def _other_value(action: str, kind: str, value, rng: np.random.Generator):
    if kind == "turn":
        return int(np.sign(value)) * (270 - abs(int(value)))  # 90 <-> 180, same side
    others = [v for v in ACTIONS[action].values(kind) if v != value]
    return others[rng.integers(len(others))]


def _changed(seg: Segment, where: str, kind: str | None, rng: np.random.Generator) -> Segment:
    if where == "layer":
        return dataclasses.replace(seg, layer=None, layer_modifiers=())
    action = seg.action if where == "modifiers" else seg.layer
    mods = tuple((k, _other_value(action, k, v, rng) if k == kind else v) for k, v in getattr(seg, where))
    return dataclasses.replace(seg, **{where: mods})


def _retimed(segments: list[Segment], before: tuple[Segment, ...], seed: int) -> tuple[Segment, ...]:
    """`segments` laid end to end, each lasting its original duration times the ratio of the natural durations
    (`segment_seconds`) of its new and old modifiers, drawn with the same random numbers."""
    out, t = [], 0.0
    for i, (seg, old) in enumerate(zip(segments, before, strict=True)):
        new_s, old_s = (segment_seconds(s.action, s.modifiers, np.random.default_rng([seed, i])) for s in (seg, old))
        seconds = old.duration * new_s / old_s
        out.append(dataclasses.replace(seg, start=round(t, 4), end=round(t + seconds, 4)))
        t += seconds
    return tuple(out)


def twin_plan(plan: ClipPlan) -> tuple[ClipPlan, tuple[int, ...]]:
    """`plan` with one named detail changed in each segment that has one, and the indices of the changed segments
    (empty, with the plan unchanged, when no segment names a detail or when the twin would break a held-out rule of
    `synth.holdout`, which training data never may). The same plan always gives the same twin."""
    rng = np.random.default_rng([plan.seed, plan.index, TWIN_STREAM])
    segments, changed = [], []
    for i, seg in enumerate(plan.segments):
        options = _changes(seg)
        if options:
            seg = _changed(seg, *options[rng.integers(len(options))], rng)
            changed.append(i)
        segments.append(seg)
    if not changed or heldout_rules(segments):
        return plan, ()
    seed = int(rng.integers(2**31))
    return dataclasses.replace(plan, segments=_retimed(segments, plan.segments, seed)), tuple(changed)


def segment_frames(plan: ClipPlan) -> np.ndarray:
    """(S + 1,) frame index where each of the S segments starts, then the frame count (segments are played one
    after the other, each round(duration x fps) frames long, as synth.actions.generate makes them)."""
    return np.cumsum([0] + [max(2, round(s.duration * plan.fps)) for s in plan.segments])


@dataclass(frozen=True)
class Twin:
    """The twin of one built-in clip."""

    features: np.ndarray
    """(T', 272) the twin's features."""
    changed: np.ndarray
    """(T',) bool: frames of the changed segments."""
    clip_bounds: np.ndarray
    """(S + 1,) segment boundaries of the clip, frames (`segment_frames`)."""
    twin_bounds: np.ndarray
    """(S + 1,) the same boundaries in the twin."""

    def window(self, start: int, stop: int) -> tuple[int, int]:
        """The twin's frames [start', stop') that play what frames [start, stop) of the clip play (each segment
        stretched to its new length)."""
        a, b = np.interp([start, stop], self.clip_bounds, self.twin_bounds)
        return int(round(a)), max(int(round(b)), int(round(a)) + 1)


def twin_motion(seed: int, index: int) -> Twin | None:
    """The twin of built-in clip (seed, index) (`twin_plan`, played with the clip's motion random stream); None
    when the clip names no detail."""
    from motionmill.motion.container import Motion

    plan = plan_clip(seed, index)
    twin, changed = twin_plan(plan)
    if not changed:
        return None
    k = compose(twin, np.random.default_rng([seed, index, STREAMS["motion"]]))
    bounds = segment_frames(twin)
    mask = np.zeros(len(k.joints), dtype=bool)
    for i in changed:
        mask[bounds[i] : bounds[i + 1]] = True
    features = Motion.from_rotations(k.rotations, k.joints, twin.fps).features
    return Twin(features, mask, segment_frames(plan), bounds)
