"""From MediaPipe's 33 world landmarks to SMPL-22 joints in metres, with one set of bone lengths per track.

MediaPipe's skeleton is not SMPL's: its hips sit wider and lower, its shoulders at the outside of the arm, it has
no spine joints and its "foot index" is the tip of the toes. Two mappings, both keeping MediaPipe's axes (x right,
y down, z away from the camera):

* `landmarks_to_joints`, geometric: each SMPL joint is a fixed combination of landmarks and of the trunk's up
  axis, in proportions of the SMPL rest pose;
* `LandmarkRegressor`, learned: in the body's own frame (origin between the hips, x from the right hip to the left,
  y up the trunk), the 66 joint coordinates are a linear function of the 99 landmark coordinates, fitted by ridge
  regression on pairs of rendered poses and MediaPipe's landmarks of the renders (video/closed_loop.py; the
  shipped one records its clips, split and ridge strength). Working in the body frame makes it independent of the
  camera's view.

Then, per track:

1. temporal smoothing: a centred Gaussian over `smooth_s` seconds, which removes the frame-to-frame tremor of the
   landmark model without delaying the motion;
2. bone lengths: every bone is set to its median length over the track, walking the tree from the pelvis out, so
   the body cannot stretch from frame to frame (the directions of the bones are kept).

Shape legend: T frames, L landmarks (33), J joints (22).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionmill.motion.signal import smooth
from motionmill.motion.skeleton import SMPL22

__all__ = ["LandmarkRegressor", "body_frame", "fix_bone_lengths", "landmarks_to_joints", "lift_track", "smooth"]

DEFAULT_REGRESSOR = Path(__file__).resolve().parent.parent / "assets" / "landmark_regressor"
"""The shipped regressor (fitted by `motionmill video fit-lifter`, recorded in its info.json)."""

# MediaPipe landmark indices
_NOSE, _EAR = 0, (7, 8)
_SHOULDER, _ELBOW, _WRIST = (11, 12), (13, 14), (15, 16)
_HIP, _KNEE, _ANKLE, _HEEL, _TOES = (23, 24), (25, 26), (27, 28), (29, 30), (31, 32)

# SMPL rest proportions (motion/skeleton.py): heights along the trunk from the hips' line to the shoulders' line
_PELVIS_UP = 0.09
_SPINE_FRACTIONS = (0.231, 0.499, 0.604)  # Spine1..3 between the pelvis and the neck
_NECK_UP = 0.052
_HIP_INSET = 0.70  # SMPL hip joints lie this fraction of the way from the hips' midpoint to MediaPipe's hips
_SHOULDER_INSET = 0.85
_COLLAR_FRACTION, _COLLAR_DOWN = 0.48, 0.048
_FOOT_FRACTION = 0.6  # SMPL's foot joint (the ball of the foot) between MediaPipe's heel and toe tip


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def landmarks_to_joints(world: np.ndarray) -> np.ndarray:
    """(..., L, 3) MediaPipe world landmarks -> (..., J, 3) SMPL-22 joints, in the same axes."""
    p = np.asarray(world, dtype=np.float64)
    hips_mid = 0.5 * (p[..., _HIP[0], :] + p[..., _HIP[1], :])
    shoulders_mid = 0.5 * (p[..., _SHOULDER[0], :] + p[..., _SHOULDER[1], :])
    up = _unit(shoulders_mid - hips_mid)
    j = np.zeros(p.shape[:-2] + (22, 3))
    for side, (hip, knee, ankle) in enumerate(((1, 4, 7), (2, 5, 8))):
        j[..., hip, :] = hips_mid + _HIP_INSET * (p[..., _HIP[side], :] - hips_mid)
        j[..., knee, :] = p[..., _KNEE[side], :]
        j[..., ankle, :] = p[..., _ANKLE[side], :]
        heel, toes = p[..., _HEEL[side], :], p[..., _TOES[side], :]
        j[..., 10 + side, :] = heel + _FOOT_FRACTION * (toes - heel)
    j[..., 0, :] = hips_mid + _PELVIS_UP * up
    neck = shoulders_mid + _NECK_UP * up
    for joint, fraction in zip((3, 6, 9), _SPINE_FRACTIONS, strict=True):
        j[..., joint, :] = j[..., 0, :] + fraction * (neck - j[..., 0, :])
    j[..., 12, :] = neck
    j[..., 15, :] = 0.5 * (p[..., _EAR[0], :] + p[..., _EAR[1], :])
    for side, (collar, shoulder, elbow, wrist) in enumerate(((13, 16, 18, 20), (14, 17, 19, 21))):
        mp_shoulder = p[..., _SHOULDER[side], :]
        j[..., shoulder, :] = shoulders_mid + _SHOULDER_INSET * (mp_shoulder - shoulders_mid)
        j[..., collar, :] = neck + _COLLAR_FRACTION * (j[..., shoulder, :] - neck) - _COLLAR_DOWN * up
        j[..., elbow, :] = p[..., _ELBOW[side], :]
        j[..., wrist, :] = p[..., _WRIST[side], :]
    return j


def body_frame(left_hip, right_hip, left_shoulder, right_shoulder) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) points -> origin (..., 3) and rotation (..., 3, 3) whose rows are the body's x (right hip to left),
    y (hips to shoulders, made perpendicular to x) and z = x cross y axes, in the points' axes."""
    origin = 0.5 * (left_hip + right_hip)
    x = _unit(left_hip - right_hip)
    y = 0.5 * (left_shoulder + right_shoulder) - origin
    y = _unit(y - x * (x * y).sum(-1, keepdims=True))
    return origin, np.stack([x, y, np.cross(x, y)], axis=-2)


def _to_body(points: np.ndarray, hips: tuple[int, int], shoulders: tuple[int, int]) -> tuple:
    origin, rotation = body_frame(points[..., hips[0], :], points[..., hips[1], :], points[..., shoulders[0], :],
                                  points[..., shoulders[1], :])  # fmt: skip
    local = np.einsum("...lk,...jk->...lj", points - origin[..., None, :], rotation)
    return local, origin, rotation


@dataclass(frozen=True)
class LandmarkRegressor:
    """Landmarks -> joints by a linear map in the body frame (see the module docstring)."""

    weights: np.ndarray
    """(33 * 3 + 1, 22 * 3): body-frame landmark coordinates and a constant -> body-frame joint coordinates."""
    info: dict
    """Provenance: the clips and views it was fitted on, the ridge strength, the errors measured."""

    def __call__(self, world: np.ndarray) -> np.ndarray:
        """(..., L, 3) landmarks -> (..., J, 3) joints in the same axes, their hips' midpoint on the landmarks'."""
        local, origin, rotation = _to_body(np.asarray(world, dtype=np.float64), _HIP, _SHOULDER)
        flat = local.reshape(local.shape[:-2] + (-1,))
        joints = np.concatenate([flat, np.ones(flat.shape[:-1] + (1,))], axis=-1) @ self.weights
        joints = joints.reshape(joints.shape[:-1] + (22, 3))
        return origin[..., None, :] + joints @ rotation  # back from the body frame: rows of rotation are its axes

    @classmethod
    def fit(cls, world: np.ndarray, joints: np.ndarray, ridge: float, info: dict | None = None) -> LandmarkRegressor:
        """Fit on (N, L, 3) landmarks and the (N, J, 3) joints they were seen on (any proper frame each)."""
        x = _to_body(np.asarray(world, dtype=np.float64), _HIP, _SHOULDER)[0].reshape(len(world), -1)
        y = _to_body(np.asarray(joints, dtype=np.float64), (1, 2), (16, 17))[0].reshape(len(joints), -1)
        x = np.concatenate([x, np.ones((len(x), 1))], axis=1)
        penalty = ridge * np.eye(x.shape[1])
        penalty[-1, -1] = 0.0  # the constant is not shrunk
        weights = np.linalg.solve(x.T @ x + penalty, x.T @ y)
        return cls(weights, {"ridge": ridge, "pairs": len(x), **(info or {})})

    def save(self, folder: str | Path) -> Path:
        """A safetensors folder: weights.safetensors and info.json, written atomically."""
        from safetensors.numpy import save_file

        from motionmill.utils.io import atomic_folder

        with atomic_folder(folder) as tmp:
            save_file({"weights": self.weights.astype(np.float32)}, str(tmp / "weights.safetensors"))
            os.chmod(tmp / "weights.safetensors", 0o644)  # package data: readable by every user
            (tmp / "info.json").write_text(json.dumps(self.info, indent=1) + "\n")
        return Path(folder)

    @classmethod
    def load(cls, folder: str | Path = DEFAULT_REGRESSOR) -> LandmarkRegressor:
        from safetensors.numpy import load_file

        folder = Path(folder)
        weights = load_file(str(folder / "weights.safetensors"))["weights"].astype(np.float64)
        return cls(weights, json.loads((folder / "info.json").read_text()))


def fix_bone_lengths(joints: np.ndarray, parents: tuple[int, ...] = SMPL22.parents) -> np.ndarray:
    """(T, J, 3) -> the same bone directions, every bone at its median length over T, rebuilt from the root."""
    joints = np.asarray(joints, dtype=np.float64)
    out = joints.copy()
    for j, parent in enumerate(parents):
        if parent < 0:
            continue
        bone = joints[:, j] - joints[:, parent]
        length = np.median(np.linalg.norm(bone, axis=-1))
        out[:, j] = out[:, parent] + length * _unit(bone)
    return out


def lift_track(world: np.ndarray, fps: float, smooth_s: float = 0.05, regressor=None) -> np.ndarray:
    """(T, L, 3) world landmarks of one track -> (T, J, 3) SMPL-22 joints around the hips, smoothed, rigid bones.

    `regressor`: a LandmarkRegressor, or None for the geometric mapping.
    """
    lift = landmarks_to_joints if regressor is None else regressor
    return fix_bone_lengths(lift(smooth(world, smooth_s * fps)))
