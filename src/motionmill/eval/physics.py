"""Physical plausibility of joint motion: foot skating, ground penetration and floating, sliding, jitter, bones.

Definitions follow spec/evaluation.md ("Physical plausibility"): y is up, metres, the feet are joints 10 and 11
(SMPL L_Foot / R_Foot), contact means lower than 5 cm. Foot skating is the GMD definition (Karunratanakul et al.,
"Guided Motion Diffusion", ICCV 2023). Every function is pure numpy over one motion.

Shape legend: T frames, J joints.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bone_length_drift", "floating", "foot_skating_ratio", "foot_sliding", "jitter", "penetration"]

FEET = (10, 11)
CONTACT_HEIGHT = 0.05  # metres: a foot below this is in contact (GMD)
SKATE_SPEED = 0.5  # metres / second
GROUND_TOLERANCE = 0.005  # metres: the 5 mm band around the floor


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0, with the window shrunk at the ends."""
    kernel = np.ones(width)
    num = np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, x)
    den = np.convolve(np.ones(len(x)), kernel, mode="same")
    return num / den.reshape((-1,) + (1,) * (x.ndim - 1))


def foot_skating_ratio(joints: np.ndarray, fps: float, feet: tuple[int, ...] = FEET) -> float:
    """Fraction of frame pairs in which either foot skates (GMD).

    A foot is in contact over a pair (t, t+1) when its height is below 5 cm in both frames; it skates when in
    contact and both its horizontal speed and its 5-frame moving-average speed exceed 0.5 m/s.

    Args:
        joints: (T, J, 3) positions in metres, y up.
        fps: frames per second.
        feet: the foot joint indices.

    Returns:
        The ratio in [0, 1] (0 for fewer than two frames).
    """
    f = np.asarray(joints, dtype=np.float64)[:, list(feet)]  # (T, F, 3)
    if len(f) < 2:
        return 0.0
    contact = (f[:-1, :, 1] < CONTACT_HEIGHT) & (f[1:, :, 1] < CONTACT_HEIGHT)  # (T-1, F)
    speed = np.linalg.norm(f[1:, :, [0, 2]] - f[:-1, :, [0, 2]], axis=-1) * fps  # (T-1, F)
    smooth = _moving_average(speed, 5)
    skate = contact & (speed > SKATE_SPEED) & (smooth > SKATE_SPEED)
    return float(skate.any(axis=1).mean())


def penetration(joints: np.ndarray) -> float:
    """Mean over frames of max(0, -(min_j y + 5 mm)), in millimetres."""
    low = np.asarray(joints, dtype=np.float64)[..., 1].min(axis=-1)  # (T,)
    return float(np.maximum(0.0, -(low + GROUND_TOLERANCE)).mean() * 1000)


def floating(joints: np.ndarray) -> float:
    """Mean over frames of max(0, min_j y - 5 mm), in millimetres."""
    low = np.asarray(joints, dtype=np.float64)[..., 1].min(axis=-1)  # (T,)
    return float(np.maximum(0.0, low - GROUND_TOLERANCE).mean() * 1000)


def foot_sliding(joints: np.ndarray) -> float:
    """Mean horizontal displacement (mm per frame) of the lowest joint over pairs where it is within 5 mm of the floor.

    The lowest joint is chosen at the first frame of each pair. Returns 0 when no pair touches the floor.
    """
    j = np.asarray(joints, dtype=np.float64)
    if len(j) < 2:
        return 0.0
    low = j[:-1, :, 1].argmin(axis=1)  # (T-1,)
    t = np.arange(len(j) - 1)
    a, b = j[t, low], j[t + 1, low]  # (T-1, 3)
    near = (np.abs(a[:, 1]) < GROUND_TOLERANCE) & (np.abs(b[:, 1]) < GROUND_TOLERANCE)
    if not near.any():
        return 0.0
    return float(np.linalg.norm((b - a)[near][:, [0, 2]], axis=-1).mean() * 1000)


def jitter(joints: np.ndarray) -> float:
    """Mean norm of the second difference |x[t+1] - 2x[t] + x[t-1]| over joints and frames (metres per frame^2)."""
    j = np.asarray(joints, dtype=np.float64)
    if len(j) < 3:
        return 0.0
    return float(np.linalg.norm(j[2:] - 2 * j[1:-1] + j[:-2], axis=-1).mean())


def bone_length_drift(joints: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    """(J,) max minus min over time of each bone's length (0 for the root), in metres."""
    j = np.asarray(joints, dtype=np.float64)
    lengths = np.linalg.norm(j[:, 1:] - j[:, list(parents[1:])], axis=-1)  # (T, J-1)
    return np.concatenate(([0.0], lengths.max(axis=0) - lengths.min(axis=0)))
