"""Machine-checkable facts about any motion given as SMPL-22 joint positions.

These predicates are the ground truth of an automatic text-alignment score: a caption says "walks backwards, then
jumps twice", the plan behind it yields expected predicates (net displacement backward, two airborne phases), and a
generated motion is scored by the fraction it satisfies. They therefore read only joint positions, never anything the
procedural generator knows, and are built to survive mocap-like noise: positions are smoothed over ~0.1 s, events
need a minimum duration, repetitions need a prominence (as scipy.signal.find_peaks defines it) and a minimum
separation. Body-relative answers are computed in the frame-0 body frame (HumanML3D canonicalisation: forward is
up x across the hips and shoulders, docs/representation.md), so they do not change when the clip is rotated about the
vertical or moved.

Conventions: metres, y up, left = +X when facing +Z, angles in degrees with + = to the character's left.
Shape legend: T frames; joints are (T, 22, 3) in SMPL-22 order (motion/skeleton.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PREDICATES",
    "Predicate",
    "airborne_frames",
    "body_frame",
    "bow_depth",
    "count_heel_raises",
    "count_jumps",
    "count_kicks",
    "count_repetitions",
    "count_squats",
    "crouch_depth",
    "displacement_direction",
    "distance_travelled",
    "find_peaks",
    "floor_height",
    "forward_directions",
    "forward_displacement",
    "hand_above_head",
    "hand_head_distance",
    "hands_together_count",
    "heading_change",
    "headings",
    "kick_side",
    "lateral_displacement",
    "lateral_lean",
    "mean_speed",
    "min_hand_height",
    "net_displacement",
    "punch_count",
    "punch_side",
    "raised_hand",
    "raised_hand_intervals",
    "score",
    "step_count",
    "torso_pitch",
    "torso_twist",
    "wave_count",
    "waving_hand",
]

# SMPL-22 joint indices (motion/skeleton.py); pairs are (left, right).
PELVIS, SPINE3, NECK, HEAD = 0, 9, 12, 15
HIPS, KNEES, ANKLES, TOES = (1, 2), (4, 5), (7, 8), (10, 11)
SHOULDERS, WRISTS = (16, 17), (20, 21)
_SIDE = {"left": 0, "right": 1}

SMOOTH_SECONDS = 0.1
"""Moving-average window applied before thresholds and derivatives: removes ~1 cm jitter, keeps 0.1 s events."""


# ---------------------------------------------------------------------------------------------------------------
# Signal helpers.
# ---------------------------------------------------------------------------------------------------------------
def _joints(joints) -> np.ndarray:
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (22, 3) or j.shape[0] < 2:
        raise ValueError(f"expected SMPL-22 joints of shape (T>=2, 22, 3), got {j.shape}")
    return j


def _smooth(x: np.ndarray, fps: float, seconds: float = SMOOTH_SECONDS) -> np.ndarray:
    """Centred moving average along axis 0 with edge padding; x is (T, ...)."""
    k = int(round(seconds * fps)) | 1  # odd window
    if k <= 1 or len(x) < 2:
        return x
    h = k // 2
    padded = np.concatenate([np.repeat(x[:1], h, 0), x, np.repeat(x[-1:], h, 0)])
    c = np.cumsum(padded, axis=0)
    c = np.concatenate([np.zeros_like(c[:1]), c])
    return (c[k:] - c[:-k]) / k


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges where a boolean (T,) mask is true."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _events(mask: np.ndarray, fps: float, min_duration: float, max_gap: float = 0.07) -> list[tuple[int, int]]:
    """Runs of a mask after closing gaps shorter than `max_gap` s and dropping runs shorter than `min_duration` s."""
    runs = _runs(mask)
    merged: list[tuple[int, int]] = []
    for s, e in runs:
        if merged and s - merged[-1][1] <= max_gap * fps:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return [(s, e) for s, e in merged if e - s >= max(1, min_duration * fps)]


def _window(fps: float, n: int, seconds: float = 0.2) -> int:
    return int(min(n, max(1, round(seconds * fps))))


def _side_list(side: str) -> list[int]:
    if side in ("either", "both"):
        return [0, 1]
    if side not in _SIDE:
        raise ValueError(f"side must be left, right, both or either, got {side!r}")
    return [_SIDE[side]]


def _side_name(found: Sequence[bool]) -> str:
    """(left found, right found) -> "left" | "right" | "both" | "none"."""
    return {(True, True): "both", (True, False): "left", (False, True): "right"}.get(tuple(found), "none")


def find_peaks(signal, fps: float, prominence: float, min_separation: float = 0.3, height: float | None = None,
               smooth: float = SMOOTH_SECONDS) -> np.ndarray:  # fmt: skip
    """Indices of peaks of a (T,) signal, after smoothing, as scipy.signal.find_peaks would select them.

    Args:
        signal: (T,) values.
        fps: frames per second of the signal.
        prominence: minimum height of a peak above the higher of the lowest points between it and the nearest
            higher sample (or the signal end) on each side.
        min_separation: seconds; of two closer peaks the lower is dropped.
        height: optional minimum peak value.
        smooth: moving-average window in seconds applied first.

    Returns:
        Sorted peak indices.
    """
    x = _smooth(np.asarray(signal, dtype=np.float64), fps, smooth)
    if len(x) < 3:
        return np.zeros(0, dtype=np.int64)
    keep = []
    for i in np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])) + 1:
        higher_left, higher_right = np.flatnonzero(x[:i] > x[i]), np.flatnonzero(x[i + 1 :] > x[i])
        lo = higher_left[-1] if len(higher_left) else 0
        hi = i + 1 + higher_right[0] if len(higher_right) else len(x) - 1
        base = max(x[lo : i + 1].min(), x[i : hi + 1].min())
        if x[i] - base >= prominence and (height is None or x[i] >= height):
            keep.append(i)
    chosen: list[int] = []
    for i in sorted(keep, key=lambda i: -x[i]):
        if all(abs(i - j) >= min_separation * fps for j in chosen):
            chosen.append(i)
    return np.array(sorted(chosen), dtype=np.int64)


def count_repetitions(signal, fps: float, prominence: float, min_separation: float = 0.3,
                      height: float | None = None) -> int:  # fmt: skip
    """Number of peaks of a (T,) signal with the given prominence and separation (see find_peaks)."""
    return len(find_peaks(signal, fps, prominence, min_separation, height))


# ---------------------------------------------------------------------------------------------------------------
# Body frame and heading.
# ---------------------------------------------------------------------------------------------------------------
def forward_directions(joints) -> np.ndarray:
    """(T, 2) unit forward directions (x, z) per frame: normalize(Y x across), across = hips + shoulders R - L."""
    j = _joints(joints)
    across = (j[:, HIPS[1]] - j[:, HIPS[0]]) + (j[:, SHOULDERS[1]] - j[:, SHOULDERS[0]])
    fwd = np.stack([across[:, 2], -across[:, 0]], axis=-1)
    return fwd / np.maximum(np.linalg.norm(fwd, axis=-1, keepdims=True), 1e-9)


def _left_of(fwd: np.ndarray) -> np.ndarray:
    """(..., 2) forward (x, z) -> left (x, z): forward turned 90 degrees about +Y."""
    return np.stack([fwd[..., 1], -fwd[..., 0]], axis=-1)


def headings(joints, fps: float) -> np.ndarray:
    """(T,) unwrapped facing angle in radians, + = turned left; from smoothed forward directions."""
    fwd = _smooth(forward_directions(joints), fps)
    return np.unwrap(np.arctan2(fwd[:, 0], fwd[:, 1]))


def body_frame(joints, fps: float) -> np.ndarray:
    """Joints moved into the frame-0 body frame: pelvis over the origin, facing +Z, left = +X.

    The frame-0 facing is averaged over the first 0.2 s so that jitter does not tilt every answer.
    """
    j = _joints(joints)
    fwd = forward_directions(j)[: _window(fps, len(j))].mean(0)
    theta = math.atan2(fwd[0], fwd[1])
    c, s = math.cos(theta), math.sin(theta)
    out = j.copy()
    x, z = j[..., 0] - j[0, PELVIS, 0], j[..., 2] - j[0, PELVIS, 2]
    out[..., 0], out[..., 2] = x * c - z * s, x * s + z * c
    return out


def heading_change(joints, fps: float) -> float:
    """Signed change of facing between the first and last 0.2 s, in degrees (+ = left turn, unwrapped)."""
    h = headings(joints, fps)
    w = _window(fps, len(h))
    return float(np.degrees(h[-w:].mean() - h[:w].mean()))


def net_displacement(joints, fps: float) -> tuple[float, float, float]:
    """Pelvis displacement from the first to the last 0.2 s in the frame-0 body frame.

    Returns:
        (dx, dz, distance): dx to the left, dz forward, distance = horizontal length, in metres.
    """
    p = body_frame(joints, fps)[:, PELVIS]
    w = _window(fps, len(p))
    dx, dz = p[-w:, 0].mean() - p[:w, 0].mean(), p[-w:, 2].mean() - p[:w, 2].mean()
    return float(dx), float(dz), float(math.hypot(dx, dz))


def forward_displacement(joints, fps: float) -> float:
    """Net pelvis displacement along the frame-0 facing, metres (negative = backward)."""
    return net_displacement(joints, fps)[1]


def lateral_displacement(joints, fps: float) -> float:
    """Net pelvis displacement to the frame-0 left, metres (negative = right)."""
    return net_displacement(joints, fps)[0]


def distance_travelled(joints, fps: float) -> float:
    """Net horizontal pelvis displacement, metres."""
    return net_displacement(joints, fps)[2]


def displacement_direction(joints, fps: float, min_distance: float = 0.3) -> str:
    """Label of the net displacement: forward, backward, left or right (90-degree sectors) or none if short."""
    dx, dz, dist = net_displacement(joints, fps)
    if dist < min_distance:
        return "none"
    angle = math.degrees(math.atan2(dx, dz))
    if abs(angle) <= 45:
        return "forward"
    if abs(angle) >= 135:
        return "backward"
    return "left" if angle > 0 else "right"


def mean_speed(joints, fps: float, window: float = 0.5) -> float:
    """Mean horizontal pelvis speed in m/s, from displacements over `window` s (robust to per-frame jitter)."""
    p = _joints(joints)[:, PELVIS][:, [0, 2]]
    k = int(min(len(p) - 1, max(1, round(window * fps))))
    return float(np.linalg.norm(p[k:] - p[:-k], axis=-1).mean() * fps / k)


# ---------------------------------------------------------------------------------------------------------------
# Ground contact: jumps and steps.
# ---------------------------------------------------------------------------------------------------------------
def floor_height(joints, fps: float) -> float:
    """Height of the ground: the lowest foot joint's 5th-percentile height over frames, after 0.3 s smoothing.

    Percentiles are taken per joint before the minimum so that jitter does not bias the floor downwards, and
    the clip need not start (or spend most of its time) on the ground.
    """
    heights = _smooth(_joints(joints)[:, ANKLES + TOES, 1], fps, 0.3)
    return float(np.percentile(heights, 5, axis=0).min())


def _foot_heights(j: np.ndarray, fps: float) -> np.ndarray:
    """(T, 2) height above the floor of each foot's lowest point (ankle or toe), from smoothed positions."""
    y = _smooth(j[:, ANKLES + TOES, 1], fps)
    return np.minimum(y[:, :2], y[:, 2:]) - floor_height(j, fps)


def airborne_frames(joints, fps: float, threshold: float = 0.06) -> np.ndarray:
    """(T,) bool: both feet more than `threshold` m above the floor."""
    j = _joints(joints)
    return (_foot_heights(j, fps) > threshold).all(axis=1)


def count_jumps(joints, fps: float, threshold: float = 0.06, min_duration: float = 0.1) -> int:
    """Number of airborne phases lasting at least `min_duration` s."""
    return len(_events(airborne_frames(joints, fps, threshold), fps, min_duration))


def _foot_swing(j: np.ndarray, fps: float, speed: float = 0.35, lift: float = 0.05) -> np.ndarray:
    """(T, 2) bool: a foot is off the ground (lifted) or sliding faster than `speed` m/s."""
    feet = _smooth((j[:, ANKLES] + j[:, TOES]) / 2, fps)[..., [0, 2]]  # (T, 2, 2) horizontal
    h = max(1, int(round(0.1 * fps)))  # central difference over 0.2 s
    vel = np.zeros(feet.shape[:2])
    vel[h:-h] = np.linalg.norm(feet[2 * h :] - feet[: -2 * h], axis=-1) * fps / (2 * h)
    return (vel > speed) | (_foot_heights(j, fps) > lift)


def step_count(joints, fps: float, min_duration: float = 0.1, support: float = 0.25) -> int:
    """Number of steps: swing phases of one foot while the other one supports the body.

    A swing counts when the other foot is on the ground for at least `support` of it, so jumps (both feet leave
    together) are not steps while running (short flight phases) still is.
    """
    j = _joints(joints)
    swing = _foot_swing(j, fps)
    n = 0
    for foot in (0, 1):
        for s, e in _events(swing[:, foot], fps, min_duration):
            n += int((~swing[s:e, 1 - foot]).mean() >= support)
    return n


# ---------------------------------------------------------------------------------------------------------------
# Posture: crouching, bending, leaning, twisting.
# ---------------------------------------------------------------------------------------------------------------
def _pelvis_height(j: np.ndarray, fps: float) -> np.ndarray:
    return _smooth(j[:, PELVIS, 1], fps) - floor_height(j, fps)


def _pelvis_drop(j: np.ndarray, fps: float) -> np.ndarray:
    """(T,) how far the pelvis is below its standing height (95th percentile over grounded frames), >= 0."""
    h = _pelvis_height(j, fps)
    grounded = _foot_heights(j, fps).min(1) < 0.02  # strict, so take-off and landing frames do not raise it
    standing = np.percentile(h[grounded] if grounded.any() else h, 95)
    return np.maximum(standing - h, 0.0)  # rising above standing (jumps, tiptoes) is not crouching


def crouch_depth(joints, fps: float) -> float:
    """Largest drop of the pelvis below its standing height, metres."""
    return float(_pelvis_drop(_joints(joints), fps).max())


def count_squats(joints, fps: float, min_depth: float = 0.15, min_separation: float = 0.5) -> int:
    """Number of dips of the pelvis at least `min_depth` m below standing height that rise again."""
    return count_repetitions(_pelvis_drop(_joints(joints), fps), fps, min_depth, min_separation)


def _torso_angles(j: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(T,) forward pitch and leftward roll of the pelvis->neck vector, degrees, in each frame's body frame."""
    torso = _smooth(j[:, NECK] - j[:, PELVIS], fps)
    fwd = _smooth(forward_directions(j), fps)
    fwd = fwd / np.maximum(np.linalg.norm(fwd, axis=-1, keepdims=True), 1e-9)
    horiz = torso[:, [0, 2]]
    pitch = np.degrees(np.arctan2((horiz * fwd).sum(-1), torso[:, 1]))
    roll = np.degrees(np.arctan2((horiz * _left_of(fwd)).sum(-1), torso[:, 1]))
    return pitch, roll


def torso_pitch(joints, fps: float) -> np.ndarray:
    """(T,) forward bend of the torso from vertical, degrees (a T-pose is about -3)."""
    return _torso_angles(_joints(joints), fps)[0]


def bow_depth(joints, fps: float) -> float:
    """Largest forward bend of the torso from vertical, degrees (0 when never bent forward)."""
    return float(max(0.0, torso_pitch(joints, fps).max()))


def lateral_lean(joints, fps: float) -> float:
    """Signed sideways bend of the torso with the largest magnitude, degrees (+ = to the left)."""
    roll = _torso_angles(_joints(joints), fps)[1]
    return float(roll[np.argmax(np.abs(roll))])


def torso_twist(joints, fps: float) -> float:
    """Largest yaw of the shoulders relative to the hips, degrees (unsigned)."""
    j = _joints(joints)
    hips = _smooth(j[:, HIPS[1]] - j[:, HIPS[0]], fps)[:, [0, 2]]
    shoulders = _smooth(j[:, SHOULDERS[1]] - j[:, SHOULDERS[0]], fps)[:, [0, 2]]
    cross = hips[:, 0] * shoulders[:, 1] - hips[:, 1] * shoulders[:, 0]
    return float(np.degrees(np.abs(np.arctan2(cross, (hips * shoulders).sum(-1)))).max())


# ---------------------------------------------------------------------------------------------------------------
# Arms and legs: raised hands, waves, punches, claps, kicks.
# ---------------------------------------------------------------------------------------------------------------
def hand_above_head(joints, fps: float, side: str = "either", margin: float = 0.0) -> np.ndarray:
    """(T,) bool: the wrist(s) of `side` ("left", "right", "both" or "either") above the head joint + margin."""
    j = _joints(joints)
    above = _smooth(j[:, WRISTS, 1] - j[:, HEAD, 1:2], fps) > margin  # (T, 2)
    cols = above[:, _side_list(side)]
    return cols.all(1) if side == "both" else cols.any(1)


def raised_hand_intervals(joints, fps: float, side: str = "either",
                          min_duration: float = 0.2) -> list[tuple[float, float]]:  # fmt: skip
    """(start, end) seconds of the spans where `side`'s hand is above the head for at least `min_duration` s."""
    mask = hand_above_head(joints, fps, side)
    return [(s / fps, e / fps) for s, e in _events(mask, fps, min_duration)]


def raised_hand(joints, fps: float, min_duration: float = 0.3) -> str:
    """Which hand is ever above the head for `min_duration` s: "left" | "right" | "both" | "none"."""
    return _side_name([bool(raised_hand_intervals(joints, fps, s, min_duration)) for s in ("left", "right")])


def _arm_in_body_frame(j: np.ndarray, fps: float, side: int) -> np.ndarray:
    """(T, 3) wrist relative to the same-side shoulder as (left, up, forward) in each frame's body frame."""
    fwd = _smooth(forward_directions(j), fps)
    rel = _smooth(j[:, WRISTS[side]] - j[:, SHOULDERS[side]], fps)
    left = (rel[:, [0, 2]] * _left_of(fwd)).sum(-1)
    forward = (rel[:, [0, 2]] * fwd).sum(-1)
    return np.stack([left, rel[:, 1], forward], axis=-1)


def wave_count(joints, fps: float, side: str = "either", min_amplitude: float = 0.05, above: float = 0.1) -> int:
    """Side-to-side swings of a wrist held `above` m over its shoulder (peaks of its sideways position).

    The margin keeps claps and punches at shoulder height from counting. Summed over the sides asked for.
    """
    j = _joints(joints)
    total = 0
    for s in _side_list(side):
        arm = _arm_in_body_frame(j, fps, s)
        for a, b in _events(arm[:, 1] > above, fps, 0.3):
            total += count_repetitions(arm[a:b, 0], fps, min_amplitude, min_separation=0.15)
    return total


def waving_hand(joints, fps: float, min_waves: int = 2) -> str:
    """Which hand waves at least `min_waves` times: "left" | "right" | "both" | "none"."""
    return _side_name([wave_count(joints, fps, s) >= min_waves for s in ("left", "right")])


def punch_count(joints, fps: float, side: str = "either", reach: float = 0.35, prominence: float = 0.15) -> int:
    """Thrusts of a wrist forward of the chest by at least `reach` m that come back, summed over sides."""
    j = _joints(joints)
    fwd = _smooth(forward_directions(j), fps)
    total = 0
    for s in _side_list(side):
        ext = (_smooth(j[:, WRISTS[s]] - j[:, SPINE3], fps)[:, [0, 2]] * fwd).sum(-1)
        total += count_repetitions(ext, fps, prominence, min_separation=0.2, height=reach)
    return total


def punch_side(joints, fps: float) -> str:
    """Which hand punches at least once: "left" | "right" | "both" | "none"."""
    return _side_name([punch_count(joints, fps, s) > 0 for s in ("left", "right")])


def hands_together_count(joints, fps: float, close: float = 0.15, apart: float = 0.25) -> int:
    """Number of times the wrists come within `close` m after having been more than `apart` m apart (claps)."""
    j = _joints(joints)
    d = _smooth(np.linalg.norm(j[:, WRISTS[0]] - j[:, WRISTS[1]], axis=-1), fps)
    count, is_open = 0, bool(d[0] > close)
    for v in d:  # hysteresis: jitter around one threshold cannot add claps
        if is_open and v < close:
            count, is_open = count + 1, False
        elif not is_open and v > apart:
            is_open = True
    return count


def min_hand_height(joints, fps: float) -> float:
    """Lowest height above the floor reached by either wrist, metres (small for toe touches and picking up)."""
    j = _joints(joints)
    return float(_smooth(j[:, WRISTS, 1], fps).min() - floor_height(j, fps))


def hand_head_distance(joints, fps: float, side: str = "either") -> float:
    """Closest approach of the wrist(s) of `side` to the head joint, metres (salutes, head scratches)."""
    j = _joints(joints)
    d = np.linalg.norm(_smooth(j[:, WRISTS] - j[:, HEAD : HEAD + 1], fps), axis=-1)  # (T, 2)
    return float(d[:, _side_list(side)].min())


def count_heel_raises(joints, fps: float, min_rise: float = 0.03, toe_contact: float = 0.03) -> int:
    """Rises of both ankles by `min_rise` m while both toes stay on the floor, and back down (calf raises)."""
    j = _joints(joints)
    y = _smooth(j[:, ANKLES + TOES, 1], fps) - floor_height(j, fps)  # (T, 4): ankles then toes
    ankles = y[:, :2].mean(1)
    rise = np.where((y[:, 2:] < toe_contact).all(1), ankles - np.percentile(ankles, 5), 0.0)
    return count_repetitions(rise, fps, min_rise, min_separation=0.4)


def count_kicks(joints, fps: float, side: str = "either", margin: float = 0.1, min_duration: float = 0.1) -> int:
    """Times an ankle rises `margin` m above the other leg's knee, summed over sides."""
    j = _joints(joints)
    total = 0
    for s in _side_list(side):
        high = _smooth(j[:, ANKLES[s], 1] - j[:, KNEES[1 - s], 1], fps) > margin
        total += len(_events(high, fps, min_duration))
    return total


def kick_side(joints, fps: float) -> str:
    """Which foot kicks above the other knee: "left" | "right" | "both" | "none"."""
    return _side_name([count_kicks(joints, fps, s) > 0 for s in ("left", "right")])


# ---------------------------------------------------------------------------------------------------------------
# Predicates: expected values checked against measured ones.
# ---------------------------------------------------------------------------------------------------------------
PREDICATES: dict[str, Callable[..., object]] = {
    f.__name__: f
    for f in (
        forward_displacement, lateral_displacement, distance_travelled, displacement_direction, heading_change,
        mean_speed, count_jumps, step_count, crouch_depth, count_squats, bow_depth, lateral_lean, torso_twist,
        raised_hand, wave_count, waving_hand, punch_count, punch_side, hands_together_count, min_hand_height,
        hand_head_distance, count_heel_raises, count_kicks, kick_side,
    )
}  # fmt: skip
"""Measures usable by name in a Predicate: each is fn(joints, fps, **args) -> a number or a label."""


@dataclass(frozen=True)
class Predicate:
    """An expected fact about a motion: a named measure, its arguments and the value or range it should give.

    Examples: Predicate("count_jumps", expected=2), Predicate("heading_change", expected=(60, 120)),
    Predicate("count_kicks", args={"side": "left"}, expected=(1, None)), Predicate("kick_side", expected="left").
    """

    name: str
    """A key of PREDICATES."""
    args: tuple[tuple[str, object], ...] = ()
    """Keyword arguments of the measure, as (name, value) pairs (a dict is accepted and converted)."""
    expected: object = None
    """A label, a number, a (low, high) range (None for an open end) or a frozenset of accepted labels."""
    tolerance: float = 0.0
    """Slack added around a numeric value or range."""

    def __post_init__(self) -> None:
        if self.name not in PREDICATES:
            raise KeyError(f"unknown predicate {self.name!r}; known: {', '.join(sorted(PREDICATES))}")
        if isinstance(self.args, dict):
            object.__setattr__(self, "args", tuple(sorted(self.args.items())))

    def measure(self, joints, fps: float):
        """The measured value of this predicate's quantity on a motion."""
        return PREDICATES[self.name](joints, fps, **dict(self.args))

    def check(self, joints, fps: float) -> bool:
        """Whether the motion satisfies the expectation."""
        value, exp, tol = self.measure(joints, fps), self.expected, self.tolerance
        if isinstance(exp, tuple):
            lo, hi = exp
            return (lo is None or value >= lo - tol) and (hi is None or value <= hi + tol)
        if isinstance(exp, frozenset):
            return value in exp
        if isinstance(exp, str) or isinstance(value, str):
            return value == exp
        return abs(value - exp) <= tol


def score(predicates: Sequence[Predicate], joints, fps: float) -> float:
    """Fraction of `predicates` the motion satisfies; NaN for an empty list (nothing was claimed)."""
    if not predicates:
        return float("nan")
    return sum(p.check(joints, fps) for p in predicates) / len(predicates)
