"""One generator per catalogue action, and how long a segment of each action lasts.

The generators live in synth.locomotion (gaits, hops) and synth.gestures (key-pose actions, jumps); this module maps
every action of synth.catalog to one of them, so a missing action is an import-time error rather than a silent gap.
A generator returns a Track (pose channels + flight), which synth.compose turns into rotations, a root trajectory
and joints.

Shape legend: T frames, J joints.
"""

from __future__ import annotations

import numpy as np

from motionmill.synth.catalog import ACTIONS
from motionmill.synth.gestures import GESTURES, LEAD, gesture
from motionmill.synth.locomotion import GAITS, RAMP, hop, locomote, spin
from motionmill.synth.plan import Segment
from motionmill.synth.pose import Track, effect

__all__ = ["GENERATORS", "generate", "segment_seconds"]

GENERATORS = {name: locomote for name in GAITS} | {name: gesture for name in GESTURES} | {"hop": hop, "spin": spin}
_missing = set(ACTIONS) ^ set(GENERATORS)
if _missing:
    raise RuntimeError(f"catalogue and generators disagree on: {sorted(_missing)}")

_HOP_PERIOD = 0.55  # seconds per hop
HOLD_SECONDS = 2.4  # shortest pose-and-hold gesture (raise arms, salute...) at normal speed: no snapping limbs


def generate(seg: Segment, fps: float, rng: np.random.Generator) -> Track:
    """The pose track of one segment.

    Args:
        seg: the segment (action, modifiers, time span).
        fps: frames per second.
        rng: the clip's generator (consumed; the same state gives the same motion).

    Returns:
        A Track of round(seg.duration * fps) frames.
    """
    T = max(2, round(seg.duration * fps))
    return GENERATORS[seg.action](seg, T, fps, rng)


def segment_seconds(action: str, modifiers, rng: np.random.Generator) -> float:
    """A natural duration for one segment: repetitions x period at the modifiers' tempo, or the catalogue range.

    Args:
        action: catalogue name.
        modifiers: (kind, value) pairs.
        rng: generator used for the random part.
    """
    spec, e, mods = ACTIONS[action], effect(modifiers), dict(modifiers)
    lo, hi = spec.seconds
    reps = mods.get("reps")
    if action in GESTURES and not GESTURES[action].hold:
        g = GESTURES[action]
        n = reps or max(1, round(rng.uniform(lo, hi) / g.period))
        return 2 * LEAD + n * g.period / e.tempo * rng.uniform(0.9, 1.1)
    if action == "hop" and reps:
        return 0.8 + reps * _HOP_PERIOD * rng.uniform(0.9, 1.1)
    if action == "side_step" and reps:
        return 2 * RAMP + reps * GAITS[action].period / e.tempo * rng.uniform(0.9, 1.1)
    seconds = rng.uniform(lo, hi) / (e.tempo if action in ("turn_in_place", "spin") or action in GESTURES else 1.0)
    return max(seconds, HOLD_SECONDS / e.tempo) if action in GESTURES else seconds
