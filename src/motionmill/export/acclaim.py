"""CMU's Acclaim motion capture format: an ASF skeleton and AMC motions, read onto SMPL-22.

ASF: `:units` (length: file units per inch scale, CMU writes 0.45, so one unit is 1/0.45 inch; angle deg|rad),
`:root` (`order` of the root's AMC values, `axis` order of its orientation, `position`, `orientation`), `:bonedata`
(per bone: `name`, unit `direction`, `length`, `axis` angles and their order, `dof` names), `:hierarchy`.
AMC: optional `:FULLY-SPECIFIED`, `:DEGREES`/`:RADIANS`, then per frame its number and one line per bone with its
dof values in the ASF's dof order.

Kinematics: a bone's local frame is C = its `axis` rotation and its motion M = the AMC rotation; rotations named in
an order ("XYZ", or the dofs "rx ry rz") are applied about fixed axes in that order, so the matrix is Rz Ry Rx. A
bone's global rotation is L = L_parent C M C^-1, and its end = its start + L (direction * length); the root's
position comes from its TX TY TZ values and its rotation from its RX RY RZ values in the same way. CMU files are y up.

Shape legend: T frames, B bones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motionmill.export.rigs import RigMatch, smpl_joints
from motionmill.motion.container import Motion
from motionmill.motion.skeleton import SMPL22

__all__ = ["AsfSkeleton", "find_skeleton", "read_acclaim", "read_amc", "read_asf"]

INCH = 0.0254
CMU_FPS = 120.0
# SMPL-22 joint -> the CMU bone whose end it is ("root": the root position). The collars sit inside CMU's clavicle
# bones, which start at the thorax: they are synthesised between the thorax and the shoulder.
CMU_BONES = {"Pelvis": "root", "Spine1": "lowerback", "Spine2": "upperback", "Spine3": "thorax", "Neck": "lowerneck",
             "Head": "upperneck", **{f"{s.upper()}_{joint}": f"{s}{bone}" for s in "lr" for joint, bone in (
                 ("Hip", "hipjoint"), ("Knee", "femur"), ("Ankle", "tibia"), ("Foot", "foot"),
                 ("Shoulder", "clavicle"), ("Elbow", "humerus"), ("Wrist", "radius"))}}  # fmt: skip


@dataclass
class Bone:
    direction: np.ndarray
    length: float
    axis: np.ndarray
    """(3, 3) rotation of the bone's local frame."""
    dofs: list[str]


@dataclass
class AsfSkeleton:
    """A parsed ASF file, lengths in metres, angles in radians."""

    root_order: list[str]
    root_axis: np.ndarray
    metres_per_unit: float
    """Length of one file unit (CMU: 1/0.45 inch); the root's translations are in file units."""
    bones: dict[str, Bone] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    """Bone name -> parent bone name ("root" for the root's children), parents before children."""
    degrees: bool = True


def _rotation(angles, order: str) -> np.ndarray:
    """Rotations about the fixed axes in `order` (angles in radians, one per axis): R = R_last ... R_first."""
    out = np.eye(3)
    for angle, axis in zip(angles, order.lower(), strict=True):
        c, s = np.cos(angle), np.sin(angle)
        i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
        r = np.eye(3)
        r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
        out = r @ out
    return out


def _sections(text: str) -> dict[str, list[list[str]]]:
    """Lines of each `:keyword` section, split into words; comments (#) dropped."""
    sections, current = {}, None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            word, *rest = line[1:].split()
            current = sections.setdefault(word.lower(), [])
            if rest:
                current.append(rest)
        elif current is not None:
            current.append(line.split())
    return sections


def read_asf(path: str | Path) -> AsfSkeleton:
    """Parse an ASF skeleton; ValueError naming the file and the problem on malformed input."""
    path = Path(path)
    try:
        return _parse_asf(_sections(path.read_text(encoding="utf-8", errors="strict")))
    except (ValueError, KeyError, IndexError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: malformed ASF skeleton ({e})") from None


def _parse_asf(sections: dict) -> AsfSkeleton:
    units = {row[0].lower(): row[1] for row in sections.get("units", []) if len(row) >= 2}
    length = float(units.get("length", 1.0))
    degrees = units.get("angle", "deg").lower().startswith("deg")
    to_rad = np.pi / 180 if degrees else 1.0
    root = {row[0].lower(): row[1:] for row in sections["root"]}
    orientation = _rotation(np.array(root.get("orientation", [0, 0, 0]), float) * to_rad, root.get("axis", ["XYZ"])[0])
    sk = AsfSkeleton([d.lower() for d in root["order"]], orientation, INCH / length, degrees=degrees)
    bone: dict = {}
    for row in sections["bonedata"]:
        key = row[0].lower()
        if key == "begin":
            bone = {}
        elif key == "end":
            sk.bones[bone["name"][0]] = Bone(
                np.array(bone["direction"], float), float(bone["length"][0]) * INCH / length,
                _rotation(np.array(bone["axis"][:3], float) * to_rad, bone["axis"][3]),
                [d.lower() for d in bone.get("dof", [])])  # fmt: skip
        else:
            bone[key] = row[1:]
    for row in sections["hierarchy"]:
        if row[0].lower() in ("begin", "end"):
            continue
        for child in row[1:]:
            if child not in sk.bones:
                raise ValueError(f"the hierarchy names {child!r}, which :bonedata lacks")
            sk.parents[child] = row[0]
    if missing := sorted(set(sk.bones) - set(sk.parents)):
        raise ValueError(f"bones outside the hierarchy: {missing}")
    return sk


def read_amc(path: str | Path, skeleton: AsfSkeleton) -> dict[str, np.ndarray]:
    """Per bone (and "root") its (T, dofs) values, angles in radians; ValueError naming the file, the frame and the
    bone on a bone the ASF lacks, a wrong value count, or a truncated file."""
    path = Path(path)
    degrees, frames = skeleton.degrees, []
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(":"):
            degrees = {":degrees": True, ":radians": False}.get(line.lower(), degrees)
            continue
        words = line.split()
        if len(words) == 1 and words[0].isdigit():
            frames.append({})
            continue
        name = words[0]
        if name != "root" and name not in skeleton.bones:
            raise ValueError(f"{path}, line {number}: bone {name!r} is not in the ASF skeleton")
        dofs = skeleton.root_order if name == "root" else skeleton.bones[name].dofs
        if not frames or len(words) - 1 != len(dofs):
            raise ValueError(f"{path}, line {number}: {name} has {len(words) - 1} values, its ASF dofs are {dofs}")
        frames[-1][name] = np.array(words[1:], float)
    if len(frames) < 2 or any(f.keys() != frames[0].keys() for f in frames):
        raise ValueError(f"{path}: {len(frames)} frame(s), or frames that do not all name the same bones")
    out = {name: np.stack([f[name] for f in frames]) for name in frames[0]}
    for name, values in out.items():
        dofs = skeleton.root_order if name == "root" else skeleton.bones[name].dofs
        for k, dof in enumerate(dofs):
            if dof.startswith("r") and degrees:
                values[:, k] = np.radians(values[:, k])
    return out


def acclaim_positions(skeleton: AsfSkeleton, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(T, 3) positions in metres of the root and of every bone's end, by the kinematics of the module docstring."""
    root = values["root"]
    T = len(root)
    translation = np.stack([root[:, skeleton.root_order.index(a)] if a in skeleton.root_order else np.zeros(T)
                            for a in ("tx", "ty", "tz")], axis=1) * skeleton.metres_per_unit  # fmt: skip
    rotation = {"root": np.stack([skeleton.root_axis @ _dof_rotation(root[t], skeleton.root_order)
                                  @ skeleton.root_axis.T for t in range(T)])}  # fmt: skip
    position = {"root": translation}
    for name, parent in skeleton.parents.items():  # parents come before their children
        bone = skeleton.bones[name]
        motion = values.get(name, np.zeros((T, len(bone.dofs))))
        local = np.stack([bone.axis @ _dof_rotation(motion[t], bone.dofs) @ bone.axis.T for t in range(T)])
        rotation[name] = rotation[parent] @ local
        position[name] = position[parent] + rotation[name] @ (bone.direction * bone.length)
    return position


def _dof_rotation(values: np.ndarray, dofs: list[str]) -> np.ndarray:
    angles = [(v, d[1]) for v, d in zip(values, dofs, strict=True) if d.startswith("r")]
    return _rotation([a for a, _ in angles], "".join(axis for _, axis in angles)) if angles else np.eye(3)


def find_skeleton(amc: str | Path) -> Path:
    """The ASF of an AMC: `07_01.asf` beside `07_01.amc`, else the subject's `07.asf` in the same folder."""
    amc = Path(amc)
    tried = [amc.with_suffix(".asf"), amc.with_name(amc.stem.split("_")[0] + ".asf")]
    found = next((p for p in tried if p.is_file()), None)
    if found is None:
        raise FileNotFoundError(f"{amc}: no skeleton found (tried {tried[0]} and {tried[1]}); pass --skeleton")
    return found


def read_acclaim(amc: str | Path, skeleton: str | Path | None = None, fps: float | None = None) -> Motion:
    """An AMC motion (with its ASF skeleton, found by `find_skeleton` unless given) as a Motion on SMPL-22, at `fps`
    (CMU's 120 unless given); rotations by inverse kinematics, collars synthesised (named in meta)."""
    asf = Path(skeleton) if skeleton else find_skeleton(amc)
    sk = read_asf(asf)
    position = acclaim_positions(sk, read_amc(amc, sk))
    names = list(position)
    if missing := sorted(bone for bone in CMU_BONES.values() if bone not in position):
        raise ValueError(f"{amc}: the skeleton {asf.name} lacks CMU bones {missing}")
    source = {joint: names.index(bone) for joint, bone in CMU_BONES.items()}
    match = RigMatch("cmu-acclaim", source, [n for n in SMPL22.joint_names if n not in source])
    joints = smpl_joints(np.stack([position[n] for n in names], axis=1), match)
    motion = Motion.from_joints(joints, fps or CMU_FPS)
    motion.meta.update(rig=match.profile, synthesised_joints=match.synthesised, skeleton=asf.name)
    return motion
