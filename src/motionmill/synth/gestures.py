"""Key-pose actions of the built-in corpus: fitness, martial arts, dance, sports and daily gestures, and jumps.

Each action is data: a base pose held between repetitions and the key poses visited in order within one repetition
(pose channels over STAND, see synth.pose), optional sinusoids for cyclic movements (arm circles, waving, swaying)
and optional flight intervals (jumps). The generator moves stand -> base -> (keys)^reps -> base -> stand with
minimum-jerk interpolation between knots, with per-repetition variation of amplitude. Sided actions are written for
the right side; the left side is their mirror image and "both" combines the two.

Shape legend: T frames, C pose channels, K knots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motionmill.synth.plan import Segment
from motionmill.synth.pose import CHANNELS, Track, channel, effect, minjerk, mirror, pose_vector, posture

__all__ = ["GESTURES", "Gesture", "gesture", "gesture_reps"]


@dataclass(frozen=True)
class Gesture:
    """One key-pose action (angles in degrees, written for the right side when sided)."""

    keys: tuple[dict, ...]
    """Poses visited in order within one repetition (channels over STAND)."""
    period: float = 1.2
    """Seconds per repetition at normal speed."""
    base: dict = field(default_factory=dict)
    """Pose held before, between and after the repetitions."""
    osc: dict = field(default_factory=dict)
    """channel -> (amplitude, cycles per repetition, phase in cycles): sinusoids added over the repetitions."""
    flight: tuple[tuple[float, float], ...] = ()
    """Airborne intervals, as fractions of a repetition."""
    height: float = 0.0
    """Flight apex in metres."""
    hold: bool = False
    """Done once, whatever the duration (salute, bow...): the repetition stretches to fill the segment."""


def _both(**kw) -> dict:
    """Expand x=v to l_x=v and r_x=v."""
    return {f"{s}_{k}": v for k, v in kw.items() for s in "lr"}


_ARMS_FWD = _both(sh_el=0, sh_fw=85, elbow=5)
_GUARD = _both(sh_el=-45, sh_fw=65, elbow=125, knee=12, hip_flex=8, hip_abd=7)  # fists up, knees soft
_LEGS = _both(hip_flex=0, knee=0)


GESTURES: dict[str, Gesture] = {
    # fitness
    "jumping_jack": Gesture((_both(hip_abd=16, sh_el=80, sh_fw=0, elbow=10), {}), 1.0,
                            flight=((0.08, 0.38), (0.58, 0.88)), height=0.07),
    "squat": Gesture(({**_both(hip_flex=95, knee=120, ankle=0), **_ARMS_FWD, "pitch": 28, "spine_flex": 8},), 2.0),
    "lunge": Gesture(({"r_hip_flex": 55, "r_knee": 70, "r_ankle": -10},
                      {"r_hip_flex": 88, "r_knee": 92, "l_hip_flex": -12, "l_knee": 100, "l_ankle": 70,
                       "spine_flex": -4},
                      {"r_hip_flex": 55, "r_knee": 70, "r_ankle": -10}), 2.4),
    "high_knees": Gesture(({"l_hip_flex": 85, "l_knee": 95, "l_ankle": 20, **_both(elbow=85, sh_el=-60)},
                           _both(elbow=85, sh_el=-60),
                           {"r_hip_flex": 85, "r_knee": 95, "r_ankle": 20, **_both(elbow=85, sh_el=-60)}), 0.9),
    "arm_circles": Gesture(({},), 1.1, base={"r_sh_el": 0, "r_sh_fw": 0, "r_elbow": 3},
                           osc={"r_sh_el": (30, 1, 0.0), "r_sh_fw": (30, 1, 0.25)}),
    "toe_touch": Gesture(({"pitch": 62, "spine_flex": 50, "neck_flex": 5, **_both(sh_el=-8, sh_fw=90, elbow=0),
                           **_LEGS},), 2.4),
    "side_bend": Gesture(({"spine_bend": -32, "roll": -4, "l_sh_el": 75, "l_sh_fw": 15, "l_elbow": 25},), 2.2),
    "torso_twist": Gesture(({},), 1.6, base=_both(sh_el=-10, sh_fw=80, elbow=100),
                           osc={"spine_twist": (45, 1, 0.0), "neck_turn": (20, 1, 0.0)}),
    "calf_raise": Gesture(({"l_ankle": 32, "r_ankle": 32, **_LEGS},), 1.4),
    "stretch": Gesture(({"r_sh_el": 85, "r_sh_fw": 10, "r_elbow": 3, "spine_bend": 12, "neck_flex": -10},) * 2,
                       3.0, hold=True),
    # martial arts
    "punch": Gesture(({"r_sh_el": 2, "r_sh_fw": 92, "r_elbow": 4, "spine_twist": 22, "r_collar_up": 5},), 0.8,
                     base=_GUARD),
    "uppercut": Gesture(({"r_sh_el": -70, "r_elbow": 95, "spine_twist": -8, **_both(knee=28, hip_flex=16)},
                         {"r_sh_el": 15, "r_sh_fw": 80, "r_elbow": 85, "spine_twist": 25}), 1.1, base=_GUARD),
    "kick": Gesture(({"r_hip_flex": 70, "r_knee": 105},
                     {"r_hip_flex": 82, "r_knee": 4, "r_ankle": 35, "pitch": -10},
                     {"r_hip_flex": 70, "r_knee": 105}), 1.3, base=_GUARD),
    "side_kick": Gesture(({"r_hip_flex": 60, "r_knee": 105, "r_hip_abd": 20},
                          {"r_hip_flex": 12, "r_knee": 4, "r_hip_abd": 68, "roll": 22, "spine_bend": 18},
                          {"r_hip_flex": 60, "r_knee": 105, "r_hip_abd": 20}), 1.4, base=_GUARD),
    "block": Gesture(({"r_sh_el": 55, "r_sh_fw": 55, "r_elbow": 95, "r_sh_twist": 30},), 1.0, base=_GUARD),
    "elbow_strike": Gesture(({"r_sh_el": 0, "r_sh_fw": 105, "r_elbow": 140, "spine_twist": 35},), 0.9, base=_GUARD),
    # dance and performance
    "sway": Gesture(({},), 2.0, base=_both(sh_el=-65, knee=8),
                    osc={"roll": (6, 1, 0.0), "spine_bend": (12, 1, 0.0), "neck_tilt": (8, 1, 0.0),
                         "l_sh_el": (10, 1, 0.0), "r_sh_el": (10, 1, 0.5)}),
    "shimmy": Gesture(({},), 1.5, base=_both(knee=15, hip_flex=8, sh_el=-40, elbow=70),
                      osc={"spine_twist": (12, 6, 0.0), "l_collar_up": (10, 6, 0.0), "r_collar_up": (10, 6, 0.5)}),
    "bow": Gesture(({"pitch": 35, "spine_flex": 30, "neck_flex": 20, **_both(sh_fw=40, sh_el=-80)},) * 2, 2.5,
                   hold=True),
    "cheer": Gesture((_both(sh_el=72, sh_fw=18, elbow=5), _both(sh_el=55, sh_fw=25, elbow=30)), 1.4),
    "salute": Gesture(({"r_sh_el": 5, "r_sh_fw": 25, "r_elbow": 140, "r_sh_twist": 80},) * 2, 2.0, hold=True),
    # sports
    "jump": Gesture(({**_both(hip_flex=55, knee=95, sh_el=-55, sh_fw=-40), "pitch": 20},
                     {**_both(hip_flex=0, knee=0, ankle=30, sh_el=60, sh_fw=70), "pitch": 5},
                     {**_both(hip_flex=35, knee=60, ankle=10, sh_el=40, sh_fw=80)},
                     {**_both(hip_flex=50, knee=85, sh_el=-20, sh_fw=70), "pitch": 15}), 1.6,
                    flight=((0.4, 0.8),), height=0.28),
    "throw": Gesture(({"r_sh_el": 35, "r_sh_fw": -35, "r_elbow": 95, "r_sh_twist": 60, "spine_twist": -30,
                       "l_sh_el": 0, "l_sh_fw": 80},
                      {"r_sh_el": 20, "r_sh_fw": 100, "r_elbow": 15, "spine_twist": 30, "pitch": 8},
                      {"r_sh_el": -45, "r_sh_fw": 85, "r_elbow": 20, "spine_twist": 25, "pitch": 15}), 1.4),
    "dribble": Gesture(({},), 0.55, base={"pitch": 12, **_both(hip_flex=20, knee=35), "r_sh_el": -40,
                                          "r_sh_fw": 45, "r_elbow": 45},
                       osc={"r_elbow": (22, 1, 0.0), "r_sh_el": (8, 1, 0.0)}),
    "swing_bat": Gesture(({"spine_twist": 45, "neck_turn": -20, "l_sh_fw": 35, "l_sh_el": -15, "l_elbow": 10,
                           "r_sh_fw": 120, "r_sh_el": -15, "r_elbow": 15},
                          {"spine_twist": 60, "neck_turn": -30, "l_sh_fw": 10, "l_sh_el": 20, "l_elbow": 70,
                           "r_sh_fw": 110, "r_sh_el": 25, "r_elbow": 90}), 1.5,
                         base={"spine_twist": -30, "neck_turn": 30, "l_sh_fw": 95, "l_sh_el": -15, "l_elbow": 100,
                               "r_sh_fw": 45, "r_sh_el": 5, "r_elbow": 115, **_both(knee=15, hip_abd=12)}),
    "shoot_basketball": Gesture(({**_both(knee=45, hip_flex=30, sh_el=-15, sh_fw=75, elbow=115)},
                                 {**_both(knee=0, ankle=25, sh_el=62, sh_fw=70, elbow=10), "neck_flex": -20}), 1.5),
    # daily gestures
    "wave": Gesture(({},), 0.6, base={"r_sh_el": 25, "r_sh_fw": 15, "r_elbow": 65, "r_sh_twist": 85},
                    osc={"r_elbow": (28, 1, 0.0)}),
    "clap": Gesture((_both(sh_el=-25, sh_fw=92, elbow=62), _both(sh_el=-25, sh_fw=60, elbow=60)), 0.55,
                    base=_both(sh_el=-25, sh_fw=60, elbow=60)),
    "point": Gesture(({"r_sh_el": 5, "r_sh_fw": 88, "r_elbow": 2},) * 2, 2.0, hold=True),
    "raise_arms": Gesture(({"r_sh_el": 85, "r_sh_fw": 20, "r_elbow": 5},) * 2, 2.0, hold=True),
    "reach_up": Gesture(({"r_sh_el": 87, "r_sh_fw": 30, "r_elbow": 0, "r_collar_up": 15, "neck_flex": -25,
                          "l_ankle": 25, "r_ankle": 25, **_LEGS},) * 2, 2.0, hold=True),
    "pick_up": Gesture(({"pitch": 30, "spine_flex": 35, "neck_flex": 10, **_both(hip_flex=70, knee=110, sh_el=-5,
                                                                                    sh_fw=90, elbow=10)},
                        {**_both(sh_el=-40, sh_fw=60, elbow=80)}), 2.8),
    "look_around": Gesture(({},), 3.0, osc={"neck_turn": (60, 1, 0.0), "spine_twist": (15, 1, 0.0)}),
    "shrug": Gesture((_both(collar_up=25, elbow=60, sh_fw=30),), 1.0),
    "nod": Gesture(({"neck_flex": 25},), 0.7),
    "scratch_head": Gesture(({"r_sh_el": 45, "r_sh_fw": 30, "r_elbow": 145, "r_sh_twist": 70, "neck_tilt": -10},) * 2,
                            2.0, osc={"r_elbow": (6, 4, 0.0)}, hold=True),
    "stand": Gesture(({"roll": 2, "neck_turn": 12}, {"roll": -2, "neck_turn": -8}), 3.0, hold=True),
}  # fmt: skip

# Where to point or jump (direction modifier), for the right arm; the left arm mirrors it.
_POINT = {"forward": {}, "right": {"r_sh_fw": 15, "neck_turn": -45, "spine_twist": -15},
          "left": {"r_sh_fw": 135, "neck_turn": 50, "spine_twist": 30},
          "backward": {"r_sh_fw": 20, "r_sh_el": 10, "neck_turn": -75, "spine_twist": -55}}  # fmt: skip
_JUMP = {"forward": (0.0, 1.0), "backward": (0.0, -1.0), "left": (1.0, 0.0), "right": (-1.0, 0.0)}
_MIRROR_DIRECTION = {"left": "right", "right": "left"}
LEAD = 0.4  # seconds from standing to the base pose, and back
_LEFT = np.array([n.startswith("l_") for n in CHANNELS])
_ODD_CENTER = np.array([n in ("yaw", "roll", "spine_bend", "spine_twist", "neck_turn", "neck_tilt") for n in CHANNELS])


def gesture_reps(seg: Segment) -> int:
    """Number of repetitions a gesture segment performs (the reps modifier, else as many as fit)."""
    g = GESTURES[seg.action]
    if g.hold:
        return 1
    return int(seg.modifier("reps") or max(1, round((seg.duration - 2 * LEAD) / g.period)))


def _knots(g: Gesture, seg: Segment, n: int, rng: np.random.Generator, side: str) -> np.ndarray:
    """(K, C) knot poses: stand, base, n x (keys, base), stand; amplitudes varied per repetition."""
    amp = effect(seg.modifiers).amp
    extra = _POINT[seg.modifier("direction", "forward")] if seg.action == "point" else {}
    if side == "left" and extra:
        extra = _POINT[_MIRROR_DIRECTION.get(seg.modifier("direction", "forward"), "forward")]
    base = pose_vector(g.base)
    keys = [pose_vector({**g.base, **k, **extra}) - base for k in g.keys]
    rows = [pose_vector({}), base]
    for _ in range(n):
        a = amp * rng.uniform(0.85, 1.15)
        rows += [base + a * k for k in keys] + [base]
    return np.stack(rows + [pose_vector({})])


def _sided(P: np.ndarray, side: str) -> np.ndarray:
    """Right-side channels as written, mirrored for "left", both sides for "both"."""
    if side == "right":
        return P
    m = mirror(P)
    if side == "left":
        return m
    both = np.where(_LEFT, m, P)
    return np.where(_ODD_CENTER, 0.0, both)


def gesture(seg: Segment, T: int, fps: float, rng: np.random.Generator) -> Track:
    """A key-pose segment: stand -> base -> repetitions -> stand, over T frames."""
    g = GESTURES[seg.action]
    dur = T / fps
    n = gesture_reps(seg)
    side = seg.modifier("side", "both" if seg.action in ("raise_arms", "stretch") else rng.choice(["left", "right"]))
    knots = _knots(g, seg, n, rng, side if seg.action == "point" else "right")  # (K, C)
    per = len(g.keys) + 1  # knot intervals per repetition
    lead = min(LEAD, dur / 4)
    rep = (dur - 2 * lead) / n
    times = np.concatenate(([0.0], lead + rep * np.arange(n * per + 1) / per, [dur]))  # (K,)
    t = np.arange(T) / fps
    i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    w = minjerk((t - times[i]) / (times[i + 1] - times[i]))[:, None]
    P = knots[i] + w * (knots[i + 1] - knots[i])  # (T, C)
    u = (t - lead) / rep  # repetition progress
    inside = (u >= 0) & (u < n)
    window = minjerk(np.minimum(u, n - u) * 3)  # fades sinusoids in and out
    a = effect(seg.modifiers).amp
    for name, (amp, cycles, phase) in g.osc.items():
        P[:, channel(name)] += window * a * amp * np.sin(2 * np.pi * (cycles * u + phase))
    P = _sided(P, side) if seg.action != "point" else (mirror(P) if side == "left" else P)
    air, push = _flight(g, seg, u, inside, rep, T)
    return Track(posture(P, effect(seg.modifiers)), air, push)


def _flight(g: Gesture, seg: Segment, u: np.ndarray, inside: np.ndarray, rep: float, T: int):
    """(T,) flight height and (T, 2) horizontal push of a jumping action."""
    air, push = np.zeros(T), np.zeros((T, 2))
    k = np.mod(u, 1.0)
    amp = {"small": 0.55, "big": 1.5}.get(seg.modifier("amplitude"), 1.0)
    for u0, u1 in g.flight:
        s = (k - u0) / (u1 - u0)
        on = inside & (s > 0) & (s < 1)
        air = np.where(on, 4 * g.height * amp * s * (1 - s), air)
        direction = seg.modifier("direction")
        if direction is not None:
            push[on] = np.array(_JUMP[direction]) * 0.5 / ((u1 - u0) * rep)  # half a metre per jump
    return air, push
