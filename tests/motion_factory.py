"""Random but well-formed motions for tests: FK on the SMPL-22 rest skeleton from seeded random rotations."""

from __future__ import annotations

import numpy as np
import torch

from motionmill.motion.rotations import axis_angle_to_matrix, ry
from motionmill.motion.skeleton import SMPL22, forward_kinematics


def random_motion(seed: int, frames: int = 40, turns: float = 1.0, backwards: bool = False, scale: float = 1.0):
    """(rotations (T, 22, 3, 3), joints (T, 22, 3)) float64, smooth in time, with a heading that turns `turns`
    full circles, a root that travels (backwards relative to the heading if asked) and random limb poses."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, frames)[:, None]
    # smooth random joint angles: a random pose plus a random sinusoid per joint
    base = rng.normal(0, 0.35, (1, 22, 3))
    amp = rng.normal(0, 0.3, (1, 22, 3))
    phase = rng.uniform(0, 2 * np.pi, (1, 22, 3))
    aa = base + amp * np.sin(2 * np.pi * t[..., None] * rng.uniform(0.5, 2) + phase)
    rotations = axis_angle_to_matrix(aa)
    yaw = rng.uniform(-np.pi, np.pi) + 2 * np.pi * turns * t[:, 0]
    rotations[:, 0] = ry(yaw) @ rotations[:, 0]
    speed = rng.uniform(0.5, 2.0) * (-1 if backwards else 1)
    forward = np.stack((np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)), -1)
    root = np.cumsum(forward * speed / 30.0, axis=0) + np.array([rng.uniform(-5, 5), 0.9, rng.uniform(-5, 5)])
    root[:, 1] += 0.05 * np.sin(6 * np.pi * t[:, 0])
    offsets = SMPL22.offsets * scale
    joints, _ = forward_kinematics(torch.from_numpy(rotations), torch.from_numpy(root), torch.from_numpy(offsets),
                                   SMPL22.parents)  # fmt: skip
    return rotations, joints.numpy()


def facing_aligned(joints: np.ndarray) -> np.ndarray:
    """(T, 22, 3) joints turned about Y so that frame 0 faces +Z (the hips and shoulders rule of the 272
    canonicalisation), relative to the pelvis per frame: what an import keeps of a motion whatever its placement."""
    across = joints[0, 2] - joints[0, 1] + joints[0, 17] - joints[0, 16]
    forward = np.cross([0.0, 1.0, 0.0], across)
    a = -np.arctan2(forward[0], forward[2])
    turned = joints @ np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]).T
    return turned - turned[:, :1]
