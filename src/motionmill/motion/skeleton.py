"""The SMPL-22 body skeleton as data, and forward kinematics.

Joint order, parents, drawing chains and mirror pairs follow the SMPL body model (first 22 joints) as used by
HumanML3D and MotionMillion (docs/representation.md). The rest pose is a T-pose facing +Z with left = +X and y up, in
metres; its joint positions approximate the SMPL neutral template, made exactly left/right symmetric so that
mirroring a motion keeps its bone lengths.

Shape legend: T frames, J joints, ... leading batch dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["SMPL22", "SkeletonSpec", "bone_lengths", "forward_kinematics"]


@dataclass(frozen=True)
class SkeletonSpec:
    """A kinematic tree with a rest pose."""

    name: str
    """Short identifier, e.g. "smpl22"."""
    joint_names: tuple[str, ...]
    """One name per joint, in storage order."""
    parents: tuple[int, ...]
    """Parent index per joint; -1 for the root. Parents always come before their children."""
    rest_joints: tuple[tuple[float, float, float], ...]
    """Absolute rest-pose (T-pose) joint positions in metres; the root entry is the rest pelvis position."""
    chains: tuple[tuple[int, ...], ...] = ()
    """Joint paths drawn as polylines by renderers."""
    mirror_pairs: tuple[tuple[int, int], ...] = ()
    """(left, right) joint pairs swapped by a left/right mirror."""
    foot_joints: tuple[int, ...] = ()
    """Joints that touch the ground when standing (used by contact and skating measures)."""
    _cache: dict = field(default_factory=dict, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(self.parents) != n or len(self.rest_joints) != n:
            raise ValueError(f"skeleton {self.name}: names, parents and rest_joints must have the same length")
        for j, p in enumerate(self.parents):
            if (j == 0) != (p == -1) or p >= j:
                raise ValueError(f"skeleton {self.name}: joint {j} has parent {p}; the root must be first")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def offsets(self) -> np.ndarray:
        """(J, 3) rest offsets from each joint's parent; row 0 is the rest root position."""
        rest = np.asarray(self.rest_joints, dtype=np.float64)
        out = rest.copy()
        out[1:] -= rest[list(self.parents[1:])]
        return out

    @property
    def children(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(c for c, p in enumerate(self.parents) if p == j) for j in range(self.num_joints))

    @property
    def mirror_index(self) -> np.ndarray:
        """Permutation that swaps every left joint with its right twin."""
        perm = np.arange(self.num_joints)
        for a, b in self.mirror_pairs:
            perm[a], perm[b] = b, a
        return perm

    def index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(f"skeleton {self.name} has no joint named {name!r}") from None


def _symmetric(left: dict[str, tuple[float, float, float]], center: dict[str, tuple[float, float, float]]):
    """Expand left-side joints to L_/R_ pairs (x negated on the right) and keep centre joints as given."""
    table = dict(center)
    for name, (x, y, z) in left.items():
        table["L_" + name] = (x, y, z)
        table["R_" + name] = (-x, y, z)
    return table


# Rest joint positions (metres): the SMPL neutral template's joints, averaged across left and right.
_REST = _symmetric(
    left={
        "Hip": (0.0686, -0.3147, 0.0249),
        "Knee": (0.1048, -0.6944, 0.0230),
        "Ankle": (0.0901, -1.0951, -0.0155),
        "Foot": (0.1189, -1.1520, 0.1081),
        "Collar": (0.0774, 0.1924, 0.0163),
        "Shoulder": (0.1609, 0.2402, 0.0074),
        "Elbow": (0.4210, 0.2232, -0.0305),
        "Wrist": (0.6671, 0.2368, -0.0338),
    },
    center={
        "Pelvis": (0.0, -0.2233, 0.0282),
        "Spine1": (0.0, -0.1040, 0.0026),
        "Spine2": (0.0, 0.0342, 0.0291),
        "Spine3": (0.0, 0.0886, 0.0319),
        "Neck": (0.0, 0.2925, 0.0044),
        "Head": (0.0, 0.3812, 0.0552),
    },
)

_SMPL_NAMES = (
    "Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle", "Spine3", "L_Foot",
    "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist",
    "R_Wrist",
)  # fmt: skip

SMPL22 = SkeletonSpec(
    name="smpl22",
    joint_names=_SMPL_NAMES,
    parents=(-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19),
    rest_joints=tuple(_REST[n] for n in _SMPL_NAMES),
    chains=((0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15), (9, 14, 17, 19, 21), (9, 13, 16, 18, 20)),
    mirror_pairs=((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21)),
    foot_joints=(7, 8, 10, 11),
)


def forward_kinematics(
    rotations: torch.Tensor, root_positions: torch.Tensor, offsets: torch.Tensor, parents: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint positions and global rotations from local rotations.

    Args:
        rotations: (..., J, 3, 3); entry 0 is the root's global rotation, the others are parent-relative.
        root_positions: (..., 3) world position of the root joint.
        offsets: (J, 3) or (..., J, 3) rest offsets from each parent (row 0 is ignored).
        parents: parent index per joint, parents before children.

    Returns:
        positions (..., J, 3) and global rotations (..., J, 3, 3).
    """
    offsets = torch.as_tensor(offsets, dtype=rotations.dtype, device=rotations.device)
    offsets = offsets.expand(rotations.shape[:-2] + (3,))
    glob = [rotations[..., 0, :, :]]
    pos = [root_positions]
    for j in range(1, len(parents)):
        p = parents[j]
        pos.append(pos[p] + (glob[p] @ offsets[..., j, :, None])[..., 0])
        glob.append(glob[p] @ rotations[..., j, :, :])
    return torch.stack(pos, dim=-2), torch.stack(glob, dim=-3)


def bone_lengths(joints: np.ndarray | torch.Tensor, parents: tuple[int, ...]):
    """(..., J, 3) positions -> (..., J) distance of each joint to its parent (0 for the root)."""
    if isinstance(joints, torch.Tensor):
        diff = joints[..., 1:, :] - joints[..., list(parents[1:]), :]
        return torch.cat((torch.zeros_like(diff[..., :1, 0]), diff.norm(dim=-1)), dim=-1)
    diff = joints[..., 1:, :] - joints[..., list(parents[1:]), :]
    return np.concatenate((np.zeros_like(diff[..., :1, 0]), np.linalg.norm(diff, axis=-1)), axis=-1)
