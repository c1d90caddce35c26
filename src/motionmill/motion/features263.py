"""The HumanML3D-263 motion representation (20 fps, 22 SMPL joints): joints -> features -> joints.

Formulas follow HumanML3D (Guo et al., "Generating Diverse and Natural 3D Human Motions from Text", CVPR 2022),
`motion_representation.ipynb`: `process_file` (encoding), `recover_root_rot_pos` and `recover_from_ric` (decoding),
with `common/skeleton.py` and `paramUtil.py`, https://github.com/EricGuo5513/HumanML3D. We need its exact layout
because the standard text-to-motion evaluator and many released checkpoints read it (docs/representation.md,
"HumanML3D-263").

One frame of features (T - 1 frames from T frames of joints, as in HumanML3D):

| channels | width | content |
|---|---|---|
| ROOT_ANGVEL  [0:1]     | 1  | heading change from frame t to t + 1, as the half-angle of a quaternion |
| ROOT_LINVEL  [1:3]     | 2  | root XZ displacement t -> t + 1 in the heading-free frame of t + 1 |
| ROOT_Y       [3:4]     | 1  | root (pelvis) height |
| RIC          [4:67]    | 63 | joints 1..21 relative to the root XZ, heading of t removed |
| ROT6D        [67:193]  | 126| joints 1..21 rotations, 6D COLUMN convention (which rotations: see the conventions) |
| LOCAL_VEL    [193:259] | 66 | all 22 joints: heading of t applied to p[t + 1] - p[t] |
| FOOT_CONTACT [259:263] | 4  | left ankle, left foot, right ankle, right foot: squared displacement < threshold |

Both conventions first canonicalise as `process_file` does: floor at y = 0 (lowest joint over the clip), frame-0
root XZ at the origin, frame 0 turned to face +Z (forward = Y x across, across = (R_hip - L_hip) + (R_shoulder -
L_shoulder) of frame 0). Contacts are read from the canonical positions. A heading H[t] = Ry(theta[t]) then takes
frame t's forward direction to +Z; its quaternion is (cos(theta/2), 0, sin(theta/2), 0).

`convention="humanml3d"` (the default) is `process_file` exactly, with its quirks, so that scores of the standard
evaluator are comparable with published numbers:
- `uniform_skeleton` first: every bone keeps its direction and takes the length of HumanML3D's reference subject
  000021 (`HUMANML3D_BONE_LENGTHS`), and the root path is scaled by the ratio of the right leg lengths (thigh +
  shin) of the reference and of the clip's frame 0;
- the heading is that of `Skeleton.inverse_kinematics_np`: its across vector takes the hips in the reverse order
  ((L_hip - R_hip) + (R_shoulder - L_shoulder)), the forward directions are Gaussian-smoothed over time (sigma 20
  frames, scipy's `gaussian_filter1d` with mode 'nearest') and the heading of frame 0 is the identity whatever the
  motion does (so the first ROOT_ANGVEL carries a jump to the heading of frame 1);
- ROOT_ANGVEL is arcsin of the y component of H[t+1] H[t]^-1 with each H taken with w >= 0 and no wrapping, which
  flips the sign of a turn whenever the heading crosses +-180 degrees
  (https://github.com/EricGuo5513/HumanML3D/issues/156);
- ROT6D holds HumanML3D's per-bone rotations: for each bone (parent a -> joint b) of the chains
  `HUMANML3D_CHAINS`, B_b = the smallest rotation taking the unit raw offset of b (`HUMANML3D_RAW_OFFSETS`) to the
  bone's direction, stored as B_prev^T B_b, where B_prev is the previous bone's B along the chain, or H[t] for the
  first bone of a chain.

`convention="corrected"` is the representation without those quirks (decode(encode(J)) reproduces canonical J):
- no retargeting: each subject keeps its own bone lengths;
- the heading uses each frame's own across vector with the hips in the right order, unsmoothed, frame 0 included;
- ROOT_ANGVEL is the half-angle of the heading change wrapped into (-pi/2, pi/2] (the right sign across 180
  degrees);
- ROT6D holds SMPL-convention rotations (joint j rotates its children) from `ik.inverse_kinematics` against the
  SMPL-22 rest pose. Decoding never reads them.

Shape legend: T frames, J joints (22), F features (263), ... leading batch dimensions.
"""

from __future__ import annotations

from itertools import pairwise

import torch

from motionmill.motion.ik import inverse_kinematics
from motionmill.motion.rotations import _numpy_friendly, matrix_to_6d_cols, rotation_between, ry
from motionmill.motion.skeleton import SMPL22

__all__ = [
    "CHANNELS",
    "CONVENTIONS",
    "DIM",
    "FOOT_CONTACT",
    "FPS",
    "HUMANML3D_BONE_LENGTHS",
    "HUMANML3D_CHAINS",
    "HUMANML3D_RAW_OFFSETS",
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
    "humanml3d_heading_angles",
    "uniform_skeleton",
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

CONVENTIONS = ("humanml3d", "corrected")
"""`encode_263` conventions: HumanML3D's `process_file` with its quirks (default), or without them (module docs)."""

L_HIP, R_HIP, L_SHOULDER, R_SHOULDER = 1, 2, 16, 17
FEET = (7, 10, 8, 11)  # left ankle, left foot, right ankle, right foot: the order of FOOT_CONTACT

HUMANML3D_CHAINS = ((0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15), (9, 14, 17, 19, 21), (9, 13, 16, 18, 20))
"""HumanML3D's kinematic chains (`t2m_kinematic_chain` of paramUtil.py); the same tree as SMPL-22."""
HUMANML3D_RAW_OFFSETS = (
    (0, 0, 0), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, -1, 0), (0, 1, 0), (0, -1, 0), (0, -1, 0), (0, 1, 0),
    (0, 0, 1), (0, 0, 1), (0, 1, 0), (1, 0, 0), (-1, 0, 0), (0, 0, 1), (0, -1, 0), (0, -1, 0), (0, -1, 0), (0, -1, 0),
    (0, -1, 0), (0, -1, 0),
)  # fmt: skip
"""Unit rest direction of the bone ending at each joint (`t2m_raw_offsets` of paramUtil.py); row 0 is unused."""
HUMANML3D_BONE_LENGTHS = (
    0.0, 0.1030740, 0.1098834, 0.1315682, 0.3936232, 0.3901882, 0.1431902, 0.4324330, 0.4256434, 0.0573647, 0.1433818,
    0.1494191, 0.2193600, 0.1374868, 0.1433828, 0.1030392, 0.1316140, 0.1229844, 0.2568399, 0.2630919, 0.2660118,
    0.2698763,
)  # fmt: skip
"""Metres, the bone ending at each joint, of HumanML3D's reference subject 000021 (frame 0): the lengths that
`uniform_skeleton` gives every motion. Measured on HumanML3D's shipped `new_joints/012314.npy`, which is already
retargeted to them (constant over its frames to 1.3e-6 m; the mean over frames, to 1e-7 m)."""
_LEG = (5, 8)  # right thigh and shin (`l_idx1, l_idx2`): the ratio of their sums scales the root path
_SMOOTH_SIGMA = 20.0  # frames: the Gaussian over the forward directions in `inverse_kinematics_np`


def _rotate_y(angle: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Apply Ry(angle) = [[c, 0, s], [0, 1, 0], [-s, 0, c]] to (..., 3) vectors; angle broadcasts against v[..., 0]."""
    c, s = torch.cos(angle), torch.sin(angle)
    x, y, z = v.unbind(-1)
    return torch.stack((c * x + s * z, y, -s * x + c * z), dim=-1)


def _check_finite(x: torch.Tensor, what: str) -> None:
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or infinite values")


def _forward_angle(fx: torch.Tensor, fz: torch.Tensor) -> torch.Tensor:
    """The angle theta with Ry(theta) taking the XZ direction (fx, fz) to +Z."""
    if (torch.hypot(fx, fz) < 1e-8).any():
        raise ValueError("cannot determine the facing direction: hips and shoulders across vector is vertical or zero")
    return -torch.atan2(fx, fz)  # Ry(a) turns the direction at angle phi = atan2(x, z) into phi + a


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
    return _forward_angle(across[..., 2], -across[..., 0])


def _gaussian_nearest(x: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """(T, C) smoothed along T as scipy.ndimage.gaussian_filter1d(x, sigma, axis=0, mode="nearest") does: a kernel
    of radius int(truncate * sigma + 0.5), the edge frames repeated beyond the ends."""
    radius = int(truncate * sigma + 0.5)
    k = torch.arange(-radius, radius + 1, device=x.device)
    w = torch.exp(-0.5 * (k.to(x.dtype) / sigma) ** 2)
    idx = (torch.arange(x.shape[0], device=x.device)[:, None] + k).clamp(0, x.shape[0] - 1)  # (T, 2 r + 1)
    return torch.einsum("k,tkc->tc", w / w.sum(), x[idx])


@_numpy_friendly
def humanml3d_heading_angles(joints: torch.Tensor) -> torch.Tensor:
    """HumanML3D's root heading, as `Skeleton.inverse_kinematics_np(..., smooth_forward=True)` computes it.

    The across vector takes the hips in reverse order, (L_hip - R_hip) + (R_shoulder - L_shoulder), normalised;
    forward = Y x across is Gaussian-smoothed over time (sigma 20 frames, edges repeated) and the heading of frame 0
    is set to 0 (the identity).

    Args:
        joints: (T, J, 3) SMPL-22 joint positions.

    Returns:
        (T,) angles theta in [-pi, pi] with Ry(theta) taking the smoothed forward direction to +Z; theta[0] = 0.

    Raises:
        ValueError: if some frame's across vector is zero or the smoothed forward direction is vertical or zero.
    """
    across = joints[:, L_HIP] - joints[:, R_HIP] + joints[:, R_SHOULDER] - joints[:, L_SHOULDER]  # (T, 3)
    norm = across.norm(dim=-1, keepdim=True)
    if (norm < 1e-8).any():
        raise ValueError("cannot determine the facing direction: HumanML3D's across vector is zero")
    across = across / norm
    forward = _gaussian_nearest(torch.stack((across[:, 2], -across[:, 0]), dim=-1), _SMOOTH_SIGMA)  # (T, 2): x, z
    theta = _forward_angle(forward[:, 0], forward[:, 1])
    return torch.cat((theta.new_zeros(1), theta[1:]))


@_numpy_friendly
def uniform_skeleton(joints: torch.Tensor) -> torch.Tensor:
    """HumanML3D's `uniform_skeleton`: the motion on the bone lengths of its reference subject 000021.

    Every bone keeps its direction in every frame and takes its length from `HUMANML3D_BONE_LENGTHS`; the root path
    is scaled by (reference thigh + shin) / (this motion's thigh + shin in frame 0), right leg. (HumanML3D does this
    by inverse then forward kinematics against its unit raw offsets; the root rotation cancels out of that round trip,
    which leaves exactly this.)

    Args:
        joints: (T, 22, 3) SMPL-22 joint positions in metres.

    Returns:
        (T, 22, 3) retargeted joint positions.

    Raises:
        ValueError: if a joint coincides with its parent in some frame (the bone has no direction).
    """
    parents = list(SMPL22.parents[1:])
    bones = joints[:, 1:] - joints[:, parents]  # (T, J - 1, 3), the bone ending at joints 1..21
    norms = bones.norm(dim=-1, keepdim=True)
    if (norms < 1e-8).any():
        raise ValueError("cannot retarget to HumanML3D's skeleton: a joint coincides with its parent")
    lengths = joints.new_tensor(HUMANML3D_BONE_LENGTHS)
    scale = lengths[list(_LEG)].sum() / norms[0, [j - 1 for j in _LEG]].sum()
    out = [joints[:, 0] * scale]  # (T, 3) per joint, in joint order
    for j in range(1, NUM_JOINTS):  # parents come before their children
        out.append(out[parents[j - 1]] + lengths[j] * bones[:, j - 1] / norms[:, j - 1])
    return torch.stack(out, dim=1)


def _humanml3d_bone_rotations(joints: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(T, J, 3) canonical joints, (T,) heading -> (T, J - 1, 3, 3) HumanML3D's ROT6D rotations of joints 1..21.

    Along each chain, B_b (smallest rotation from the raw offset of b to the bone a -> b) is stored as
    B_prev^T B_b, with B_prev = Ry(theta) for the chain's first bone (`inverse_kinematics_np`)."""
    raw = joints.new_tensor(HUMANML3D_RAW_OFFSETS)
    out = [None] * NUM_JOINTS
    for chain in HUMANML3D_CHAINS:
        prev = ry(theta)  # (T, 3, 3)
        for a, b in pairwise(chain):
            cur = rotation_between(raw[b].expand_as(joints[:, b]), joints[:, b] - joints[:, a])
            out[b] = prev.transpose(-1, -2) @ cur
            prev = cur
    return torch.stack(out[1:], dim=1)


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
def encode_263(joints: torch.Tensor, feet_thre: float = 0.002, convention: str = "humanml3d") -> torch.Tensor:
    """HumanML3D-263 features from joint positions sampled at 20 fps.

    Args:
        joints: (T, 22, 3) SMPL-22 joint positions in metres, y up (torch or numpy; numpy returns numpy float64).
        feet_thre: contact threshold on the squared displacement per frame (m^2), HumanML3D's default 0.002.
        convention: "humanml3d" (HumanML3D's `process_file` exactly, quirks included: what the standard evaluator
            was trained on) or "corrected" (own bone lengths, per-frame heading, wrapped turns, SMPL IK rotations).
            The module docstring lists the differences.

    Returns:
        (T - 1, 263) features in the layout of this module's slices.

    Raises:
        ValueError: on an unknown convention, a wrong shape, fewer than 2 frames, non-finite values or an undefined
            facing direction.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    _validate_joints(joints)
    if convention == "humanml3d":
        joints = uniform_skeleton(joints)
    p = canonicalize(joints)  # (T, J, 3)
    if convention == "humanml3d":
        theta = humanml3d_heading_angles(p)  # (T,)
        # arcsin of the y component of q[t+1] q[t]^-1, both with w >= 0: sin of the half-angle difference, unwrapped
        ang_vel = torch.asin(torch.sin((theta[1:] - theta[:-1]) / 2).clamp(-1, 1))
        rotations = _humanml3d_bone_rotations(p, theta)  # (T, J - 1, 3, 3)
    else:
        theta = heading_angles(p)
        # wrap the heading change into (-pi, pi] before halving: the quaternion q[t+1] q[t]^-1 taken with w >= 0
        dtheta = theta[1:] - theta[:-1]
        ang_vel = torch.atan2(torch.sin(dtheta), torch.cos(dtheta)) / 2  # (T - 1,)
        rotations = inverse_kinematics(p)[:, 1:]
    root = p[:, 0]  # (T, 3)
    lin_vel = _rotate_y(theta[1:], root[1:] - root[:-1])[:, [0, 2]]  # (T - 1, 2)
    root_xz = root * root.new_tensor([1.0, 0.0, 1.0])
    ric = _rotate_y(theta[:, None], p[:, 1:] - root_xz[:, None])  # (T, J - 1, 3)
    rot6d = matrix_to_6d_cols(rotations)  # (T, J - 1, 6)
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
