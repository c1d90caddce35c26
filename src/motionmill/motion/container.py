"""`Motion`: one clip as de-normalised 272 features at a frame rate, with every view a user needs.

Features are the single source of truth; joints, rotations, SMPL parameters and HumanML3D-263 are derived on
demand. Decoded joints, rotations and root positions are cached, since every writer and measure reads them: writing
a motion to six files decodes it once. The features and the cached views are read-only arrays, and assigning new
features clears the cache, so the views are never stale. Edits (resample, mirror, crop, concatenate) return new
motions. Operations that change time go through rotations + joints and re-encode, so the result is again canonical
272 data.

Shape legend: T frames, J joints (22), F features (272).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from motionmill.motion import features272 as f272
from motionmill.motion.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quat,
    quat_slerp,
    quat_to_matrix,
    ry,
)
from motionmill.motion.skeleton import SMPL22, SkeletonSpec, forward_kinematics

__all__ = ["Motion"]

# Mirror of a rotation R is M R M with M = diag(-1, 1, 1); on rows-6D this flips these signs.
_MIRROR_6D = np.array([1, -1, -1, -1, 1, 1], dtype=np.float64)


@dataclass
class Motion:
    """A motion clip in the 272 representation (de-normalised), at `fps` frames per second."""

    features: np.ndarray
    """(T, 272) float32 features."""
    fps: float = 30.0
    """Frame rate in Hz."""
    skeleton: SkeletonSpec = SMPL22
    """Skeleton whose rest pose is used for FK-based views (SMPL, BVH)."""
    meta: dict = field(default_factory=dict)
    """Free-form provenance, e.g. {"rotations": "ik"} when rotations came from inverse kinematics."""

    def __post_init__(self) -> None:
        f272.validate_features(self.features)
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps}")

    def __setattr__(self, name: str, value) -> None:
        if name == "features":  # our own read-only float32 copy, and no views decoded from other features
            value = np.array(value, dtype=np.float32)
            value.setflags(write=False)
            object.__setattr__(self, "_views", {})
        object.__setattr__(self, name, value)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_views"}  # cheaper to decode again than to send

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)  # unpickled features become read-only again, with an empty cache

    # ------------------------------------------------------------ constructors

    @classmethod
    def from_rotations(cls, rotations, joints, fps: float = 30.0, **kw) -> Motion:
        """From (T, 22, 3, 3) rotations (root global, others parent-relative) and (T, 22, 3) world joints."""
        _check_joints(joints)
        return cls(np.asarray(f272.encode_272(np.asarray(rotations, np.float64), np.asarray(joints, np.float64))),
                   fps, **kw)  # fmt: skip

    @classmethod
    def from_joints(cls, joints, fps: float = 30.0, skeleton: SkeletonSpec = SMPL22) -> Motion:
        """From (T, 22, 3) joint positions only; rotations come from inverse kinematics (recorded in `meta`)."""
        from motionmill.motion.ik import inverse_kinematics

        _check_joints(joints)
        joints = np.asarray(joints, dtype=np.float64)
        return cls.from_rotations(inverse_kinematics(joints, skeleton), joints, fps, skeleton=skeleton,
                                  meta={"rotations": "ik"})  # fmt: skip

    @classmethod
    def from_smpl(cls, poses, trans, fps: float = 30.0, skeleton: SkeletonSpec = SMPL22, offsets=None) -> Motion:
        """From SMPL parameters: axis-angle `poses` (T, >= 66) and `trans` (T, 3), SMPL convention
        (pelvis = trans + rest pelvis), FK on `offsets` (default: the skeleton's rest offsets)."""
        poses, trans = np.asarray(poses, np.float64), np.asarray(trans, np.float64)
        if poses.ndim != 2 or poses.shape[1] < 66 or trans.shape != (poses.shape[0], 3):
            raise ValueError(f"SMPL poses must be (T, >=66) and trans (T, 3), got {poses.shape} and {trans.shape}")
        rotations = axis_angle_to_matrix(poses[:, :66].reshape(-1, 22, 3))
        offsets = skeleton.offsets if offsets is None else offsets
        joints = _fk(rotations, trans + f272.rest_pelvis(skeleton), offsets, skeleton)
        return cls.from_rotations(rotations, joints, fps, skeleton=skeleton)

    # ------------------------------------------------------------ views

    @property
    def num_frames(self) -> int:
        return self.features.shape[0]

    @property
    def duration(self) -> float:
        """Seconds covered by the frames, (T - 1) / fps."""
        return (self.num_frames - 1) / self.fps

    def _view(self, name: str, decode) -> np.ndarray:
        """A decoded view of the features, decoded once and kept read-only."""
        if name not in self._views:
            view = decode(self.features.astype(np.float64))
            view.setflags(write=False)
            self._views[name] = view
        return self._views[name]

    def joints(self) -> np.ndarray:
        """(T, 22, 3) joint positions in metres, y up (docs/representation.md, "Inverse transforms"); read-only."""
        return self._view("joints", f272.decode_joints)

    def rotations(self) -> np.ndarray:
        """(T, 22, 3, 3): root global rotation, parent-relative others; read-only."""
        return self._view("rotations", f272.decode_rotations)

    def root_positions(self) -> np.ndarray:
        """(T, 3) pelvis positions; read-only."""
        return self._view("root", f272.decode_root)

    def smpl(self) -> dict[str, np.ndarray]:
        """SMPL parameters: `poses` (T, 66) axis-angle, `trans` (T, 3) with the rest pelvis offset subtracted (so an
        SMPL body places its pelvis where ours is), `mocap_framerate`. Betas are the caller's."""
        poses = matrix_to_axis_angle(self.rotations()).reshape(self.num_frames, 66)
        trans = self.root_positions() - f272.rest_pelvis(self.skeleton)
        return {"poses": poses, "trans": trans, "mocap_framerate": np.array(self.fps)}

    def bone_offsets(self) -> np.ndarray:
        """(J, 3) rest offsets with the skeleton's directions and this motion's own mean bone lengths."""
        from motionmill.motion.ik import fitted_offsets

        return fitted_offsets(self.joints(), self.skeleton)

    def features263(self, convention: str = "humanml3d") -> np.ndarray:
        """HumanML3D-263 features (at 20 fps, T' - 1 frames) computed from the joints. `convention`: "humanml3d"
        (HumanML3D's `process_file` exactly, as the standard evaluator reads it) or "corrected" (without its
        quirks); see `motion.features263`."""
        from motionmill.motion.features263 import encode_263

        return encode_263(self.resample(20.0).joints() if self.fps != 20.0 else self.joints(), convention=convention)

    # ------------------------------------------------------------ edits

    def resample(self, fps: float) -> Motion:
        """The motion at another frame rate: joints interpolated linearly, rotations by slerp."""
        if not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"target fps must be a positive number, got {fps}")
        # a tiny relative slack keeps the last frame when rates come from rounded frame times (BVH 0.03333333 s)
        n = int(np.floor(self.duration * fps * (1 + 1e-6) + 1e-6)) + 1
        times = np.arange(n) * (self.fps / fps)  # in source frames
        lo = np.minimum(np.floor(times).astype(int), self.num_frames - 1)
        hi = np.minimum(lo + 1, self.num_frames - 1)
        w = times - lo
        joints, quats = self.joints(), matrix_to_quat(self.rotations())
        new_joints = joints[lo] * (1 - w)[:, None, None] + joints[hi] * w[:, None, None]
        new_rot = quat_to_matrix(quat_slerp(quats[lo], quats[hi], np.broadcast_to(w[:, None], quats[lo].shape[:2])))
        return Motion.from_rotations(new_rot, new_joints, fps, skeleton=self.skeleton, meta=dict(self.meta))

    def mirror(self) -> Motion:
        """Left/right mirror (swap joint pairs, negate x), done exactly in feature space."""
        x = self.features.astype(np.float64).copy()
        perm = self.skeleton.mirror_index
        flip_x = np.array([-1.0, 1.0, 1.0])
        x[:, 0] *= -1
        x[:, 2:8] *= _MIRROR_6D
        for block in (slice(8, 74), slice(74, 140)):
            x[:, block] = (x[:, block].reshape(-1, 22, 3)[:, perm] * flip_x).reshape(-1, 66)
        x[:, 140:272] = (x[:, 140:272].reshape(-1, 22, 6)[:, perm] * _MIRROR_6D).reshape(-1, 132)
        return Motion(x, self.fps, self.skeleton, dict(self.meta))

    def crop(self, start: int, stop: int) -> Motion:
        """Frames [start, stop), re-canonicalised at the new first frame."""
        if not (0 <= start < stop <= self.num_frames and stop - start >= 2):
            raise ValueError(f"crop [{start}, {stop}) is outside the {self.num_frames} frames or shorter than 2")
        rot, joints = self.rotations()[start:stop], self.joints()[start:stop]
        return Motion.from_rotations(rot, joints, self.fps, skeleton=self.skeleton, meta=dict(self.meta))

    def concatenate(self, other: Motion, transition: float = 0.25) -> Motion:
        """This motion, then `other` continuing from where and how this one ends, joined by `transition` seconds
        of smooth (smoothstep-weighted) interpolation between the last pose and the first pose of `other`."""
        if other.fps != self.fps:
            other = other.resample(self.fps)
        rot_a, joints_a = self.rotations(), self.joints()
        rot_b, joints_b = _place_after(other.rotations(), other.joints(), rot_a[-1, 0], joints_a[-1, 0])
        n = max(int(round(transition * self.fps)), 0)
        w = _smoothstep(np.arange(1, n + 1) / (n + 1))
        q0, q1 = matrix_to_quat(rot_a[-1]), matrix_to_quat(rot_b[0])
        mid_rot = quat_to_matrix(quat_slerp(np.repeat(q0[None], n, 0), np.repeat(q1[None], n, 0),
                                            np.repeat(w[:, None], 22, 1)))  # fmt: skip
        mid_joints = joints_a[-1] * (1 - w)[:, None, None] + joints_b[0] * w[:, None, None]
        rot = np.concatenate((rot_a, mid_rot.reshape(n, 22, 3, 3), rot_b))
        joints = np.concatenate((joints_a, mid_joints, joints_b))
        return Motion.from_rotations(rot, joints, self.fps, skeleton=self.skeleton, meta=dict(self.meta))


def _check_joints(joints) -> None:
    shape = np.shape(joints)
    if len(shape) != 3 or shape[1:] != (22, 3):
        raise ValueError(f"joints must have shape (T, 22, 3), got {shape}")
    if shape[0] < 2:
        raise ValueError(f"joints have {shape[0]} frame(s); at least 2 are needed")
    if not np.isfinite(joints).all():
        raise ValueError("joints contain non-finite values")


def _fk(rotations, root_positions, offsets, skeleton: SkeletonSpec) -> np.ndarray:
    pos, _ = forward_kinematics(torch.from_numpy(np.asarray(rotations, np.float64)),
                                torch.from_numpy(np.asarray(root_positions, np.float64)),
                                torch.from_numpy(np.asarray(offsets, np.float64)), skeleton.parents)  # fmt: skip
    return pos.numpy()


def _place_after(rot, joints, last_root_rot, last_root_pos):
    """Turn and move a clip about Y so its first root heading and XZ position match the given ones."""
    yaw = f272.heading_angle(torch.from_numpy(np.stack((last_root_rot, rot[0, 0])))).numpy()
    turn = ry(np.array(yaw[0] - yaw[1]))
    start = joints[0, 0] * np.array([1.0, 0.0, 1.0])
    joints = (joints - start) @ turn.T + last_root_pos * np.array([1.0, 0.0, 1.0])
    rot = rot.copy()
    rot[:, 0] = turn @ rot[:, 0]
    return rot, joints


def _smoothstep(w: np.ndarray) -> np.ndarray:
    return w * w * (3 - 2 * w)
