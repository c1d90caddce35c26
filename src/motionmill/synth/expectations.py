"""What a caption claims, as predicates: the plan of a built-in clip -> facts any matching motion must show.

This is the automatic text-alignment score of generated motion. For a caption of the test or zero-shot split, the
plan behind it gives, per segment, the predicates its words commit to (direction of travel, turn angle, number of
jumps or squats, which hand waves, which foot kicks...). A generated motion is scored segment by segment on the
matching share of its own duration (a caption fixes the order of segments, not their timing), and the score is the
fraction of predicates satisfied (synth.predicates.score). Actions whose words commit to nothing measurable here
(look around, nod, shrug...) add no predicate.

The rules are data: one function per action family, each returning predicates for one segment.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from motionmill.synth.plan import ClipPlan, Segment
from motionmill.synth.predicates import Predicate

__all__ = ["RULES", "ScoredClip", "expected_predicates", "score_motion"]

TURN_TOLERANCE = 45.0  # degrees of slack around an asked turn
REACH_DOWN = 0.62  # metres: hands hang at about 0.8 m when standing; bending down brings them lower
TRAVEL = ("walk", "jog", "run", "sneak", "march", "side_step", "skip")


def _travel(seg: Segment) -> list[Predicate]:
    if seg.modifier("turn") is not None:  # a turning path ends up sideways: judge the turn instead
        return [Predicate("heading_change", expected=float(seg.modifier("turn")), tolerance=TURN_TOLERANCE)]
    if seg.action == "side_step" and seg.modifier("reps") == 1:
        return []  # a single side step travels less than the 0.3 m a direction needs
    default = "forward" if seg.action != "side_step" else None
    direction = seg.modifier("direction", default)
    return [Predicate("displacement_direction", expected=direction)] if direction else []


def _turn(seg: Segment) -> list[Predicate]:
    turn = seg.modifier("turn")
    return [Predicate("heading_change", expected=float(turn), tolerance=TURN_TOLERANCE)] if turn is not None else []


def _jump(seg: Segment) -> list[Predicate]:
    reps = seg.modifier("reps")
    out = [Predicate("count_jumps", expected=int(reps) if reps else (1, None))]
    if seg.modifier("direction") is not None:
        out.append(Predicate("displacement_direction", expected=seg.modifier("direction")))
    return out


def _squat(seg: Segment) -> list[Predicate]:
    reps = seg.modifier("reps")
    if seg.modifier("amplitude") == "small" or not reps:
        return [Predicate("crouch_depth", expected=(0.05, None))]
    return [Predicate("count_squats", expected=int(reps))]


def _side(measure: str) -> Callable[[Segment], list[Predicate]]:
    def rule(seg: Segment) -> list[Predicate]:
        side = seg.modifier("side")
        return [Predicate(measure, expected=side)] if side in ("left", "right") else []

    return rule


def _clap(seg: Segment) -> list[Predicate]:
    reps = seg.modifier("reps")
    return [Predicate("hands_together_count", expected=int(reps) if reps else (1, None))]


def _raise(seg: Segment) -> list[Predicate]:
    if seg.modifier("style") == "tired":
        return []  # tired arms stop below the head: the words promise no height
    side = seg.modifier("side", "both" if seg.action == "raise_arms" else None)
    return [Predicate("raised_hand", expected=frozenset({side, "both"}) if side != "both" else "both")] if side else []


def _reach_down(seg: Segment) -> list[Predicate]:
    return [Predicate("min_hand_height", expected=(None, REACH_DOWN))]


RULES: dict[str, Callable[[Segment], list[Predicate]]] = {
    **{name: _travel for name in TRAVEL},
    "turn_in_place": _turn,
    "spin": _turn,
    "jump": _jump,
    "squat": _squat,
    "kick": _side("kick_side"),
    "punch": _side("punch_side"),
    "wave": _side("waving_hand"),
    "clap": _clap,
    "raise_arms": _raise,
    "reach_up": _raise,
    "pick_up": _reach_down,
    "toe_touch": _reach_down,
}


def expected_predicates(plan: ClipPlan) -> list[tuple[Segment, list[Predicate]]]:
    """Per segment of the plan (layered actions included), the predicates its caption words commit to."""
    out = []
    for seg in plan.segments:
        preds = RULES.get(seg.action, lambda s: [])(seg)
        if seg.layer is not None:
            layer = Segment(seg.layer, seg.start, seg.end, seg.layer_modifiers)
            preds = preds + RULES.get(seg.layer, lambda s: [])(layer)
        if preds:
            out.append((seg, preds))
    return out


class ScoredClip(dict):
    """{"satisfied": int, "total": int, "failed": [predicate names]} for one motion."""


def score_motion(plan: ClipPlan, joints: np.ndarray, fps: float) -> ScoredClip:
    """Check a motion against its plan's predicates, each segment on its share of the motion's duration."""
    scale = (len(joints) - 1) / fps / plan.duration
    satisfied, total, failed = 0, 0, []
    for seg, preds in expected_predicates(plan):
        first = int(round(seg.start * scale * fps))
        last = max(first + 2, int(round(seg.end * scale * fps)) + 1)
        window = joints[first:last]
        for p in preds:
            ok = len(window) >= 2 and p.check(window, fps)
            satisfied += int(ok)
            total += 1
            if not ok:
                failed.append(p.name)
    return ScoredClip(satisfied=satisfied, total=total, failed=failed)
