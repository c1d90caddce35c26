"""Pose channels of the built-in corpus: a small anatomical parameterisation of the SMPL-22 body and its rotations.

Action generators (synth.locomotion, synth.gestures) do not write rotation matrices. They write a few named,
mirror-symmetric angles per frame (hip flexion, knee flexion, arm elevation...), in degrees. Blending two poses is
then a per-channel interpolation, layering an arm gesture on a gait is a channel mask, mirroring is a permutation
with sign flips, and joint limits are simple bounds: knees and elbows only flex (never bend backwards) by
construction. `pose_to_rotations` turns channels into SMPL local rotations (index 0 = global root rotation).

Conventions (rest pose of motion.skeleton: T-pose facing +Z, left = +X, y up):
- yaw > 0 turns left (about +Y); pitch > 0 leans forward; roll > 0 tilts to the left.
- leg angles are relative to the world vertical: root pitch/roll are compensated at the hips, so a bow does not
  swing the legs; the ankle channel is relative to a flat foot (0 keeps the sole parallel to the floor).
- arm elevation: -90 = hanging, 0 = horizontal, 90 = straight up; arm forward: 0 = out to the side, 90 = in front.

Shape legend: T frames, C channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motionmill.motion.rotations import axis_rotation, rotation_between

__all__ = [
    "CHANNELS",
    "STAND",
    "UPPER",
    "EFFECTS",
    "Effect",
    "Track",
    "channel",
    "effect",
    "posture",
    "minjerk",
    "mirror",
    "pose_to_rotations",
    "pose_vector",
    "smoothstep",
]

_SIDED = ("hip_flex", "hip_abd", "hip_twist", "knee", "ankle", "collar_up", "sh_el", "sh_fw", "sh_twist", "elbow")
CHANNELS: tuple[str, ...] = (
    ("yaw", "pitch", "roll", "spine_flex", "spine_bend", "spine_twist", "neck_flex", "neck_turn", "neck_tilt")
    + tuple(f"l_{n}" for n in _SIDED)
    + tuple(f"r_{n}" for n in _SIDED)
)
_INDEX = {name: i for i, name in enumerate(CHANNELS)}

# Channels whose sign flips under a left/right mirror (rotations about the vertical or sagittal axis).
_ODD = ("yaw", "roll", "spine_bend", "spine_twist", "neck_turn", "neck_tilt")
_SWAP = {"l_": "r_", "r_": "l_"}
_MIRROR_PERM = np.array([_INDEX[_SWAP[n[:2]] + n[2:] if n[:2] in _SWAP else n] for n in CHANNELS])
_MIRROR_SIGN = np.array([-1.0 if n in _ODD else 1.0 for n in CHANNELS])

# The arms, shoulders and head: what a layered upper-body action replaces on a gait.
_ARM = ("collar_up", "sh_el", "sh_fw", "sh_twist", "elbow")
UPPER = np.array([n[2:] in _ARM or n.startswith("neck") for n in CHANNELS])

# Relaxed standing: arms hanging slightly forward, elbows and knees a little bent.
STAND: dict[str, float] = {
    "l_sh_el": -84, "r_sh_el": -84, "l_sh_fw": 10, "r_sh_fw": 10, "l_elbow": 12, "r_elbow": 12,
    "l_knee": 3, "r_knee": 3, "l_hip_flex": 1.5, "r_hip_flex": 1.5, "l_hip_abd": 2, "r_hip_abd": 2,
}  # fmt: skip


def channel(name: str) -> int:
    """Column index of a channel name, with the list of names on error."""
    try:
        return _INDEX[name]
    except KeyError:
        raise KeyError(f"unknown pose channel {name!r}; known: {', '.join(CHANNELS)}") from None


def pose_vector(pose: dict[str, float], base: dict[str, float] | None = STAND) -> np.ndarray:
    """(C,) degrees: `base` overridden by the entries of `pose`."""
    out = np.zeros(len(CHANNELS))
    for table in (base or {}, pose):
        for name, value in table.items():
            out[channel(name)] = value
    return out


def mirror(params: np.ndarray) -> np.ndarray:
    """Swap left and right in (..., C) channels (the same motion seen in a mirror)."""
    return params[..., _MIRROR_PERM] * _MIRROR_SIGN


def smoothstep(x: np.ndarray) -> np.ndarray:
    """C1 ease from 0 to 1 on [0, 1], clamped outside."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def minjerk(x: np.ndarray) -> np.ndarray:
    """Minimum-jerk (C2) ease from 0 to 1 on [0, 1], clamped outside."""
    x = np.clip(x, 0.0, 1.0)
    return x**3 * (10 - 15 * x + 6 * x * x)


@dataclass
class Track:
    """The motion of one segment before kinematics: channels plus what the channels cannot say."""

    params: np.ndarray
    """(T, C) pose channels in degrees; yaw starts at 0 (relative to the segment's initial heading)."""
    air: np.ndarray = field(default=None)  # type: ignore[assignment]
    """(T,) height of the lowest joint above the floor (metres): > 0 only in the flight phase of a jump."""
    push: np.ndarray = field(default=None)  # type: ignore[assignment]
    """(T, 2) horizontal root velocity (m/s) during flight, in the heading frame (x = left, z = forward); NaN keeps
    the feet's stride instead (a skip's small hops: the root moves as if the planted foot were still down)."""
    contact: np.ndarray = field(default=None)  # type: ignore[assignment]
    """(T, 2) weight of the left and right foot as the planted one (rows sum to 1), known from a gait's phase;
    NaN where the generator leaves it to the feet's heights (synth.compose)."""

    def __post_init__(self) -> None:
        T = len(self.params)
        self.air = np.zeros(T) if self.air is None else self.air
        self.push = np.zeros((T, 2)) if self.push is None else self.push
        self.contact = np.full((T, 2), np.nan) if self.contact is None else self.contact


# ---------------------------------------------------------------- channels -> rotations


def _rx(a):
    return axis_rotation(0, a)


def _ry(a):
    return axis_rotation(1, a)


def _rz(a):
    return axis_rotation(2, a)


_SPINE = ((3, 0.35), (6, 0.3), (9, 0.35))  # (joint, share of the spine angles)
_NECK = ((12, 0.5), (15, 0.5))


def pose_to_rotations(params: np.ndarray) -> np.ndarray:
    """SMPL-22 local rotations from pose channels.

    Args:
        params: (T, C) channels in degrees (CHANNELS order).

    Returns:
        (T, 22, 3, 3) rotations; entry 0 is the root's global rotation, the others are parent-relative.
    """
    a = np.deg2rad(params)
    g = {name: a[:, i] for i, name in enumerate(CHANNELS)}
    T = len(a)
    R = np.broadcast_to(np.eye(3), (T, 22, 3, 3)).copy()
    R[:, 0] = _ry(g["yaw"]) @ _rz(-g["roll"]) @ _rx(g["pitch"])
    for j, w in _SPINE:
        R[:, j] = _ry(w * g["spine_twist"]) @ _rx(w * g["spine_flex"]) @ _rz(-w * g["spine_bend"])
    for j, w in _NECK:
        R[:, j] = _ry(w * g["neck_turn"]) @ _rx(w * g["neck_flex"]) @ _rz(-w * g["neck_tilt"])
    undo_root = _rx(-g["pitch"]) @ _rz(g["roll"])  # legs are posed relative to the world vertical
    for p, s, (hip, knee, ankle, collar, shoulder, elbow) in (("l_", 1.0, (1, 4, 7, 13, 16, 18)),
                                                              ("r_", -1.0, (2, 5, 8, 14, 17, 19))):  # fmt: skip
        flex, bend = g[p + "hip_flex"], np.maximum(g[p + "knee"], 0.0)  # knees only flex
        R[:, hip] = undo_root @ _rz(s * g[p + "hip_abd"]) @ _rx(-flex) @ _ry(s * g[p + "hip_twist"])
        R[:, knee] = _rx(bend)
        R[:, ankle] = _rx(flex - bend + g[p + "ankle"])  # 0 = sole parallel to the floor
        R[:, collar] = _rz(s * g[p + "collar_up"])
        el, fw = g[p + "sh_el"], g[p + "sh_fw"]
        d = np.stack((s * np.cos(el) * np.cos(fw), np.sin(el), np.cos(el) * np.sin(fw)), axis=-1)  # (T, 3)
        swing = rotation_between(np.broadcast_to(np.array([s, 0.0, 0.0]), d.shape), d)
        R[:, shoulder] = np.swapaxes(R[:, collar], -1, -2) @ swing @ _rx(-g[p + "sh_twist"])
        R[:, elbow] = _ry(-s * np.maximum(g[p + "elbow"], 0.0))  # elbows only flex
    return R


# ---------------------------------------------------------------- what modifiers do to a pose


@dataclass(frozen=True)
class Effect:
    """How modifiers change an action: multipliers and posture offsets, combined by `effect`."""

    tempo: float = 1.0
    """Cadence multiplier (> 1 is faster)."""
    amp: float = 1.0
    """Size of the movement."""
    stride: float = 1.0
    """Step length multiplier (locomotion)."""
    slump: float = 0.0
    """Extra spine and neck flexion, degrees (tired)."""
    crouch: float = 0.0
    """Extra hip flexion in degrees, knees bend twice as much (cautious)."""


EFFECTS: dict[tuple[str, object], Effect] = {
    ("speed", "slow"): Effect(tempo=0.65, stride=0.8),
    ("speed", "fast"): Effect(tempo=1.35, stride=1.15, amp=1.1),
    ("amplitude", "small"): Effect(amp=0.5),
    ("amplitude", "big"): Effect(amp=1.35),
    ("style", "energetic"): Effect(tempo=1.3, amp=1.25, stride=1.15),
    ("style", "tired"): Effect(tempo=0.72, amp=0.65, stride=0.75, slump=22),
    ("style", "cautious"): Effect(tempo=0.68, amp=0.75, stride=0.55, crouch=20),
}


def effect(modifiers) -> Effect:
    """The combined Effect of (kind, value) modifier pairs; kinds without an effect here are ignored."""
    out = Effect()
    for pair in modifiers:
        e = EFFECTS.get(tuple(pair))
        if e is not None:
            out = Effect(out.tempo * e.tempo, out.amp * e.amp, out.stride * e.stride, out.slump + e.slump,
                         out.crouch + e.crouch)  # fmt: skip
    return out


def posture(params: np.ndarray, e: Effect) -> np.ndarray:
    """(T, C) channels with the slump and crouch of `e` added (in place, returned)."""
    for name, k in (("spine_flex", 1.0), ("neck_flex", 0.7), ("l_collar_up", -0.3), ("r_collar_up", -0.3)):
        params[:, channel(name)] += k * e.slump
    for name, k in (("l_hip_flex", 1.0), ("r_hip_flex", 1.0), ("l_knee", 2.0), ("r_knee", 2.0), ("pitch", 0.6)):
        params[:, channel(name)] += k * e.crouch
    return params
