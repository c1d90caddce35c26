"""The 272-dim motion representation of MotionMillion / MotionStreamer ("vector_272"), encode and decode.

Bit-compatible with released MotionMillion data: same slices, rows-6D convention and frame-0 rules
(docs/representation.md). One frame holds, for the 22 SMPL joints:

    [0:2]     root XZ velocity in the heading-free frame of t-1
    [2:8]     heading change of frame t as the 6D of a rotation about Y (identity at t = 0)
    [8:74]    joint positions with heading removed, root XZ at the origin, absolute height
    [74:140]  their velocities pos[t] - pos[t-1] (0 at t = 0)
    [140:272] 6D rotations: root orientation without heading, then the 21 parent-relative rotations

The decoder accumulates the heading from frame 0, so it implicitly assumes the frame-0 root heading h[0] is zero,
while the encoder canonicalises with the hips/shoulders "across" vector. Decoded joints therefore equal the
canonicalised input rotated about Y by h[0]; we keep this for compatibility with released data (see the spec).

Shape legend: ... batch, T frames, J joints (22), F features (272).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from motionmill.motion.rotations import matrix_to_6d, ry, sixd_to_matrix
from motionmill.motion.skeleton import SMPL22

__all__ = [
    "FEATURE_DIM",
    "LAYOUT_272",
    "FeatureLayout",
    "canonicalise",
    "decode_joints",
    "decode_root",
    "decode_rotations",
    "encode_272",
    "heading_angle",
    "rest_pelvis",
    "validate_features",
]

FEATURE_DIM = 272
NUM_JOINTS = 22
_L_HIP, _R_HIP, _L_SHOULDER, _R_SHOULDER = 1, 2, 16, 17


@dataclass(frozen=True)
class FeatureLayout:
    """Named contiguous groups of a feature vector (used by the normaliser and by losses)."""

    name: str
    groups: tuple[tuple[str, int, int], ...]
    """(group name, start, stop) in order, covering [0, dim)."""

    @property
    def dim(self) -> int:
        return self.groups[-1][2]

    def slice(self, group: str) -> slice:
        for name, start, stop in self.groups:
            if name == group:
                return slice(start, stop)
        raise KeyError(f"layout {self.name} has no group {group!r}; groups: {[g[0] for g in self.groups]}")


LAYOUT_272 = FeatureLayout(
    name="motion272",
    groups=(
        ("root_velocity", 0, 2),
        ("heading_delta", 2, 8),
        ("positions", 8, 74),
        ("velocities", 74, 140),
        ("rotations", 140, 272),
    ),
)


def validate_features(x, dim: int = FEATURE_DIM, what: str = "features") -> None:
    """Raise ValueError naming the problem if x is not a finite (T >= 2, dim) array."""
    shape = tuple(x.shape)
    if len(shape) != 2 or shape[1] != dim:
        hint = " (HumanML3D-263 features? use motionmill.motion.features263)" if shape[-1:] == (263,) else ""
        raise ValueError(f"{what} must have shape (T, {dim}), got {shape}{hint}")
    if shape[0] < 2:
        raise ValueError(f"{what} have {shape[0]} frame(s); at least 2 are needed")
    bad = ~np.isfinite(np.asarray(x))
    if bad.any():
        t, f = np.argwhere(bad)[0]
        raise ValueError(f"{what} contain {int(bad.sum())} non-finite values (first at frame {t}, dim {f})")


def _tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    return torch.from_numpy(np.array(x, dtype=np.float64))  # a copy: arrays may be read-only views of a Motion


def _like(out: torch.Tensor, ref):
    return out if isinstance(ref, torch.Tensor) else out.numpy()


def heading_angle(root_rotations: torch.Tensor) -> torch.Tensor:
    """Yaw a of (..., 3, 3) root rotations, so that Ry(-a) removes the heading (spec step 4: h = -a)."""
    return torch.atan2(root_rotations[..., 0, 2], root_rotations[..., 2, 2])


def canonicalise(rotations, joints):
    """Face +Z at frame 0 (hips/shoulders rule), floor at y = 0, frame-0 root XZ at the origin.

    Args:
        rotations: (T, J, 3, 3), entry 0 the global root rotation, others parent-relative (left unchanged).
        joints: (T, J, 3) world positions.

    Returns:
        (rotations, joints) in the canonical frame, same types as given.
    """
    R, P = _tensor(rotations), _tensor(joints)
    across = (P[0, _R_HIP] - P[0, _L_HIP]) + (P[0, _R_SHOULDER] - P[0, _L_SHOULDER])
    forward = torch.cross(P.new_tensor([0.0, 1.0, 0.0]), across, dim=-1)
    if forward.norm() < 1e-8:
        raise ValueError("cannot find the facing direction at frame 0: hips and shoulders are degenerate")
    # the Y rotation taking `forward` to +Z: yaw(forward) = atan2(x, z), rotate by its negative
    q0 = ry(-torch.atan2(forward[0], forward[2]))
    P = P @ q0.T
    R = R.clone()
    R[:, 0] = q0 @ R[:, 0]
    floor = P[..., 1].min()
    P = P - torch.stack((P[0, 0, 0], floor, P[0, 0, 2]))
    return _like(R, rotations), _like(P, joints)


def encode_272(rotations, joints, canonical: bool = True):
    """Rotations and joint positions -> (T, 272) features (spec "Forward transform").

    Args:
        rotations: (T, 22, 3, 3), entry 0 the global root rotation, others parent-relative (SMPL convention).
        joints: (T, 22, 3) world joint positions in metres, y up.
        canonical: canonicalise first (the released data always is); False only for already canonical input.

    Returns:
        (T, 272) features, torch or numpy like `joints` (numpy results are float64).
    """
    if canonical:
        rotations, joints = canonicalise(rotations, joints)
    R, P = _tensor(rotations), _tensor(joints)
    T = P.shape[0]
    H = ry(-heading_angle(R[:, 0]))  # (T, 3, 3) heading removal
    local = P - torch.stack((P[:, 0, 0], torch.zeros_like(P[:, 0, 0]), P[:, 0, 2]), dim=-1)[:, None]
    pos = torch.einsum("tab,tjb->tja", H, local)  # (T, J, 3): H[t] applied to every joint
    vel = torch.cat((torch.zeros_like(pos[:1]), pos[1:] - pos[:-1]))
    step = P[1:, 0] - P[:-1, 0]  # (T-1, 3) root displacement v[t-1]
    root_vel = torch.cat((P.new_zeros(1, 3), torch.einsum("tab,tb->ta", H[:-1], step)))[:, [0, 2]]
    h = -heading_angle(R[:, 0])
    dH = torch.cat((torch.eye(3, dtype=P.dtype)[None], ry(h[1:] - h[:-1])))
    rot = R.clone()
    rot[:, 0] = H @ R[:, 0]
    x = torch.cat(
        (root_vel, matrix_to_6d(dH), pos.reshape(T, -1), vel.reshape(T, -1), matrix_to_6d(rot).reshape(T, -1)), -1
    )
    return _like(x, joints)


def _accumulated_heading(x: torch.Tensor) -> torch.Tensor:
    """(..., T, 272) -> (..., T, 3, 3) Hh[t] = R(dH[t]) Hh[t-1], Hh[0] = R(dH[0]) (left-multiplied, as released)."""
    dH = sixd_to_matrix(x[..., 2:8])
    out = [dH[..., 0, :, :]]
    for t in range(1, x.shape[-2]):
        out.append(dH[..., t, :, :] @ out[-1])
    return torch.stack(out, dim=-3)


def _root_xz(x: torch.Tensor, Hh: torch.Tensor) -> torch.Tensor:
    """Root path on the floor, (..., T, 3) with y = 0, as MotionMillion's recovery computes it: r = cumsum(u) with
    u[0] = (vx[0], 0, vz[0]) as stored and u[t] = Hh[t-1]^T (vx[t], 0, vz[t]). Encoded data has a zero frame-0
    velocity and pure Y headings, so this only matters for generated features, which carry a frame-0 velocity and
    headings a little off Y; their Y drift is dropped (docs/representation.md, "Inverse transforms")."""
    v = torch.stack((x[..., 0], torch.zeros_like(x[..., 0]), x[..., 1]), dim=-1)  # (..., T, 3)
    u = torch.einsum("...tba,...tb->...ta", Hh[..., :-1, :, :], v[..., 1:, :])
    r = torch.cat((v[..., :1, :], u), dim=-2).cumsum(dim=-2)
    return r * r.new_tensor([1.0, 0.0, 1.0])


def decode_joints(x):
    """(..., T, 272) features -> (..., T, 22, 3) joint positions (velocity block unused, as released)."""
    xt = _tensor(x)
    Hh = _accumulated_heading(xt)
    r = _root_xz(xt, Hh)
    pos = xt[..., 8:74].unflatten(-1, (NUM_JOINTS, 3))
    joints = torch.einsum("...tba,...tjb->...tja", Hh, pos) + r[..., None, :]
    return _like(joints, x)


def decode_rotations(x):
    """(..., T, 272) -> (..., T, 22, 3, 3): global root rotation (heading restored), parent-relative others."""
    xt = _tensor(x)
    Hh = _accumulated_heading(xt)
    rot = sixd_to_matrix(xt[..., 140:272].unflatten(-1, (NUM_JOINTS, 6)))
    root = Hh.transpose(-1, -2) @ rot[..., 0, :, :]
    return _like(torch.cat((root[..., None, :, :], rot[..., 1:, :, :]), dim=-3), x)


def decode_root(x):
    """(..., T, 272) -> (..., T, 3) pelvis positions: accumulated XZ and the stored pelvis height."""
    xt = _tensor(x)
    r = _root_xz(xt, _accumulated_heading(xt))
    r[..., 1] = xt[..., 9]
    return _like(r, x)


def rest_pelvis(skeleton=SMPL22) -> np.ndarray:
    """The rest-pose pelvis position J_0 that SMPL adds to `transl` (subtract it for a faithful SMPL export)."""
    return np.asarray(skeleton.rest_joints[0], dtype=np.float64)
