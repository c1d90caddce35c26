"""glTF 2.0 binary (GLB) writer: the SMPL-22 skeleton, a skinned capsule body and the motion as one animation.

Layout of the file:

- nodes 0..21 are the joints, in SMPL-22 order, parented as SMPL (the pelvis is a root of the scene). Each joint's
  rest `translation` is its offset from its parent, the same offsets `export/bvh.py` writes (SMPL rest directions,
  the motion's own mean bone lengths), and its rest `rotation` is the identity, so the rest pose is the T-pose the
  offsets describe. The pelvis rests at x = z = 0, at the height that puts the lowest rest joint on the floor.
- node 22, "Body", is a root of the scene holding the skinned mesh: one capsule per bone (from a joint to each child,
  and from each leaf joint to the BVH end site: toe tip, head top, fingertip), every vertex bound to the bone's
  parent joint with weight 1 (JOINTS_0 / WEIGHTS_0). Rigid binding moves each capsule exactly with its bone, so the
  body never hides a mismatch with the skeleton. `inverseBindMatrices` are the inverses of the joints' rest world
  transforms. The mesh node has no transform of its own and no parent, as glTF requires of skinned meshes.
- one animation: per joint a `rotation` channel (unit quaternions x, y, z, w, the parent-relative rotations of the
  272 block, root global), and a `translation` channel on the pelvis (its world position), keyed at every frame,
  times frame / fps, LINEAR (slerp for rotations). Consecutive quaternions keep to one hemisphere so that slerp
  between frames takes the short way. The frame rate is also stored in the animation's `extras`.

Rotations, rest offsets and root positions are those `write_bvh` uses (`Motion.rotations`, `Motion.bone_offsets`,
`Motion.root_positions`; no inverse kinematics here), so a motion's GLB and BVH are the same performance, and forward
kinematics of either reproduces `Motion.joints`.

Axes and units need no conversion: glTF is metres, +Y up, right-handed, with an asset's front facing +Z, and so is
the motion (left = +X, facing +Z at rest). Importers convert from glTF's conventions to their own (Blender to Z up,
Unity to its left-handed axes, Unreal also to centimetres); three.js uses them as they are.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from motionmill.export.bvh import _END_SITES, RIG_NAMES
from motionmill.motion.container import Motion
from motionmill.motion.rotations import matrix_to_quat, rotation_between
from motionmill.motion.skeleton import SMPL22
from motionmill.utils.io import atomic_write

__all__ = ["BODY_RADII", "motion_to_glb", "write_glb"]

# Capsule radius (metres) of the bone ending at each joint (by name without the L_/R_ side), and of the end-site
# bones leaving the leaf joints (keyed "<leaf>_end"); chosen to read as a body, not as a fitted shape.
BODY_RADII = {"Hip": 0.07, "Spine1": 0.10, "Knee": 0.07, "Ankle": 0.05, "Spine2": 0.10, "Foot": 0.04,
              "Spine3": 0.11, "Neck": 0.06, "Collar": 0.05, "Head": 0.05, "Shoulder": 0.05, "Elbow": 0.045,
              "Wrist": 0.04, "Foot_end": 0.035, "Head_end": 0.09, "Wrist_end": 0.035}  # fmt: skip
_SEGMENTS, _RINGS = 12, 4  # capsule resolution: around the bone, and rings per hemisphere

# glTF enumerations
_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_TYPES = {1: "SCALAR", 3: "VEC3", 4: "VEC4", 16: "MAT4"}
_GLB_MAGIC, _GLB_JSON, _GLB_BIN = 0x46546C67, 0x4E4F534A, 0x004E4942  # "glTF", "JSON", "BIN\0"


def write_glb(motion: Motion, path: str | Path, rig: str = "smpl", title: str = "") -> None:
    """Write `motion` as a GLB file (atomically); see `motion_to_glb`."""
    atomic_write(path, motion_to_glb(motion, rig=rig, title=title))


def motion_to_glb(motion: Motion, rig: str = "smpl", title: str = "") -> bytes:
    """The motion as a GLB: SMPL-22 joints as nodes, a skinned capsule body, one animation at the motion's fps.

    Args:
        motion: the motion.
        rig: joint names, a key of `export.bvh.RIG_NAMES` ("smpl" or "mixamo"), as for BVH.
        title: the animation's name (default "motion").
    """
    if rig not in RIG_NAMES:
        raise ValueError(f"rig must be one of {sorted(RIG_NAMES)}, got {rig!r}")
    if motion.skeleton.joint_names != SMPL22.joint_names:
        raise ValueError(f"GLB export needs the SMPL-22 skeleton, got {motion.skeleton.name}")
    offsets = motion.bone_offsets()  # the BVH export's rest offsets
    rest = _rest_positions(offsets, SMPL22.parents)
    buf = _Buffer()
    doc = {
        "asset": {"version": "2.0", "generator": "motionmill"},
        "scene": 0,
        "scenes": [{"name": title or "motion", "nodes": [0, SMPL22.num_joints]}],
        "nodes": _joint_nodes(RIG_NAMES[rig], rest),
        "materials": [{"name": "body", "pbrMetallicRoughness": {"baseColorFactor": [0.72, 0.75, 0.8, 1.0],
                                                                 "metallicFactor": 0.0, "roughnessFactor": 0.8}}],
    }  # fmt: skip
    doc["nodes"].append({"name": "Body", "mesh": 0, "skin": 0})
    doc["meshes"] = [{"name": "Body", "primitives": [_body_primitive(buf, rest)]}]
    doc["skins"] = [_skin(buf, rest)]
    doc["animations"] = [_animation(buf, motion, title or "motion")]
    doc["buffers"] = [{"byteLength": len(buf.data)}]
    doc["bufferViews"], doc["accessors"] = buf.views, buf.accessors
    return _glb(doc, bytes(buf.data))


def _rest_positions(offsets: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    """(J, 3) rest world positions of the joints: the offsets chained, the pelvis above the origin with the lowest
    joint on the floor (y = 0), so the bind pose stands where a scene's origin is."""
    rel = np.zeros_like(offsets)
    for j in range(1, len(parents)):
        rel[j] = rel[parents[j]] + offsets[j]
    return rel + np.array([0.0, -rel[:, 1].min(), 0.0])


def _joint_nodes(names: tuple[str, ...], rest: np.ndarray) -> list[dict]:
    nodes = []
    for j, name in enumerate(names):
        parent = SMPL22.parents[j]
        offset = rest[j] - (rest[parent] if parent >= 0 else 0.0)
        node = {"name": name, "translation": [float(v) for v in offset]}
        if SMPL22.children[j]:
            node["children"] = list(SMPL22.children[j])
        nodes.append(node)
    return nodes


def _skin(buf: _Buffer, rest: np.ndarray) -> dict:
    # rest joints are unrotated, so each inverse bind matrix only translates by -rest; stored column-major
    ibm = np.tile(np.eye(4), (len(rest), 1, 1))
    ibm[:, :3, 3] = -rest
    ibm = ibm.transpose(0, 2, 1).reshape(len(rest), 16)
    return {"name": "Armature", "joints": list(range(len(rest))), "skeleton": 0,
            "inverseBindMatrices": buf.accessor(ibm, _FLOAT)}  # fmt: skip


def _animation(buf: _Buffer, motion: Motion, name: str) -> dict:
    times = np.arange(motion.num_frames) / motion.fps
    quats = _continuous(matrix_to_quat(motion.rotations())[..., [1, 2, 3, 0]])  # (w, x, y, z) -> glTF's (x, y, z, w)
    time_acc = buf.accessor(times, _FLOAT, minmax=True)  # glTF requires the bounds of sampler inputs
    samplers = [{"input": time_acc, "output": buf.accessor(quats[:, j], _FLOAT), "interpolation": "LINEAR"}
                for j in range(quats.shape[1])]  # fmt: skip
    channels = [{"sampler": j, "target": {"node": j, "path": "rotation"}} for j in range(quats.shape[1])]
    samplers.append({"input": time_acc, "output": buf.accessor(motion.root_positions(), _FLOAT),
                     "interpolation": "LINEAR"})  # fmt: skip
    channels.append({"sampler": len(samplers) - 1, "target": {"node": 0, "path": "translation"}})
    return {"name": name, "samplers": samplers, "channels": channels,
            "extras": {"fps": float(motion.fps), "frames": motion.num_frames}}  # fmt: skip


def _continuous(q: np.ndarray) -> np.ndarray:
    """(T, J, 4) quaternions with the sign of each chosen to stay in the previous frame's hemisphere (q and -q are
    one rotation, but slerp from q to -q spins a full turn), unit length in float32 as the validator checks."""
    flips = np.where((q[1:] * q[:-1]).sum(-1) < 0, -1.0, 1.0)
    signs = np.concatenate((np.ones_like(q[:1, :, 0]), np.cumprod(flips, axis=0)))
    q = q * signs[..., None]
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _body_primitive(buf: _Buffer, rest: np.ndarray) -> dict:
    """One capsule per bone, rigidly bound to the bone's parent joint."""
    positions, normals, joints, indices = [], [], [], []
    for joint, start, end, radius in _bones(rest):
        p, n, i = _capsule(start, end, radius)
        indices.append(i + sum(len(x) for x in positions))
        positions.append(p)
        normals.append(n)
        joints.append(np.full(len(p), joint))
    positions, normals, index = np.concatenate(positions), np.concatenate(normals), np.concatenate(indices).ravel()
    skin_joints = np.zeros((len(positions), 4), np.uint8)
    skin_joints[:, 0] = np.concatenate(joints)  # unused slots stay joint 0 with weight 0, as glTF asks
    weights = np.zeros((len(positions), 4))
    weights[:, 0] = 1.0
    index_type = _USHORT if len(positions) < 65536 else _UINT
    attributes = {
        "POSITION": buf.accessor(positions, _FLOAT, _ARRAY_BUFFER, minmax=True),  # bounds required for POSITION
        "NORMAL": buf.accessor(normals, _FLOAT, _ARRAY_BUFFER),
        "JOINTS_0": buf.accessor(skin_joints, _UBYTE, _ARRAY_BUFFER),
        "WEIGHTS_0": buf.accessor(weights, _FLOAT, _ARRAY_BUFFER),
    }
    return {"attributes": attributes, "indices": buf.accessor(index, index_type, _ELEMENT_ARRAY_BUFFER),
            "material": 0, "mode": 4}  # fmt: skip


def _bones(rest: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray, float]]:
    """(joint the capsule moves with, start, end, radius) per bone, end-site bones of the leaf joints included."""
    out = []
    for j, name in enumerate(SMPL22.joint_names):
        for c in SMPL22.children[j]:
            out.append((j, rest[j], rest[c], BODY_RADII[_side_free(SMPL22.joint_names[c])]))
        if not SMPL22.children[j]:
            end = rest[j] + np.asarray(_END_SITES[name])
            out.append((j, rest[j], end, BODY_RADII[_side_free(name) + "_end"]))
    return out


def _side_free(name: str) -> str:
    return name[2:] if name[:2] in ("L_", "R_") else name


def _capsule(start: np.ndarray, end: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions (V, 3), unit normals (V, 3), triangles (F, 3) counter-clockwise seen from outside) of a capsule
    around the segment start-end: a pole, rings of latitude over two hemispheres, a pole."""
    lat = np.concatenate((np.linspace(-np.pi / 2, 0, _RINGS + 1)[1:], np.linspace(0, np.pi / 2, _RINGS + 1)[:-1]))
    lon = np.arange(_SEGMENTS) * 2 * np.pi / _SEGMENTS
    ring_n = np.stack(np.broadcast_arrays(np.cos(lat)[:, None] * np.sin(lon), np.sin(lat)[:, None],
                                          np.cos(lat)[:, None] * np.cos(lon)), -1).reshape(-1, 3)  # fmt: skip
    n = np.concatenate(([[0.0, -1.0, 0.0]], ring_n, [[0.0, 1.0, 0.0]]))
    length = float(np.linalg.norm(end - start))
    top = np.concatenate(([False], np.repeat(np.arange(2 * _RINGS) >= _RINGS, _SEGMENTS), [True]))
    local = n * radius + np.where(top, length, 0.0)[:, None] * np.array([0.0, 1.0, 0.0])  # hemispheres' centres
    turn = np.asarray(rotation_between(np.array([0.0, 1.0, 0.0]), end - start), np.float64)
    # triangles: fans at the poles, two per quad between rings; ring r, segment s is vertex 1 + r * S + s
    S, last = _SEGMENTS, 1 + 2 * _RINGS * _SEGMENTS
    s, s1 = np.arange(S), (np.arange(S) + 1) % S
    tris = [np.stack((np.zeros(S, int), 1 + s1, 1 + s), -1)]
    for r in range(2 * _RINGS - 1):
        a, b = 1 + r * S, 1 + (r + 1) * S
        tris += [np.stack((a + s, a + s1, b + s1), -1), np.stack((a + s, b + s1, b + s), -1)]
    tris.append(np.stack((np.full(S, last), last - S + s, last - S + s1), -1))
    return local @ turn.T + start, n @ turn.T, np.concatenate(tris)


class _Buffer:
    """The binary chunk being built, with one bufferView and one accessor per array added."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def accessor(self, array: np.ndarray, component: int, target: int | None = None, minmax: bool = False) -> int:
        """Append `array` ((N,) or (N, k)) as `component`s; returns the accessor's index."""
        dtype = {_FLOAT: np.float32, _UBYTE: np.uint8, _USHORT: np.uint16, _UINT: np.uint32}[component]
        array = np.ascontiguousarray(array, dtype=dtype)
        rows = array.reshape(len(array), -1)
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": array.nbytes}
        if target is not None:
            view["target"] = target
        self.data += array.tobytes()
        self.data += b"\0" * (-len(self.data) % 4)  # every view starts 4-byte aligned
        self.views.append(view)
        acc = {"bufferView": len(self.views) - 1, "componentType": component, "count": len(rows),
               "type": _TYPES[rows.shape[1]]}  # fmt: skip
        if minmax:  # the stored (rounded) values' bounds: validators compare them exactly
            acc["min"], acc["max"] = rows.min(0).tolist(), rows.max(0).tolist()
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _glb(doc: dict, binary: bytes) -> bytes:
    """The GLB container: 12-byte header, JSON chunk padded with spaces, BIN chunk padded with zeros."""
    text = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    length = 12 + 8 + len(text) + 8 + len(binary)
    return (struct.pack("<III", _GLB_MAGIC, 2, length) + struct.pack("<II", len(text), _GLB_JSON) + text
            + struct.pack("<II", len(binary), _GLB_BIN) + binary)  # fmt: skip
