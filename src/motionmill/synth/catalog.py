"""The catalogue of atomic actions and modifiers of the built-in corpus, as data.

Categories mirror MotionMillion's mix (fitness, martial arts, dance and performance, sports, locomotion, daily
gestures; docs/evaluation.md). Each action lists the modifiers it supports: a modifier is only ever sampled, and
named in a caption, where it visibly changes the motion.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACTIONS", "MODIFIER_VALUES", "ActionSpec", "action"]

# Modifier kinds and their values. "turn" is a signed angle in degrees (+ = to the character's left).
MODIFIER_VALUES: dict[str, tuple] = {
    "speed": ("slow", "fast"),
    "direction": ("forward", "backward", "left", "right"),
    "turn": (-180, -90, 90, 180),
    "side": ("left", "right", "both"),
    "reps": (1, 2, 3, 4),
    "amplitude": ("small", "big"),
    "style": ("energetic", "tired", "cautious"),
}


@dataclass(frozen=True)
class ActionSpec:
    """One atomic action."""

    name: str
    """Identifier used in plans, splits and held-out lists."""
    category: str
    """fitness | martial_arts | dance | sports | locomotion | daily."""
    body: str
    """locomotion (moves the root), full (whole body in place), upper (arms/torso only: can be layered on
    locomotion)."""
    modifiers: tuple[str, ...]
    """Modifier kinds from MODIFIER_VALUES that this action supports."""
    seconds: tuple[float, float] = (2.0, 4.0)
    """Typical duration range of one segment at normal speed."""
    only: tuple[tuple[str, tuple], ...] = ()
    """Restrictions of a modifier kind to some of its values, e.g. (("side", ("left", "right")),) for a kick."""

    def values(self, kind: str) -> tuple:
        """The values of modifier `kind` this action can take (MODIFIER_VALUES unless restricted by `only`)."""
        return dict(self.only).get(kind, MODIFIER_VALUES[kind])


def _a(name, category, body, modifiers=(), seconds=(2.0, 4.0)) -> ActionSpec:
    only = (("side", ("left", "right")),) if "side" in modifiers and name in _ONE_SIDED else ()
    if name == "side_step":
        only += (("direction", ("left", "right")),)
    return ActionSpec(name, category, body, tuple(modifiers), seconds, only)


# Sided actions done with one limb at a time ("both" is only sampled for the others).
_ONE_SIDED = {"hop", "lunge", "kick", "side_kick", "side_bend", "punch", "uppercut", "elbow_strike", "throw",
              "dribble", "salute", "scratch_head", "point"}  # fmt: skip


_LOCO = ("speed", "direction", "style")
ACTIONS: dict[str, ActionSpec] = {
    a.name: a
    for a in (
        # locomotion
        _a("walk", "locomotion", "locomotion", _LOCO + ("turn",), (3.0, 6.0)),
        _a("jog", "locomotion", "locomotion", ("speed", "direction", "turn", "style"), (3.0, 5.0)),
        _a("run", "locomotion", "locomotion", ("speed", "turn", "style"), (2.5, 4.0)),
        _a("sneak", "locomotion", "locomotion", ("speed", "direction"), (3.0, 5.0)),
        _a("march", "locomotion", "locomotion", ("speed", "direction", "style"), (3.0, 5.0)),
        _a("skip", "locomotion", "locomotion", ("speed",), (2.5, 4.0)),
        _a("hop", "locomotion", "locomotion", ("side", "reps"), (2.0, 4.0)),
        _a("side_step", "locomotion", "locomotion", ("direction", "reps", "speed"), (2.0, 4.0)),
        _a("turn_in_place", "locomotion", "locomotion", ("turn", "speed"), (1.5, 3.0)),
        _a("spin", "dance", "locomotion", ("turn", "speed"), (1.5, 3.0)),
        # fitness
        _a("jumping_jack", "fitness", "full", ("reps", "speed", "style"), (2.0, 5.0)),
        _a("squat", "fitness", "full", ("reps", "speed", "amplitude", "style"), (2.0, 5.0)),
        _a("lunge", "fitness", "full", ("side", "reps", "speed"), (2.0, 5.0)),
        _a("high_knees", "fitness", "full", ("reps", "speed"), (2.0, 4.0)),
        _a("arm_circles", "fitness", "upper", ("side", "reps", "speed", "amplitude"), (2.0, 4.0)),
        _a("toe_touch", "fitness", "full", ("reps", "speed"), (2.0, 5.0)),
        _a("side_bend", "fitness", "full", ("side", "reps", "amplitude"), (2.0, 4.0)),
        _a("torso_twist", "fitness", "upper", ("reps", "speed", "amplitude"), (2.0, 4.0)),
        _a("calf_raise", "fitness", "full", ("reps", "speed"), (2.0, 4.0)),
        _a("stretch", "fitness", "full", ("side", "amplitude"), (2.5, 4.0)),
        # martial arts
        _a("punch", "martial_arts", "upper", ("side", "reps", "speed", "style"), (1.5, 3.5)),
        _a("uppercut", "martial_arts", "upper", ("side", "reps", "speed"), (1.5, 3.0)),
        _a("kick", "martial_arts", "full", ("side", "reps", "speed", "style"), (1.5, 3.5)),
        _a("side_kick", "martial_arts", "full", ("side", "reps"), (1.5, 3.5)),
        _a("block", "martial_arts", "upper", ("side", "reps"), (1.5, 3.0)),
        _a("elbow_strike", "martial_arts", "upper", ("side", "reps"), (1.5, 3.0)),
        # dance and performance
        _a("sway", "dance", "full", ("speed", "amplitude"), (2.5, 5.0)),
        _a("shimmy", "dance", "upper", ("speed", "amplitude"), (2.0, 4.0)),
        _a("bow", "dance", "full", ("speed", "amplitude"), (2.0, 3.5)),
        _a("cheer", "dance", "upper", ("reps", "style"), (1.5, 3.5)),
        _a("salute", "dance", "upper", ("side",), (1.5, 3.0)),
        # sports
        _a("jump", "sports", "full", ("reps", "direction", "amplitude"), (1.5, 4.0)),
        _a("throw", "sports", "upper", ("side", "speed", "amplitude"), (1.5, 3.0)),
        _a("dribble", "sports", "upper", ("side", "reps", "speed"), (2.0, 4.0)),
        _a("swing_bat", "sports", "upper", ("reps", "speed"), (1.5, 3.0)),
        _a("shoot_basketball", "sports", "full", ("reps",), (1.5, 3.0)),
        # daily gestures
        _a("wave", "daily", "upper", ("side", "speed", "amplitude", "style"), (1.5, 3.5)),
        _a("clap", "daily", "upper", ("reps", "speed", "style"), (1.5, 3.0)),
        _a("point", "daily", "upper", ("side", "direction"), (1.5, 3.0)),
        _a("raise_arms", "daily", "upper", ("side", "speed", "style"), (1.5, 3.0)),
        _a("reach_up", "daily", "full", ("side",), (1.5, 3.0)),
        _a("pick_up", "daily", "full", ("speed", "style"), (2.0, 4.0)),
        _a("look_around", "daily", "upper", ("speed",), (2.0, 4.0)),
        _a("shrug", "daily", "upper", ("reps",), (1.5, 3.0)),
        _a("nod", "daily", "upper", ("reps",), (1.5, 3.0)),
        _a("scratch_head", "daily", "upper", ("side",), (1.5, 3.0)),
        _a("stand", "daily", "full", (), (1.5, 3.0)),
    )
}


def action(name: str) -> ActionSpec:
    """The ActionSpec called `name`, with an error listing the known names otherwise."""
    try:
        return ACTIONS[name]
    except KeyError:
        raise KeyError(f"unknown action {name!r}; known: {', '.join(sorted(ACTIONS))}") from None
