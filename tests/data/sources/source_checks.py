"""Shared checks for the source-reader tests: rigid alignment of joint sets and broken-file writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionmill.motion.skeleton import SMPL22


def rigid_residual(a: np.ndarray, b: np.ndarray) -> float:
    """Largest point distance (metres) between joint sets a and b (T, J, 3) after the best rigid motion of b onto
    a (Kabsch over all frames at once), so canonicalisation (a turn about Y and a shift) is factored out but any
    change of shape or trajectory is not."""
    p, q = a.reshape(-1, 3), b.reshape(-1, 3)
    pc, qc = p - p.mean(0), q - q.mean(0)
    u, _, vt = np.linalg.svd(qc.T @ pc)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, 1.0, d]) @ vt
    return float(np.linalg.norm(qc @ rot - pc, axis=1).max())


def mirror_joints(joints: np.ndarray) -> np.ndarray:
    """HumanML3D-style mirror of (T, 22, 3) joints: swap left/right joints and negate x."""
    return joints[:, list(SMPL22.mirror_index)] * np.array([-1.0, 1.0, 1.0])


def write_truncated_npy(path: Path, array: np.ndarray) -> None:
    """An .npy file cut in the middle of its data, as left by an interrupted download."""
    np.save(path, array)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
