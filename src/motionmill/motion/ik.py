"""Inverse kinematics from joint positions by bone-direction alignment against the rest pose.

HumanML3D (Guo et al., "Generating Diverse and Natural 3D Human Motions from Text", CVPR 2022) and sources that ship
only joint positions need joint rotations; they recover them from bone directions
(https://github.com/EricGuo5513/HumanML3D, `common/skeleton.py`, `inverse_kinematics_np`). We keep the idea but use
the SMPL convention (the rotation of joint j moves j's children, root rotation is the full global orientation) and
align against the skeleton's real rest offsets instead of unit axes:

- a joint with one child gets the smallest rotation, in its parent's global frame, taking the rest offset direction
  to the observed bone direction, so no twist about the bone is invented;
- a joint with several children (pelvis: hips + spine; spine3: neck + collars) gets the best proper rotation aligning
  all rest child directions to the observed ones (Kabsch, "A solution for the best rotation to relate two sets of
  vectors", 1976: SVD of the correlation matrix with a det +1 correction);
- leaf joints get the identity.

Positions are only reproduced exactly by FK(IK(joints), fitted_offsets(joints)) when the data's rest directions match
the skeleton and bones keep their length; on other data the result is the best fit in the sense above.

Shape legend: T frames, J joints, ... leading batch dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from motionmill.motion.rotations import _numpy_friendly, rotation_between
from motionmill.motion.skeleton import SMPL22, SkeletonSpec, bone_lengths

__all__ = ["fitted_offsets", "inverse_kinematics"]


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _kabsch(rest: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Proper rotation R minimising sum_c |R rest_c - observed_c|^2.

    Args:
        rest: (C, 3) rest directions.
        observed: (..., C, 3) observed directions.

    Returns:
        (..., 3, 3) rotations with det +1.
    """
    H = torch.einsum("ci,...cj->...ij", rest, observed)  # (..., 3, 3) correlation sum_c rest_c observed_c^T
    U, _, Vh = torch.linalg.svd(H)
    V = Vh.transpose(-1, -2)
    # flip the weakest axis when the unconstrained optimum would be a reflection
    d = torch.det(V @ U.transpose(-1, -2))
    D = torch.diag_embed(torch.stack((torch.ones_like(d), torch.ones_like(d), d), dim=-1))
    return V @ D @ U.transpose(-1, -2)


@dataclass(frozen=True)
class _Level:
    """The non-leaf joints at one depth of the tree; they only depend on shallower joints."""

    single: list[int]
    """Joints with one child, solved together by minimal rotations."""
    single_child: list[int]
    """The child of each `single` joint."""
    single_parent: list[int]
    """Global-rotation slot (parent + 1) of each `single` joint's parent."""
    multi: list[tuple[int, int, list[int]]]
    """(joint, parent slot, children) for joints with several children, solved one by one (Kabsch)."""
    joints: list[int]
    """All joints of the level: `single` then the `multi` joints."""
    slots: list[int]
    """Global-rotation slot (joint + 1) of each of `joints`."""
    parent_slots: list[int]
    """Global-rotation slot of the parent of each of `joints`."""


def _schedule(skeleton: SkeletonSpec) -> list[_Level]:
    """Non-leaf joints grouped by depth, so that each level is solved with one batched call (cached per skeleton)."""
    if "ik_schedule" not in skeleton._cache:
        parents, kids = skeleton.parents, skeleton.children
        depth = [0] * skeleton.num_joints
        for j in range(1, skeleton.num_joints):
            depth[j] = depth[parents[j]] + 1
        levels = []
        for d in range(max(depth) + 1):
            single = [j for j in range(skeleton.num_joints) if depth[j] == d and len(kids[j]) == 1]
            multi = [j for j in range(skeleton.num_joints) if depth[j] == d and len(kids[j]) > 1]
            if not single and not multi:
                continue
            levels.append(
                _Level(
                    single=single,
                    single_child=[kids[j][0] for j in single],
                    single_parent=[parents[j] + 1 for j in single],
                    multi=[(j, parents[j] + 1, list(kids[j])) for j in multi],
                    joints=single + multi,
                    slots=[j + 1 for j in single + multi],
                    parent_slots=[parents[j] + 1 for j in single + multi],
                )
            )
        skeleton._cache["ik_schedule"] = levels
    return skeleton._cache["ik_schedule"]


@_numpy_friendly
def inverse_kinematics(joints: torch.Tensor, skeleton: SkeletonSpec = SMPL22) -> torch.Tensor:
    """Local joint rotations that point every bone of the rest pose along the observed bones.

    Vectorised over frames; the Python loop runs over the levels of the tree (8 for SMPL-22).

    Args:
        joints: (..., J, 3) joint positions (torch or numpy; numpy is computed in float64 and returned as numpy).
        skeleton: the kinematic tree and rest pose the rotations refer to.

    Returns:
        (..., J, 3, 3) rotations: entry 0 is the root's global rotation, the others are parent-relative, as
        `forward_kinematics` expects. Leaf joints get the identity.
    """
    J = skeleton.num_joints
    if joints.shape[-2:] != (J, 3):
        raise ValueError(f"joints must be (..., {J}, 3) for skeleton {skeleton.name}, got {tuple(joints.shape)}")
    batch = joints.shape[:-2]
    joints = joints.reshape(-1, J, 3)  # (N, J, 3): one flat batch keeps the indexing simple and cheap
    rest = torch.as_tensor(skeleton.offsets, dtype=joints.dtype, device=joints.device)  # (J, 3)
    eye = torch.eye(3, dtype=joints.dtype, device=joints.device)
    local = eye.expand(joints.shape[:-1] + (3, 3)).clone()  # (N, J, 3, 3)
    # global rotations shifted by one slot: slot 0 is the world frame (the root's "parent"), joint j lives in j + 1
    glob = eye.expand((joints.shape[0], J + 1, 3, 3)).clone()  # (N, J + 1, 3, 3)
    for level in _schedule(skeleton):
        if level.single:
            parent_glob = glob[:, level.single_parent]  # (N, S, 3, 3)
            bones = joints[:, level.single_child] - joints[:, level.single]  # (N, S, 3) world frame
            bones = (bones[..., None, :] @ parent_glob)[..., 0, :]  # row form of parent_glob^T bone: parent frame
            local[:, level.single] = rotation_between(rest[level.single_child].expand_as(bones), bones)
        for j, p, kids in level.multi:
            bones = (joints[:, kids] - joints[:, j, None]) @ glob[:, p]  # (N, C, 3) in the parent's frame
            local[:, j] = _kabsch(_unit(rest[kids]), _unit(bones))
        glob[:, level.slots] = glob[:, level.parent_slots] @ local[:, level.joints]
    return local.reshape(batch + (J, 3, 3))


@_numpy_friendly
def fitted_offsets(joints: torch.Tensor, skeleton: SkeletonSpec = SMPL22) -> torch.Tensor:
    """Rest offsets of `skeleton` rescaled to the motion's own mean bone lengths.

    Args:
        joints: (..., J, 3) joint positions; lengths are averaged over all leading dimensions.
        skeleton: the skeleton whose rest directions are kept.

    Returns:
        (J, 3) offsets from each parent; row 0 is the skeleton's rest root position.
    """
    rest = torch.as_tensor(skeleton.offsets, dtype=joints.dtype, device=joints.device)  # (J, 3)
    lengths = bone_lengths(joints, skeleton.parents).reshape(-1, skeleton.num_joints).mean(0)  # (J,)
    return torch.cat((rest[:1], _unit(rest[1:]) * lengths[1:, None]), dim=0)
