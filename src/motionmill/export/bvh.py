"""BVH (Biovision hierarchy) writer and reader.

The writer uses the rotations stored in the 272 block directly (no inverse kinematics), with rest offsets along the
SMPL rest directions scaled to the motion's own bone lengths, so reading the file back and running forward
kinematics reproduces the motion's joints. The reader parses any BVH (channels in any order), runs FK, and maps
SMPL-like joint names (a name table, below) onto the SMPL-22 skeleton for import.

Units: files are written in centimetres (the common mocap convention); the reader converts to metres, detecting
centimetre files from the skeleton size unless told.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionmill.motion.container import Motion
from motionmill.motion.rotations import euler_to_matrix, matrix_to_euler
from motionmill.motion.skeleton import SMPL22, forward_kinematics
from motionmill.utils.io import atomic_write

__all__ = ["BvhData", "bvh_to_motion", "read_bvh", "write_bvh"]

# End-site offsets (metres) of the leaf joints, along their rest direction: toe tip, head top, fingertip.
_END_SITES = {"L_Foot": (0.0, -0.02, 0.06), "R_Foot": (0.0, -0.02, 0.06), "Head": (0.0, 0.12, 0.0),
              "L_Wrist": (0.08, 0.0, 0.0), "R_Wrist": (-0.08, 0.0, 0.0)}  # fmt: skip

# Common names for the SMPL-22 joints in BVH files (lower case, separators removed) -> SMPL-22 name.
_ALIASES = {
    "pelvis": "Pelvis", "hips": "Pelvis", "hip": "Pelvis", "root": "Pelvis",
    "spine1": "Spine1", "spine": "Spine1", "spine2": "Spine2", "spine3": "Spine3", "chest": "Spine3",
    "neck": "Neck", "head": "Head",
}  # fmt: skip
_SIDED = {
    "hip": "Hip", "upleg": "Hip", "thigh": "Hip", "upperleg": "Hip",
    "knee": "Knee", "leg": "Knee", "lowerleg": "Knee", "shin": "Knee", "calf": "Knee",
    "ankle": "Ankle", "foot": "Ankle", "toe": "Foot", "toebase": "Foot", "toes": "Foot", "ball": "Foot",
    "collar": "Collar", "shoulder": "Collar", "clavicle": "Collar",
    "arm": "Shoulder", "uparm": "Shoulder", "upperarm": "Shoulder",
    "elbow": "Elbow", "forearm": "Elbow", "lowerarm": "Elbow",
    "wrist": "Wrist", "hand": "Wrist",
}  # fmt: skip
# In SMPL naming "Foot" is the toe joint and "Shoulder" the upper arm; exact SMPL names win over the table.
_SMPL_EXACT = {n.lower().replace("_", ""): n for n in SMPL22.joint_names}


@dataclass
class BvhData:
    """A parsed BVH file (lengths in the file's units unless converted)."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    """(J, 3) offsets from the parent."""
    channels: list[list[str]]
    """Channel names per joint, e.g. ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]."""
    frame_time: float
    values: np.ndarray
    """(T, C) channel values, rotations in degrees."""

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def rotations(self) -> np.ndarray:
        """(T, J, 3, 3) local rotations (the root's is global)."""
        T, J = self.values.shape[0], len(self.names)
        out = np.tile(np.eye(3), (T, J, 1, 1))
        col = 0
        for j, chans in enumerate(self.channels):
            rot = [c for c in chans if c.lower().endswith("rotation")]
            idx = [col + i for i, c in enumerate(chans) if c.lower().endswith("rotation")]
            if rot:
                order = "".join(c[0].upper() for c in rot)
                out[:, j] = euler_to_matrix(np.radians(self.values[:, idx]), order)
            col += len(chans)
        return out

    def root_positions(self) -> np.ndarray:
        """(T, 3) root positions: the position channels added to the root's offset."""
        chans = [c.lower() for c in self.channels[0]]
        pos = np.tile(self.offsets[0], (self.values.shape[0], 1))
        for axis, name in enumerate(("xposition", "yposition", "zposition")):
            if name in chans:
                pos[:, axis] += self.values[:, chans.index(name)]
        return pos

    def joints(self) -> np.ndarray:
        """(T, J, 3) joint positions by forward kinematics, in the file's units."""
        pos, _ = forward_kinematics(torch.from_numpy(self.rotations()), torch.from_numpy(self.root_positions()),
                                    torch.from_numpy(self.offsets), tuple(self.parents))  # fmt: skip
        return pos.numpy()


def write_bvh(motion: Motion, path: str | Path, order: str = "ZYX", scale: float = 100.0) -> None:
    """Write a motion as BVH, one joint per SMPL-22 joint, rotations from the 272 block.

    Args:
        motion: the motion.
        path: output file.
        order: Euler channel order of every joint.
        scale: file units per metre (100: centimetres).
    """
    sk = motion.skeleton
    offsets = motion.bone_offsets() * scale
    lines = ["HIERARCHY"]
    dfs: list[int] = []

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        dfs.append(j)
        kind = "ROOT" if j == 0 else "JOINT"
        off = (0.0, 0.0, 0.0) if j == 0 else offsets[j]
        rot_ch = " ".join(f"{a}rotation" for a in order)
        ch = f"CHANNELS 6 Xposition Yposition Zposition {rot_ch}" if j == 0 else f"CHANNELS 3 {rot_ch}"
        lines.extend([f"{pad}{kind} {sk.joint_names[j]}", f"{pad}{{", f"{pad}  OFFSET {_fmt(off)}", f"{pad}  {ch}"])
        kids = sk.children[j]
        for c in kids:
            emit(c, depth + 1)
        if not kids:
            end = np.asarray(_END_SITES.get(sk.joint_names[j], (0.0, 0.05, 0.0))) * scale
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {_fmt(end)}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    euler = np.degrees(matrix_to_euler(motion.rotations(), order))  # (T, J, 3)
    root = motion.root_positions() * scale
    frames = np.concatenate((root, euler[:, dfs].reshape(motion.num_frames, -1)), axis=1)
    lines += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in frames]
    atomic_write(path, "\n".join(lines) + "\n")


def _fmt(v) -> str:
    return " ".join(f"{x:.6f}" for x in v)


def read_bvh(path: str | Path) -> BvhData:
    """Parse a BVH file; raises ValueError naming the file and the problem on malformed input."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text BVH file") from None
    try:
        return _parse(text)
    except (ValueError, IndexError) as e:
        raise ValueError(f"{path}: malformed BVH ({e})") from None


def _parse(text: str) -> BvhData:
    tokens = text.split()
    if not tokens or tokens[0] != "HIERARCHY":
        raise ValueError("missing HIERARCHY header")
    names, parents, offsets, channels = [], [], [], []
    stack: list[int] = []
    i, in_end = 1, False
    while tokens[i] != "MOTION":
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append([])
            i += 2
        elif tok == "End":
            in_end, i = True, i + 2
        elif tok == "{":
            if not in_end:
                stack.append(len(names) - 1)
            i += 1
        elif tok == "}":
            if in_end:
                in_end = False
            else:
                stack.pop()
            i += 1
        elif tok == "OFFSET":
            if not in_end:
                offsets[-1] = [float(v) for v in tokens[i + 1 : i + 4]]
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            channels[-1] = tokens[i + 2 : i + 2 + n]
            i += 2 + n
        else:
            raise ValueError(f"unexpected token {tok!r} in the hierarchy")
    if not names or parents[0] != -1:
        raise ValueError("no ROOT joint")
    head = " ".join(tokens[i : i + 6])
    m = re.match(r"MOTION Frames: (\d+) Frame Time: (\S+)", head)
    if not m:
        raise ValueError("missing 'Frames:' / 'Frame Time:' lines")
    n_frames, frame_time = int(m.group(1)), float(m.group(2))
    n_ch = sum(len(c) for c in channels)
    data = np.asarray([float(v) for v in tokens[i + 6 :]], dtype=np.float64)
    if data.size != n_frames * n_ch or frame_time <= 0:
        raise ValueError(f"expected {n_frames} frames of {n_ch} channels, found {data.size} values")
    return BvhData(names, parents, np.asarray(offsets, np.float64), channels, frame_time,
                   data.reshape(n_frames, n_ch))  # fmt: skip


def smpl_name(name: str) -> str | None:
    """Map a BVH joint name to an SMPL-22 joint name, or None."""
    key = re.sub(r"[^a-z0-9]", "", name.lower().split(":")[-1])
    if key in _SMPL_EXACT:
        return _SMPL_EXACT[key]
    if key in _ALIASES:
        return _ALIASES[key]
    for prefix, side in (("left", "L_"), ("right", "R_"), ("l", "L_"), ("r", "R_")):
        if key.startswith(prefix) and key[len(prefix) :] in _SIDED:
            return side + _SIDED[key[len(prefix) :]]
    return None


def bvh_to_motion(path: str | Path, units: str = "auto") -> Motion:
    """Import a BVH with SMPL-like joints as a Motion.

    Rotations are taken from the file when its skeleton is exactly the 22 SMPL joints with rest offsets pointing the
    SMPL way (within 15 degrees); otherwise the 22 mapped joint positions go through inverse kinematics
    (meta["rotations"] = "ik").

    Args:
        path: the BVH file.
        units: "m", "cm" or "auto" (centimetres when the rest skeleton is taller than 5 units).
    """
    bvh = read_bvh(path)
    mapped = {smpl_name(n): j for j, n in enumerate(bvh.names)}
    missing = [n for n in SMPL22.joint_names if n not in mapped]
    if missing:
        raise ValueError(f"{path}: cannot map BVH joints onto SMPL-22; unmapped: {missing}; joints in file: "
                         f"{bvh.names}")  # fmt: skip
    idx = [mapped[n] for n in SMPL22.joint_names]
    scale = _unit_scale(bvh, units)
    joints = bvh.joints()[:, idx] * scale
    if bvh.values.shape[0] < 2:
        raise ValueError(f"{path}: a motion needs at least 2 frames, the file has {bvh.values.shape[0]}")
    if _same_rest_as_smpl(bvh, idx):
        return Motion.from_rotations(bvh.rotations()[:, idx], joints, bvh.fps, meta={"rotations": "bvh"})
    return Motion.from_joints(joints, bvh.fps)


def _unit_scale(bvh: BvhData, units: str) -> float:
    if units == "m":
        return 1.0
    if units == "cm":
        return 0.01
    if units != "auto":
        raise ValueError(f"units must be 'm', 'cm' or 'auto', got {units!r}")
    height = np.ptp(_rest_positions(bvh)[:, 1])
    return 0.01 if height > 5.0 else 1.0


def _rest_positions(bvh: BvhData) -> np.ndarray:
    pos = np.zeros_like(bvh.offsets)
    for j, p in enumerate(bvh.parents):
        pos[j] = bvh.offsets[j] + (pos[p] if p >= 0 else 0.0)
    return pos


def _same_rest_as_smpl(bvh: BvhData, idx: list[int]) -> bool:
    """True when the file is exactly the 22 joints, parented as SMPL, with rest bones along SMPL's directions."""
    if len(bvh.names) != 22 or [bvh.parents[j] for j in idx[1:]] != [idx[p] for p in SMPL22.parents[1:]]:
        return False
    a, b = bvh.offsets[idx[1:]], SMPL22.offsets[1:]
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)
    return bool((cos > np.cos(np.radians(15))).all())
