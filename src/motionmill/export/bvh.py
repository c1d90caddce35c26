"""BVH (Biovision hierarchy) writer and reader.

The writer uses the rotations stored in the 272 block directly (no inverse kinematics), with rest offsets along the
SMPL rest directions scaled to the motion's own bone lengths, so reading the file back and running forward
kinematics reproduces the motion's joints. The reader parses any BVH (channels in any order), runs FK, identifies
the rig from its whole joint set and hierarchy (`export/rigs.py`: SMPL, SMPL-X and MotionMillion's names, Mixamo,
CMU, Biovision, 3ds Max Biped, Unreal's mannequin) and maps it onto the SMPL-22 skeleton for import, synthesising
the joints the rig lacks.

Units: files are written in metres by default, as MotionMillion writes them and as Blender reads BVH at unit scale
(`units="cm"` for tools that expect centimetres). The reader finds the units (metres, centimetres, millimetres,
inches, or CMU's 1/0.45 inch) and the up axis (Y or Z) from the size and shape of the rest skeleton, unless told.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionmill.export.rigs import match_rig, smpl_joints
from motionmill.motion.container import Motion
from motionmill.motion.rotations import euler_to_matrix, matrix_to_euler
from motionmill.motion.skeleton import SMPL22, forward_kinematics
from motionmill.utils.io import atomic_write

__all__ = ["RIG_NAMES", "UNITS", "BvhData", "bvh_to_motion", "read_bvh", "write_bvh"]

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254, "cmu": 0.0254 / 0.45}
"""Metres per file unit. "cmu": CMU's Acclaim length unit (1/0.45 inch), kept by its BVH conversions."""
UP_AXES = ("y", "z")
HUMAN_HEIGHT = 1.7  # metres: the unit found is the one that makes the rest skeleton closest to this height

# End-site offsets (metres) of the leaf joints, along their rest direction: toe tip, head top, fingertip.
_END_SITES = {"L_Foot": (0.0, -0.02, 0.06), "R_Foot": (0.0, -0.02, 0.06), "Head": (0.0, 0.12, 0.0),
              "L_Wrist": (0.08, 0.0, 0.0), "R_Wrist": (-0.08, 0.0, 0.0)}  # fmt: skip

# Joint names of the rigs BVH files can be written for; the hierarchy is SMPL-22's, which these rigs share.
RIG_NAMES = {
    "smpl": SMPL22.joint_names,
    "mixamo": tuple("mixamorig:" + n for n in (
        "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot",
        "Spine2", "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm",
        "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand")),
}  # fmt: skip


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


def write_bvh(motion: Motion, path: str | Path, order: str = "ZYX", units: str = "m", rig: str = "smpl") -> None:
    """Write a motion as BVH, one joint per SMPL-22 joint, rotations from the 272 block.

    Args:
        motion: the motion.
        path: output file.
        order: Euler channel order of every joint.
        units: length unit of the file, a key of `UNITS` ("m", as MotionMillion and Blender; "cm" for tools that
            expect centimetres).
        rig: joint names, a key of `RIG_NAMES`: "smpl" or "mixamo" (drives a Mixamo character without mapping
            bones by hand; the bones keep the motion's own lengths).
    """
    if units not in UNITS:
        raise ValueError(f"BVH units must be one of {sorted(UNITS)}, got {units!r}")
    if rig not in RIG_NAMES:
        raise ValueError(f"rig must be one of {sorted(RIG_NAMES)}, got {rig!r}")
    sk, names, scale = motion.skeleton, RIG_NAMES[rig], 1.0 / UNITS[units]
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
        lines.extend([f"{pad}{kind} {names[j]}", f"{pad}{{", f"{pad}  OFFSET {_fmt(off)}", f"{pad}  {ch}"])
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


def bvh_to_motion(path: str | Path, units: str = "auto", up: str = "auto") -> Motion:
    """Import a BVH of any common rig as a Motion on SMPL-22.

    Rotations are taken from the file when its skeleton is exactly the 22 SMPL joints, y up, with rest offsets
    pointing the SMPL way (within 15 degrees); otherwise the 22 joint positions (those the rig lacks synthesised)
    go through inverse kinematics (meta["rotations"] = "ik"). meta also names the rig profile, the synthesised
    joints, the units and the up axis.

    Args:
        path: the BVH file.
        units: a key of `UNITS`, or "auto": the unit that makes the rest skeleton closest to a human's height.
        up: "y", "z", or "auto": the axis from the feet to the head of the rest skeleton.
    """
    bvh = read_bvh(path)
    if bvh.values.shape[0] < 2:
        raise ValueError(f"{path}: a motion needs at least 2 frames, the file has {bvh.values.shape[0]}")
    try:
        rest = _rest_positions(bvh)
        match = match_rig(bvh.names, bvh.parents, rest)
        up = _up_axis(rest, match.source, up)
        turn = np.eye(3) if up == "y" else np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # z up -> y up
        units = _units(rest @ turn.T, match.source, units)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    joints = smpl_joints(bvh.joints() @ turn.T * UNITS[units], match)
    meta = {"rig": match.profile, "synthesised_joints": match.synthesised, "units": units, "up": up}
    idx = [match.source.get(n) for n in SMPL22.joint_names]
    if up == "y" and not match.synthesised and _same_rest_as_smpl(bvh, idx):
        return Motion.from_rotations(bvh.rotations()[:, idx], joints, bvh.fps, meta={"rotations": "bvh", **meta})
    motion = Motion.from_joints(joints, bvh.fps)
    motion.meta.update(meta)
    return motion


def _up_axis(rest: np.ndarray, source: dict[str, int], up: str) -> str:
    if up in UP_AXES:
        return up
    if up != "auto":
        raise ValueError(f"up must be one of {UP_AXES} or 'auto', got {up!r}")
    rise = rest[source["Head"]] - (rest[source["L_Ankle"]] + rest[source["R_Ankle"]]) / 2
    if rise[1] > 0 and rise[1] >= abs(rise[2]):
        return "y"
    if rise[2] > 0 and rise[2] > abs(rise[1]):
        return "z"
    raise ValueError(f"the rest skeleton's head is not above its feet along +Y or +Z (head - feet = {rise}); "
                     "pass --up")  # fmt: skip


def _units(rest: np.ndarray, source: dict[str, int], units: str) -> str:
    if units in UNITS:
        return units
    if units != "auto":
        raise ValueError(f"units must be one of {sorted(UNITS)} or 'auto', got {units!r}")
    height = rest[source["Head"], 1] - min(rest[source["L_Ankle"], 1], rest[source["R_Ankle"], 1])
    if not height > 0:
        raise ValueError("the rest skeleton has no height (head not above the ankles); pass --units")
    # ankle to head joint is about 0.85 of a person's height
    return min(UNITS, key=lambda u: abs(np.log(height * UNITS[u] / (0.85 * HUMAN_HEIGHT))))


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
