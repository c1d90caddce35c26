"""Gaits of the built-in corpus: walk, jog, run, sneak, march, skip, side steps, hops, turns and spins.

A gait is driven by one phase per leg (the right leg half a stride behind the left). Each leg sweeps back at a
constant rate while on the ground (so the foot-locked root, see synth.compose, advances at an even speed) and
swings forward on a cubic Hermite curve whose end slopes match the stance sweep (C1 at every support switch), while
the knee lifts the foot clear of the floor. The sweep is hip flexion for forward and backward travel and hip
abduction for sideways travel. Timing, amplitude and posture are drawn per clip, so no two clips are identical.
The root is not moved here: compose.py derives it from the planted foot, which is what keeps the feet from sliding.

Shape legend: T frames, C pose channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motionmill.synth.plan import Segment
from motionmill.synth.pose import STAND, Track, channel, effect, minjerk, pose_vector, posture, smoothstep

__all__ = ["GAITS", "Gait", "gait_wave", "hop", "locomote", "spin"]


@dataclass(frozen=True)
class Gait:
    """Parameters of one cyclic gait at normal speed (angles in degrees)."""

    period: float
    """Seconds per stride (two steps)."""
    hip: float
    """Hip sweep half-amplitude."""
    knee: float
    """Knee flexion at mid-swing."""
    knee_stance: float
    """Knee flexion at mid-stance."""
    duty: float
    """Fraction of the stride a foot is on the ground (> 0.5: double support)."""
    arm: float
    """Arm swing half-amplitude (shoulder forward angle)."""
    elbow: float
    """Elbow flexion while swinging the arms."""
    lean: float = 0.0
    """Forward lean of the root."""
    hop: float = 0.0
    """Flight height per step in metres (skip)."""
    thigh: float = 0.0
    """Extra hip flexion while the knee lifts (high-stepping gaits raise the thigh, not just the heel)."""
    pose: dict = field(default_factory=dict)
    """Posture channels over STAND (e.g. sneak: crouched with arms forward)."""


GAITS: dict[str, Gait] = {
    "walk": Gait(1.05, 25, 55, 8, 0.62, 18, 15, 2, thigh=5),
    "jog": Gait(0.76, 27, 88, 18, 0.55, 28, 85, 7, thigh=12, pose={"l_sh_el": -70, "r_sh_el": -70}),
    "run": Gait(0.66, 34, 105, 22, 0.52, 40, 95, 11, thigh=20, pose={"l_sh_el": -65, "r_sh_el": -65}),
    "sneak": Gait(1.8, 15, 68, 12, 0.7, 5, 75, 14, thigh=15,
                  pose={"l_sh_fw": 45, "r_sh_fw": 45, "l_sh_el": -45, "r_sh_el": -45, "l_hip_flex": 22,
                        "r_hip_flex": 22, "l_knee": 44, "r_knee": 44, "spine_flex": 12, "neck_flex": -10}),
    "march": Gait(1.1, 24, 90, 5, 0.6, 40, 5, 0, thigh=45, pose={"spine_flex": -4, "neck_flex": -5}),
    "skip": Gait(0.8, 24, 85, 12, 0.56, 32, 40, 4, hop=0.1, thigh=30),
    "side_step": Gait(1.0, 12, 50, 4, 0.62, 0, 15),
    "turn_in_place": Gait(0.9, 0, 50, 4, 0.6, 0, 15),
    "spin": Gait(0.55, 0, 28, 4, 0.6, 0, 10, pose={"l_sh_el": -20, "r_sh_el": -20, "l_sh_fw": 20, "r_sh_fw": 20}),
}  # fmt: skip

# Sweep sign per travel direction: (hip flexion, hip abduction lead). Sideways travel leads with that side's leg.
DIRECTIONS = {"forward": (1, 0), "backward": (-1, 0), "left": (0, 1), "right": (0, -1)}
# Default heading change (degrees) of actions that turn even without a turn modifier.
DEFAULT_TURN = {"turn_in_place": 90, "spin": 360}
RAMP = 0.45  # seconds to start and stop walking
TOE_UP = 35.0  # degrees of ankle dorsiflexion at foot strike: the toes clear the floor while the foot decelerates


def gait_wave(phase: np.ndarray, duty: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sweep, lift and support weight of one leg.

    Args:
        phase: (T,) stride phase (cycles; 0 = foot strike).
        duty: stance fraction (> 0.5).

    Returns:
        sweep (T,) going +1 -> -1 linearly in stance and back on a C1 Hermite curve in swing; lift (T,) in [0, 1]
        (0 in stance, peaking early in the swing so the foot leaves the floor before it moves fast); support (T,)
        the leg's share of the body weight, handed over smoothly during double support.
    """
    p = np.mod(phase, 1.0)
    stance = p < duty
    s = np.clip((p - duty) / (1 - duty), 0.0, 1.0)  # swing progress
    m = -2.0 * (1 - duty) / duty  # stance slope in swing-progress units
    h = (2 * s**3 - 3 * s**2 + 1) * -1 + (s**3 - 2 * s**2 + s) * m + (-2 * s**3 + 3 * s**2) + (s**3 - s**2) * m
    sweep = np.where(stance, 1 - 2 * p / duty, h)
    lift = np.where(stance, 0.0, np.sin(np.pi * s**0.8) ** 2)  # knee flexion peaks at 40% of the swing
    double = duty - 0.5
    support = np.where(stance, smoothstep(p / double) * smoothstep((duty - p) / double), 0.0)
    return sweep, lift, support


def _toe_up(phase: np.ndarray, duty: float) -> np.ndarray:
    """(T,) 0..1: toes raised before the foot lands (late swing) and lowered flat just after (early stance)."""
    p = np.mod(phase, 1.0)
    s = (p - duty) / (1 - duty)
    return np.where(p < duty, 1 - smoothstep(p / 0.1), smoothstep((s - 0.4) / 0.45))


def _envelope(t: np.ndarray, duration: float, ramp: float = RAMP) -> np.ndarray:
    """(T,) 0 -> 1 -> 0 with smooth ramps at both ends."""
    return smoothstep(t / ramp) * smoothstep((duration - t) / ramp)


def _heading(turn: float, rate: np.ndarray) -> np.ndarray:
    """(T,) yaw reaching `turn` degrees, advancing in proportion to `rate` (T,) >= 0."""
    total = np.cumsum(rate)
    return turn * total / max(total[-1], 1e-9)


def locomote(seg: Segment, T: int, fps: float, rng: np.random.Generator) -> Track:
    """A gait segment (walk, jog, run, sneak, march, skip, side_step, turn_in_place).

    Modifiers: speed and style scale cadence and stride (tired slumps, cautious crouches), direction chooses the
    sweep, turn changes the heading over the segment (only while one foot carries the body, so the other does not
    pivot on the floor), reps (side_step) sets the number of strides.
    """
    g, e = GAITS[seg.action], effect(seg.modifiers)
    t = np.arange(T) / fps
    dur = T / fps
    default_dir = "left" if seg.action == "side_step" else "forward"
    flex_sign, abd_lead = DIRECTIONS[seg.modifier("direction", default_dir)]
    env = _envelope(t, dur)
    clear = np.sqrt(env)  # feet clear the floor sooner than strides lengthen while starting and stopping
    # The stride phase advances at a rate that ramps up and down with the envelope, from and to a pose where both
    # sweeps are zero (left mid-stance, right mid-swing), over a whole number of steps: starting and stopping
    # never drags a planted foot.
    travelled = np.cumsum(env) / fps  # (T,)
    period = g.period / e.tempo * rng.uniform(0.92, 1.08)
    steps = 2 * seg.modifier("reps", 0) or max(1, round(2 * travelled[-1] / period))
    phase = g.duty / 2 + travelled * steps / (2 * travelled[-1])
    amp = e.stride * rng.uniform(0.88, 1.12)
    stand = pose_vector({})
    P = stand + (pose_vector(g.pose) - stand) * env[:, None]  # posture fades in and out with the gait
    contact = np.zeros((T, 2))
    for k, (side, offset) in enumerate((("l_", 0.0), ("r_", 0.5))):
        sweep, lift, contact[:, k] = gait_wave(phase + offset, g.duty)
        bump = np.sin(np.pi * np.clip(np.mod(phase + offset, 1) / g.duty, 0, 1)) ** 2 * (lift == 0)
        if abd_lead == 0:
            P[:, channel(side + "hip_flex")] += env * flex_sign * g.hip * amp * sweep
        sideways = abd_lead != 0 or g.hip == 0  # stepping sideways or on the spot: the thigh lifts the foot too
        P[:, channel(side + "hip_flex")] += clear * (0.5 * g.knee if sideways else g.thigh) * lift
        if abd_lead != 0:  # sideways: the leading leg opens in swing, the trailing one in stance; they never cross
            lead = abd_lead == (1 if side == "l_" else -1)
            P[:, channel(side + "hip_abd")] += env * g.hip * amp * (1 + sweep if lead else 1 - sweep) / 2
        P[:, channel(side + "knee")] += clear * g.knee * e.amp**0.5 * lift + env * g.knee_stance * bump
        P[:, channel(side + "ankle")] -= clear * TOE_UP * _toe_up(phase + offset, g.duty) + env * 4 * bump
        other = 0.5 - offset  # arms swing with the opposite leg
        P[:, channel(side + "sh_fw")] += env * g.arm * e.amp * np.cos(2 * np.pi * (phase + other - 0.1))
        P[:, channel(side + "elbow")] += env * (g.elbow - STAND["l_elbow"])
    P[:, channel("pitch")] += env * g.lean * flex_sign
    P[:, channel("roll")] += env * 2.5 * np.sin(2 * np.pi * phase)
    P[:, channel("spine_twist")] += env * 0.25 * g.arm * np.cos(2 * np.pi * (phase - 0.1))
    single = np.abs(contact[:, 0] - contact[:, 1])  # 1 on one foot, 0 mid double support
    P[:, channel("yaw")] = _heading(seg.modifier("turn", DEFAULT_TURN.get(seg.action, 0)), env * single + 1e-6)
    air, push = np.zeros(T), np.zeros((T, 2))
    if g.hop:  # skip: a small hop at the end of each step; the feet keep their stride (NaN push: see Track)
        s = np.mod(2 * phase, 1.0)
        air = env * g.hop * np.where(s > 0.7, 4 * (s - 0.7) / 0.3 * (1 - (s - 0.7) / 0.3), 0.0)
        push[air > 0] = np.nan
    return Track(posture(P, e), air, push, contact)


def spin(seg: Segment, T: int, fps: float, rng: np.random.Generator) -> Track:
    """A pirouette on the left foot, the right leg lifted; turn modifier = angle (default a full turn)."""
    t = np.arange(T) / fps
    dur = T / fps
    env = _envelope(t, dur, 0.4)
    P = pose_vector({}) + env[:, None] * (pose_vector(GAITS["spin"].pose) - pose_vector({}))
    for name, value in (("r_hip_flex", 35), ("r_knee", 70), ("r_hip_abd", 10), ("l_ankle", 12)):
        P[:, channel(name)] += env * value * rng.uniform(0.85, 1.15)
    P[:, channel("yaw")] = seg.modifier("turn", DEFAULT_TURN["spin"]) * minjerk((t - 0.3) / max(dur - 0.6, 1e-3))
    contact = np.tile([1.0, 0.0], (T, 1))
    return Track(posture(P, effect(seg.modifiers)), contact=contact)


def hop(seg: Segment, T: int, fps: float, rng: np.random.Generator) -> Track:
    """Hops on one foot (side modifier: the standing foot), moving forward; reps = number of hops."""
    t = np.arange(T) / fps
    dur = T / fps
    side = seg.modifier("side", rng.choice(["left", "right"]))
    up, free = ("l_", "r_") if side == "left" else ("r_", "l_")
    env = _envelope(t, dur, 0.35)
    n = seg.modifier("reps") or max(1, round((dur - 0.8) / 0.55))
    period = (dur - 0.8) / n
    s = (t - 0.4) / period  # hop progress, one unit per hop
    inside = (s >= 0) & (s < n)
    k = np.mod(s, 1.0)
    flight = inside & (k > 0.45)
    air = np.where(flight, 4 * 0.12 * ((k - 0.45) / 0.55) * (1 - (k - 0.45) / 0.55), 0.0)
    crouch = np.where(inside & (k <= 0.45), np.sin(np.pi * k / 0.45) ** 2, 0.0)
    P = np.tile(pose_vector({}), (T, 1))
    for name, value in ((free + "hip_flex", 35), (free + "knee", 85), (up + "hip_abd", 4), ("l_sh_el", 20),
                        ("r_sh_el", 20), ("l_elbow", 30), ("r_elbow", 30)):  # fmt: skip
        P[:, channel(name)] += env * value
    P[:, channel(up + "hip_flex")] += 20 * crouch
    P[:, channel(up + "knee")] += 40 * crouch
    P[:, channel(up + "ankle")] += 25 * air / 0.12
    push = np.zeros((T, 2))
    push[:, 1] = np.where(flight, rng.uniform(0.6, 1.0), 0.0)
    contact = np.tile([1.0, 0.0] if up == "l_" else [0.0, 1.0], (T, 1))
    return Track(P, air, push, contact)
