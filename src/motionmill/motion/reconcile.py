"""Reconciliation: one rigid motion from the three parts of generated 272 features.

A generator predicts the position block, the rotation block and the root path of the 272 features independently,
so on generated features they disagree: the positions stretch bones (tens of centimetres within one clip on the
built-in model) and the rotations, put on a rigid skeleton, give another performance. Every writer reads a
different part (`.joints.npy`, GIF and HTML the positions; BVH, SMPL and glTF the rotations), so the files of one
motion would show different motions. `reconcile` turns the features into ONE motion on ONE skeleton with fixed bone
lengths and re-encodes it, so features, joints, rotations, SMPL and every file agree.

Methods (docs/representation.md, "Reconciliation", gives the measured choice):

- `"fk"`: forward kinematics of the predicted rotations from the predicted pelvis path;
- `"ik"`: the predicted positions' bone directions (`motion.ik.inverse_kinematics`) put on the fixed bones, then FK.
  The positions carry no twist about a bone and no rotation of a leaf joint (toes, head, wrists); those come from
  the predicted rotations: each joint with one child keeps the twist about its bone of its predicted global
  rotation (swing-twist split), and leaves keep their predicted local rotations, which moves no joint;
- `"fit"`: a short joint fit of both: rotations starting at the `"ik"` ones, moved by gradient steps to bring FK
  close to the predicted positions while staying close to the predicted rotations, with a smoothness term on the
  joints' acceleration.

Bone lengths (`bones`): `"mean"`, the motion's own mean bone lengths over its predicted positions, along the
skeleton's rest directions (`motion.ik.fitted_offsets`, as the BVH export does); or `"rest"` (the default), the
skeleton's rest offsets, so that the SMPL export read with a default body (`Motion.from_smpl`) is the same motion.

Every method first smooths the predicted positions (hence the pelvis path) over time by a zero-phase Gaussian of
`smooth_frames` frames (`DEFAULT_SMOOTH`): unsmoothed, the fixed bones turn the frame-to-frame wobble of the predicted
bone directions into more jerk than the decoded motion has.

Shape legend: T frames, J joints (22).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from motionmill.motion.container import Motion
from motionmill.motion.ik import fitted_offsets, inverse_kinematics
from motionmill.motion.physics import bone_length_drift
from motionmill.motion.rotations import matrix_to_6d, matrix_to_quat, quat_to_matrix, sixd_to_matrix
from motionmill.motion.signal import smooth
from motionmill.motion.skeleton import forward_kinematics

__all__ = [
    "BONES",
    "DEFAULT_BONES",
    "DEFAULT_METHOD",
    "DEFAULT_SMOOTH",
    "METHODS",
    "FitSettings",
    "ReconcileReport",
    "align_y",
    "reconcile",
    "reconcile_report",
    "rigidity_report",
]

METHODS = ("fk", "ik", "fit")
BONES = ("mean", "rest")
DEFAULT_METHOD = "ik"
DEFAULT_BONES = "rest"
DEFAULT_SMOOTH = 0.5
"""Sigma (frames) of the smoothing of the predicted positions: the smallest of 0.25, 0.4, 0.5, 0.6, 0.75, 1.0 whose
mean and peak jerk on 100 val-split motions of the built-in model are at least 10% below the raw decoded ones
(docs/representation.md, "Reconciliation")."""


@dataclass(frozen=True)
class FitSettings:
    """Weights of the `"fit"` method's objective (positions in metres, rotations as 6D, accelerations in metres per
    frame^2) and its gradient steps."""

    rotation_weight: float = 0.05
    """Weight of the squared 6D distance to the predicted rotations (keeps the twists the positions do not show)."""
    smooth_weight: float = 1.0
    """Weight of the squared second difference of the fitted joints over time."""
    steps: int = 40
    """Adam steps."""
    lr: float = 0.02
    """Adam learning rate on the 6D parameters."""


@dataclass(frozen=True)
class ReconcileReport:
    """How far the raw decoded features were from one rigid motion, and how far the reconciled motion is from them."""

    method: str
    bone_drift_before_m: float
    """Largest change of a bone length over the clip in the raw decoded joints (the position block)."""
    bone_drift_after_m: float
    """The same in the reconciled joints."""
    mean_distance_m: float
    """Mean distance of the reconciled joints to the raw decoded joints, root-relative per frame."""
    max_distance_m: float
    """Largest such distance."""

    def to_dict(self) -> dict:
        return asdict(self)


def reconcile(motion: Motion, method: str = DEFAULT_METHOD, bones: str = DEFAULT_BONES,
              fit: FitSettings | None = None, smooth_frames: float = DEFAULT_SMOOTH) -> Motion:  # fmt: skip
    """One rigid motion from `motion`'s features, re-encoded as 272 features; `meta["reconciled"]` names the method.

    Args:
        motion: decoded (generated) motion.
        method: "fk", "ik" or "fit" (module docstring).
        bones: "mean" (the motion's mean bone lengths) or "rest" (the skeleton's rest offsets).
        fit: objective of the "fit" method (default `FitSettings()`).
        smooth_frames: sigma (frames) of a zero-phase Gaussian applied over time to the predicted positions before
            they are used (`motion.signal.smooth`); 0 uses them as they are.
    """
    if method not in METHODS:
        raise ValueError(f"reconciliation method must be one of {METHODS}, got {method!r}")
    if bones not in BONES:
        raise ValueError(f"bones must be one of {BONES}, got {bones!r}")
    skeleton = motion.skeleton
    joints = smooth(np.array(motion.joints(), np.float64), smooth_frames)
    root = joints[:, 0]  # the predicted pelvis: its height and its path on the floor
    offsets = fitted_offsets(joints, skeleton) if bones == "mean" else np.asarray(skeleton.offsets, np.float64)
    if method == "fk":
        rotations = np.array(motion.rotations(), np.float64)
    else:
        predicted = np.array(motion.rotations(), np.float64)
        rotations = _with_twists(inverse_kinematics(joints, skeleton), predicted, skeleton)
        if method == "fit":
            rotations = _fit(rotations, predicted, joints, offsets, skeleton.parents, fit or FitSettings())
    rigid = _fk(rotations, root, offsets, skeleton.parents)
    meta = {k: v for k, v in motion.meta.items() if k != "rotations"}  # where rotations came from: now `reconciled`
    meta["reconciled"] = method
    return Motion.from_rotations(rotations, rigid, motion.fps, skeleton=skeleton, meta=meta)


def reconcile_report(raw: Motion, reconciled: Motion) -> ReconcileReport:
    """Bone drift before and after, and the distance of the reconciled joints to the raw decoded ones, after the
    turn about Y and shift that bring them closest (`align_y`): re-encoding puts a motion's start in the canonical
    frame, which moves the whole motion rigidly, and that move does not count."""
    parents = raw.skeleton.parents
    before = np.asarray(raw.joints(), np.float64)
    after = align_y(np.asarray(reconciled.joints(), np.float64), before)
    dist = np.linalg.norm(after - before, axis=-1)
    drift_before, drift_after = bone_length_drift(before, parents).max(), bone_length_drift(after, parents).max()
    return ReconcileReport(str(reconciled.meta.get("reconciled", "")), float(drift_before), float(drift_after),
                           float(dist.mean()), float(dist.max()))  # fmt: skip


def rigidity_report(motion: Motion) -> dict[str, float]:
    """How far `motion` is from one rigid body shown the same way by every output, in millimetres.

    - `bone_drift_mm`: the largest change of one bone's length over the clip in its joints (`.joints.npy`, GIF, HTML);
    - `output_agreement_mm`: the largest distance between those joints and the same joint, same frame, of the
      outputs made from the rotations: the BVH and GLB (FK on the motion's mean bone lengths, `bone_offsets`) and
      the SMPL export (FK on the skeleton's rest offsets).

    A reconciled motion scores below 1 mm on both; raw decoded features score centimetres (docs/representation.md,
    "Reconciliation").
    """
    joints = np.asarray(motion.joints(), np.float64)
    parents = motion.skeleton.parents
    rotations, root = np.array(motion.rotations(), np.float64), np.array(motion.root_positions(), np.float64)
    worst = 0.0
    for offsets in (motion.bone_offsets(), motion.skeleton.offsets):
        shown = _fk(rotations, root, np.asarray(offsets, np.float64), parents)
        worst = max(worst, float(np.linalg.norm(shown - joints, axis=-1).max()))
    return {"bone_drift_mm": 1000.0 * float(bone_length_drift(joints, parents).max()),
            "output_agreement_mm": 1000.0 * worst}  # fmt: skip


def align_y(joints: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(T, J, 3) `joints` turned about Y and shifted to be closest (least squares) to `target` (T, J, 3)."""
    a, b = joints.reshape(-1, 3), target.reshape(-1, 3)
    ca, cb = a.mean(0), b.mean(0)
    a0, b0 = a - ca, b - cb
    # the angle of the best turn about Y: atan2 of the summed cross and dot products in the XZ plane
    angle = np.arctan2(
        (a0[:, 2] * b0[:, 0] - a0[:, 0] * b0[:, 2]).sum(), (a0[:, 0] * b0[:, 0] + a0[:, 2] * b0[:, 2]).sum()
    )
    c, s = np.cos(angle), np.sin(angle)
    turn = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return ((a0 @ turn.T) + cb).reshape(joints.shape)


def _with_twists(ik: np.ndarray, predicted: np.ndarray, skeleton) -> np.ndarray:
    """IK rotations with each one-child joint's twist about its bone, and each leaf's local rotation, taken from the
    predicted rotations; the bone directions, hence the joints, stay those of the IK."""
    parents, kids = skeleton.parents, skeleton.children
    zero = torch.zeros(ik.shape[0], 3, dtype=torch.float64)
    _, g_ik = forward_kinematics(torch.from_numpy(ik), zero, torch.from_numpy(skeleton.offsets.copy()), parents)
    _, g_pred = forward_kinematics(
        torch.from_numpy(predicted), zero, torch.from_numpy(skeleton.offsets.copy()), parents
    )
    g_ik, g_pred = g_ik.numpy(), g_pred.numpy()
    one = [j for j in range(skeleton.num_joints) if len(kids[j]) == 1]
    axes = np.asarray(skeleton.offsets)[[kids[j][0] for j in one]]
    axes = axes / np.linalg.norm(axes, axis=-1, keepdims=True)  # (S, 3) rest bone directions in the joint's frame
    q = matrix_to_quat(np.swapaxes(g_ik[:, one], -1, -2) @ g_pred[:, one])  # (T, S, 4) w, x, y, z
    twist = np.concatenate((q[..., :1], (q[..., 1:] * axes).sum(-1, keepdims=True) * axes), axis=-1)
    norm = np.linalg.norm(twist, axis=-1, keepdims=True)
    twist = np.where(norm > 1e-9, twist / np.maximum(norm, 1e-12), np.array([1.0, 0.0, 0.0, 0.0]))
    glob = g_ik.copy()
    glob[:, one] = g_ik[:, one] @ quat_to_matrix(twist)
    local = ik.copy()
    for j in range(1, skeleton.num_joints):  # parents before children
        if not kids[j]:
            glob[:, j] = glob[:, parents[j]] @ predicted[:, j]
        local[:, j] = np.swapaxes(glob[:, parents[j]], -1, -2) @ glob[:, j]
    local[:, 0] = glob[:, 0]
    return local


def _fk(rotations: np.ndarray, root: np.ndarray, offsets: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    pos, _ = forward_kinematics(torch.from_numpy(np.asarray(rotations, np.float64)), torch.from_numpy(root),
                                torch.from_numpy(np.asarray(offsets, np.float64)), parents)  # fmt: skip
    return pos.numpy()


def _fit(rotations: np.ndarray, predicted: np.ndarray, joints: np.ndarray, offsets: np.ndarray,
         parents: tuple[int, ...], cfg: FitSettings) -> np.ndarray:  # fmt: skip
    """Rotations, from `rotations`, whose FK on `offsets` from the predicted pelvis path comes close to the
    predicted joints (objective: `FitSettings`)."""
    with torch.enable_grad():
        target = torch.from_numpy(joints)
        root = target[:, 0]
        offs = torch.from_numpy(np.asarray(offsets, np.float64))
        start = matrix_to_6d(torch.from_numpy(predicted))  # (T, J, 6)
        x = matrix_to_6d(torch.from_numpy(rotations)).requires_grad_(True)
        opt = torch.optim.Adam([x], lr=cfg.lr)
        for _ in range(cfg.steps):
            opt.zero_grad()
            pos, _ = forward_kinematics(sixd_to_matrix(x), root, offs, parents)
            loss = ((pos - target) ** 2).sum(-1).mean() + cfg.rotation_weight * ((x - start) ** 2).sum(-1).mean()
            if pos.shape[0] > 2:
                loss = loss + cfg.smooth_weight * ((pos[2:] - 2 * pos[1:-1] + pos[:-2]) ** 2).sum(-1).mean()
            loss.backward()
            opt.step()
        return sixd_to_matrix(x.detach()).numpy()
