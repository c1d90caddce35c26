"""The HumanML3D-263 motion representation (20 fps, 22 SMPL joints): joints -> features -> joints.

Formulas follow HumanML3D (Guo et al., "Generating Diverse and Natural 3D Human Motions from Text", CVPR 2022),
`motion_representation.ipynb`: `process_file` (encoding), `recover_root_rot_pos` and `recover_from_ric` (decoding),
https://github.com/EricGuo5513/HumanML3D. We need its exact layout because the standard text-to-motion evaluator
and many released checkpoints read it (docs/representation.md, "HumanML3D-263").

One frame of features (T - 1 frames from T frames of joints, as in HumanML3D):

| channels | width | content |
|---|---|---|
| ROOT_ANGVEL  [0:1]     | 1  | half-angle of the heading change from frame t to t + 1 (quaternion convention) |
| ROOT_LINVEL  [1:3]     | 2  | root XZ displacement t -> t + 1 in the heading-free frame of t + 1 |
| ROOT_Y       [3:4]     | 1  | root (pelvis) height |
| RIC          [4:67]    | 63 | joints 1..21 relative to the root XZ, heading of t removed |
| ROT6D        [67:193]  | 126| joints 1..21 local rotations from `ik.inverse_kinematics`, 6D COLUMN convention |
| LOCAL_VEL    [193:259] | 66 | all 22 joints: heading of t applied to p[t + 1] - p[t] |
| FOOT_CONTACT [259:263] | 4  | left ankle, left foot, right ankle, right foot: squared displacement < threshold |

The heading H[t] is the rotation about +Y taking frame t's forward direction to +Z, where forward =
normalize(Y x across) and across = (R_hip - L_hip) + (R_shoulder - L_shoulder). With theta[t] its angle,
H[t] = Ry(theta[t]) and its quaternion is (cos(theta/2), 0, sin(theta/2), 0).

Differences from the published preprocessing, on purpose:
- no "uniform skeleton" retargeting: we keep the subject's own bone lengths (HumanML3D rescales every subject to
  one reference skeleton first);
- the heading uses each frame's raw across vector (HumanML3D smooths the forward direction over time first), so
  frame 0 is exactly heading-free after canonicalisation and decode(encode(J)) reproduces J;
- the angular velocity is the wrapped half-angle: HumanML3D takes arcsin of the y component of q[t+1] q[t]^-1
  without making w >= 0 first, which flips the sign of the turn whenever the heading crosses +-180 degrees
  (https://github.com/EricGuo5513/HumanML3D/issues/156); the two agree everywhere else;
- ROT6D holds SMPL-convention rotations (joint j rotates its children) from `ik.inverse_kinematics` against the
  SMPL-22 rest pose, not HumanML3D's per-bone rotations against unit axes. Decoding never reads them.

Shape legend: T frames, J joints (22), F features (263), ... leading batch dimensions.
"""

from __future__ import annotations

import torch

from motionmill.motion.ik import inverse_kinematics
from motionmill.motion.rotations import _numpy_friendly, matrix_to_6d_cols

__all__ = [
    "CHANNELS",
    "DIM",
    "FOOT_CONTACT",
    "FPS",
    "LOCAL_VEL",
    "RIC",
    "ROOT_ANGVEL",
    "ROOT_LINVEL",
    "ROOT_Y",
    "ROT6D",
    "canonicalize",
    "decode_263",
    "encode_263",
    "heading_angles",
]

FPS = 20
NUM_JOINTS = 22
DIM = 263

ROOT_ANGVEL = slice(0, 1)
ROOT_LINVEL = slice(1, 3)
ROOT_Y = slice(3, 4)
RIC = slice(4, 67)
ROT6D = slice(67, 193)
LOCAL_VEL = slice(193, 259)
FOOT_CONTACT = slice(259, 263)
CHANNELS = {
    "root_angvel": ROOT_ANGVEL,
    "root_linvel": ROOT_LINVEL,
    "root_y": ROOT_Y,
    "ric": RIC,
    "rot6d": ROT6D,
    "local_vel": LOCAL_VEL,
    "foot_contact": FOOT_CONTACT,
}
"""Channel groups in storage order; they tile [0, 263)."""

L_HIP, R_HIP, L_SHOULDER, R_SHOULDER = 1, 2, 16, 17
FEET = (7, 10, 8, 11)  # left ankle, left foot, right ankle, right foot: the order of FOOT_CONTACT


def _rotate_y(angle: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Apply Ry(angle) = [[c, 0, s], [0, 1, 0], [-s, 0, c]] to (..., 3) vectors; angle broadcasts against v[..., 0]."""
    c, s = torch.cos(angle), torch.sin(angle)
    x, y, z = v.unbind(-1)
    return torch.stack((c * x + s * z, y, -s * x + c * z), dim=-1)


def _check_finite(x: torch.Tensor, what: str) -> None:
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or infinite values")


# ---------------------------------------------------------------- joints -> features


@_numpy_friendly
def heading_angles(joints: torch.Tensor) -> torch.Tensor:
    """Angle theta of the Y rotation taking each frame's forward direction to +Z.

    Args:
        joints: (..., J, 3) SMPL-22 joint positions.

    Returns:
        (...,) angles in (-pi, pi]; Ry(theta) maps forward = normalize(Y x across) to +Z.

    Raises:
        ValueError: if the across vector of some frame is vertical or zero (the facing direction is undefined).
    """
    across = joints[..., R_HIP, :] - joints[..., L_HIP, :] + joints[..., R_SHOULDER, :] - joints[..., L_SHOULDER, :]
    # Y x across = (across_z, 0, -across_x); only its direction in the XZ plane matters
    fx, fz = across[..., 2], -across[..., 0]
    if (torch.hypot(fx, fz) < 1e-8).any():
        raise ValueError("cannot determine the facing direction: hips and shoulders across vector is vertical or zero")
    return -torch.atan2(fx, fz)  # Ry(a) turns the direction at angle phi = atan2(x, z) into phi + a


@_numpy_friendly
def canonicalize(joints: torch.Tensor) -> torch.Tensor:
    """Floor at y = 0 (min over all frames and joints), frame-0 root XZ at the origin, frame 0 facing +Z.

    Args:
        joints: (T, J, 3) joint positions.

    Returns:
        (T, J, 3) canonical joint positions.
    """
    floor = joints[..., 1].min()
    shift = torch.stack((joints[0, 0, 0], floor, joints[0, 0, 2]))
    joints = joints - shift  # (T, J, 3)
    return _rotate_y(heading_angles(joints[0]), joints)


def _foot_contacts(joints: torch.Tensor, feet_thre: float) -> torch.Tensor:
    """(T, J, 3) -> (T - 1, 4): 1 where a foot joint's squared per-frame displacement is below `feet_thre`."""
    feet = joints[:, FEET]  # (T, 4, 3)
    sq = ((feet[1:] - feet[:-1]) ** 2).sum(-1)  # (T - 1, 4)
    return (sq < feet_thre).to(joints.dtype)


def _validate_joints(joints: torch.Tensor) -> None:
    if joints.dim() != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"joints must have shape (T, {NUM_JOINTS}, 3), got {tuple(joints.shape)}")
    if joints.shape[0] < 2:
        raise ValueError(f"need at least 2 frames to compute velocities, got {joints.shape[0]}")
    _check_finite(joints, "joints")


@_numpy_friendly
def encode_263(joints: torch.Tensor, feet_thre: float = 0.002) -> torch.Tensor:
    """HumanML3D-263 features from joint positions sampled at 20 fps.

    Args:
        joints: (T, 22, 3) SMPL-22 joint positions in metres, y up (torch or numpy; numpy returns numpy float64).
        feet_thre: contact threshold on the squared displacement per frame (m^2), HumanML3D's default 0.002.

    Returns:
        (T - 1, 263) features in the layout of this module's slices.

    Raises:
        ValueError: on a wrong shape, fewer than 2 frames, non-finite values or an undefined facing direction.
    """
    _validate_joints(joints)
    p = canonicalize(joints)  # (T, J, 3)
    theta = heading_angles(p)  # (T,)
    root = p[:, 0]  # (T, 3)
    # wrap the heading change into (-pi, pi] before halving: the quaternion q[t+1] q[t]^-1 taken with w >= 0
    dtheta = theta[1:] - theta[:-1]
    ang_vel = torch.atan2(torch.sin(dtheta), torch.cos(dtheta)) / 2  # (T - 1,)
    lin_vel = _rotate_y(theta[1:], root[1:] - root[:-1])[:, [0, 2]]  # (T - 1, 2)
    root_xz = root * root.new_tensor([1.0, 0.0, 1.0])
    ric = _rotate_y(theta[:, None], p[:, 1:] - root_xz[:, None])  # (T, J - 1, 3)
    rot6d = matrix_to_6d_cols(inverse_kinematics(p)[:, 1:])  # (T, J - 1, 6)
    local_vel = _rotate_y(theta[:-1, None], p[1:] - p[:-1])  # (T - 1, J, 3)
    n = p.shape[0] - 1
    return torch.cat(
        (
            ang_vel[:, None],
            lin_vel,
            root[:-1, 1:2],
            ric[:-1].reshape(n, -1),
            rot6d[:-1].reshape(n, -1),
            local_vel.reshape(n, -1),
            _foot_contacts(p, feet_thre),
        ),
        dim=-1,
    )


# ---------------------------------------------------------------- features -> joints


@_numpy_friendly
def decode_263(x: torch.Tensor) -> torch.Tensor:
    """Joint positions from HumanML3D-263 features (HumanML3D's `recover_from_ric`).

    The heading is integrated from the angular velocity (theta[0] = 0), the root XZ from the linear velocities
    rotated back into the world, the height is read from ROOT_Y, and the RIC positions are rotated back and shifted
    by the root XZ. The rotation, local-velocity and contact channels are not used.

    Args:
        x: (..., T, 263) features, T >= 1 (torch or numpy; numpy returns numpy float64).

    Returns:
        (..., T, 22, 3) joint positions.

    Raises:
        ValueError: on a wrong feature width, no frames or non-finite values.
    """
    if x.dim() < 2 or x.shape[-1] != DIM:
        raise ValueError(f"features must have shape (..., T, {DIM}), got {tuple(x.shape)}")
    if x.shape[-2] < 1:
        raise ValueError("features have no frames")
    _check_finite(x, "features")
    # theta[t] = 2 * sum_{s<t} angvel[s]: the stored value is the half-angle of the quaternion
    half = torch.cumsum(x[..., ROOT_ANGVEL], dim=-2) - x[..., ROOT_ANGVEL]  # (..., T, 1) exclusive cumsum
    theta = 2 * half[..., 0]  # (..., T)
    # the velocity stored at t moves the root from t to t + 1 and is expressed in the heading of t + 1
    vel = torch.zeros(x.shape[:-1] + (3,), dtype=x.dtype, device=x.device)  # (..., T, 3)
    vel[..., 1:, 0] = x[..., :-1, ROOT_LINVEL.start]
    vel[..., 1:, 2] = x[..., :-1, ROOT_LINVEL.start + 1]
    root = torch.cumsum(_rotate_y(-theta, vel), dim=-2)  # (..., T, 3)
    root[..., 1] = x[..., ROOT_Y.start]
    ric = x[..., RIC].reshape(x.shape[:-1] + (NUM_JOINTS - 1, 3))  # (..., T, J - 1, 3)
    others = _rotate_y(-theta[..., None], ric) + (root * root.new_tensor([1.0, 0.0, 1.0]))[..., None, :]
    return torch.cat((root[..., None, :], others), dim=-2)
