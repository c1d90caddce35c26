"""Rig-aware BVH import: for each rig family, a rig of that family (its names, hierarchy and units, rest offsets) and a
motion on it are written as BVH; the imported SMPL-22 joints equal the source's forward kinematics, written here."""

import numpy as np
import pytest

from motion_factory import facing_aligned
from motionmill.export.bvh import bvh_to_motion
from motionmill.export.rigs import match_rig
from motionmill.motion.skeleton import SMPL22

REST = {name: np.asarray(p) for name, p in zip(SMPL22.joint_names, SMPL22.rest_joints, strict=True)}


def between(a: str, b: str, w: float) -> np.ndarray:
    return (1 - w) * REST[a] + w * REST[b]


def beyond(a: str, b: str, w: float) -> np.ndarray:
    return REST[b] + w * (REST[b] - REST[a])


def sided(template: list[tuple], left: str, right: str) -> list[tuple]:
    """Expand (name, parent, smpl joint or None, rest position in metres) rows whose names hold "{s}"; a row whose
    SMPL joint holds "{S}" becomes L_/R_; positions given for the left side are mirrored (x -> -x) for the right."""
    rows = []
    for name, parent, joint, position in template:
        if "{s}" not in name:
            rows.append((name, parent, joint, position))
            continue
        for token, side, flip in ((left, "L", 1.0), (right, "R", -1.0)):
            rows.append((name.format(s=token), parent.format(s=token), joint and joint.format(S=side),
                         np.asarray(position) * np.array([flip, 1.0, 1.0])))  # fmt: skip
    return rows


def left(joint: str) -> np.ndarray:
    return REST["L_" + joint]


# name, parent, the SMPL-22 joint it is (None: a joint SMPL lacks), rest position in metres (left side)
MIXAMO = sided([
    ("mixamorig:Hips", "", "Pelvis", REST["Pelvis"]),
    ("mixamorig:Spine", "mixamorig:Hips", "Spine1", REST["Spine1"]),
    ("mixamorig:Spine1", "mixamorig:Spine", "Spine2", REST["Spine2"]),
    ("mixamorig:Spine2", "mixamorig:Spine1", "Spine3", REST["Spine3"]),
    ("mixamorig:Neck", "mixamorig:Spine2", "Neck", REST["Neck"]),
    ("mixamorig:Head", "mixamorig:Neck", "Head", REST["Head"]),
    ("mixamorig:HeadTop_End", "mixamorig:Head", None, REST["Head"] + [0, 0.15, 0]),
    ("mixamorig:LeftEye", "mixamorig:Head", None, REST["Head"] + [0.03, 0.03, 0.08]),
    ("mixamorig:{s}Shoulder", "mixamorig:Spine2", "{S}_Collar", left("Collar")),
    ("mixamorig:{s}Arm", "mixamorig:{s}Shoulder", "{S}_Shoulder", left("Shoulder")),
    ("mixamorig:{s}ForeArm", "mixamorig:{s}Arm", "{S}_Elbow", left("Elbow")),
    ("mixamorig:{s}Hand", "mixamorig:{s}ForeArm", "{S}_Wrist", left("Wrist")),
    ("mixamorig:{s}HandIndex1", "mixamorig:{s}Hand", None, left("Wrist") + [0.09, 0, 0.02]),
    ("mixamorig:{s}UpLeg", "mixamorig:Hips", "{S}_Hip", left("Hip")),
    ("mixamorig:{s}Leg", "mixamorig:{s}UpLeg", "{S}_Knee", left("Knee")),
    ("mixamorig:{s}Foot", "mixamorig:{s}Leg", "{S}_Ankle", left("Ankle")),
    ("mixamorig:{s}ToeBase", "mixamorig:{s}Foot", "{S}_Foot", left("Foot")),
], "Left", "Right")  # fmt: skip

MOTIONMILLION = sided([
    ("Pelvis", "", "Pelvis", REST["Pelvis"]),
    ("{s}_hip", "Pelvis", "{S}_Hip", left("Hip")),
    ("{s}_knee", "{s}_hip", "{S}_Knee", left("Knee")),
    ("{s}_ankle", "{s}_knee", "{S}_Ankle", left("Ankle")),
    ("{s}_foot", "{s}_ankle", "{S}_Foot", left("Foot")),
    ("Spine1", "Pelvis", "Spine1", REST["Spine1"]),
    ("Spine2", "Spine1", "Spine2", REST["Spine2"]),
    ("Spine3", "Spine2", "Spine3", REST["Spine3"]),
    ("Neck", "Spine3", "Neck", REST["Neck"]),
    ("Head", "Neck", "Head", REST["Head"]),
    ("{s}_collar", "Spine3", "{S}_Collar", left("Collar")),
    ("{s}_shoulder", "{s}_collar", "{S}_Shoulder", left("Shoulder")),
    ("{s}_elbow", "{s}_shoulder", "{S}_Elbow", left("Elbow")),
    ("{s}_wrist", "{s}_elbow", "{S}_Wrist", left("Wrist")),
    ("{s}_palm", "{s}_wrist", None, left("Wrist") + [0.05, 0, 0]),
], "Left", "Right")  # fmt: skip

CMU = sided([
    ("Hips", "", "Pelvis", REST["Pelvis"]),
    ("{s}HipJoint", "Hips", None, between("Pelvis", "L_Hip", 0.5)),
    ("{s}UpLeg", "{s}HipJoint", "{S}_Hip", left("Hip")),
    ("{s}Leg", "{s}UpLeg", "{S}_Knee", left("Knee")),
    ("{s}Foot", "{s}Leg", "{S}_Ankle", left("Ankle")),
    ("{s}ToeBase", "{s}Foot", "{S}_Foot", left("Foot")),
    ("LowerBack", "Hips", None, REST["Pelvis"] + [0, 0.02, 0]),
    ("Spine", "LowerBack", "Spine2", REST["Spine2"]),
    ("Spine1", "Spine", "Spine3", REST["Spine3"]),
    ("Neck", "Spine1", "Neck", REST["Neck"]),
    ("Neck1", "Neck", None, between("Neck", "Head", 0.5)),
    ("Head", "Neck1", "Head", REST["Head"]),
    ("{s}Shoulder", "Spine1", "{S}_Collar", left("Collar")),
    ("{s}Arm", "{s}Shoulder", "{S}_Shoulder", left("Shoulder")),
    ("{s}ForeArm", "{s}Arm", "{S}_Elbow", left("Elbow")),
    ("{s}Hand", "{s}ForeArm", "{S}_Wrist", left("Wrist")),
    ("{s}FingerBase", "{s}Hand", None, left("Wrist") + [0.04, 0, 0]),
    ("{s}Thumb", "{s}Hand", None, left("Wrist") + [0.03, 0, 0.03]),
], "Left", "Right")  # fmt: skip

BIOVISION = sided([
    ("Hips", "", "Pelvis", REST["Pelvis"]),
    ("{s}Hip", "Hips", "{S}_Hip", left("Hip")),
    ("{s}Knee", "{s}Hip", "{S}_Knee", left("Knee")),
    ("{s}Ankle", "{s}Knee", "{S}_Ankle", left("Ankle")),
    ("Chest", "Hips", "Spine2", REST["Spine2"]),
    ("Chest2", "Chest", "Spine3", REST["Spine3"]),
    ("{s}Collar", "Chest2", "{S}_Collar", left("Collar")),
    ("{s}Shoulder", "{s}Collar", "{S}_Shoulder", left("Shoulder")),
    ("{s}Elbow", "{s}Shoulder", "{S}_Elbow", left("Elbow")),
    ("{s}Wrist", "{s}Elbow", "{S}_Wrist", left("Wrist")),
    ("Neck", "Chest2", "Neck", REST["Neck"]),
    ("Head", "Neck", "Head", REST["Head"]),
], "Left", "Right")  # fmt: skip

BIPED = sided([
    ("Bip01", "", None, REST["Pelvis"] + [0, 0.01, 0]),
    ("Bip01_Pelvis", "Bip01", "Pelvis", REST["Pelvis"]),
    ("Bip01_Spine", "Bip01_Pelvis", "Spine1", REST["Spine1"]),
    ("Bip01_Spine1", "Bip01_Spine", "Spine2", REST["Spine2"]),
    ("Bip01_Spine2", "Bip01_Spine1", "Spine3", REST["Spine3"]),
    ("Bip01_Neck", "Bip01_Spine2", "Neck", REST["Neck"]),
    ("Bip01_Head", "Bip01_Neck", "Head", REST["Head"]),
    ("Bip01_{s}_Clavicle", "Bip01_Neck", "{S}_Collar", left("Collar")),
    ("Bip01_{s}_UpperArm", "Bip01_{s}_Clavicle", "{S}_Shoulder", left("Shoulder")),
    ("Bip01_{s}_Forearm", "Bip01_{s}_UpperArm", "{S}_Elbow", left("Elbow")),
    ("Bip01_{s}_Hand", "Bip01_{s}_Forearm", "{S}_Wrist", left("Wrist")),
    ("Bip01_{s}_Thigh", "Bip01_Pelvis", "{S}_Hip", left("Hip")),
    ("Bip01_{s}_Calf", "Bip01_{s}_Thigh", "{S}_Knee", left("Knee")),
    ("Bip01_{s}_Foot", "Bip01_{s}_Calf", "{S}_Ankle", left("Ankle")),
    ("Bip01_{s}_Toe0", "Bip01_{s}_Foot", "{S}_Foot", left("Foot")),
], "L", "R")  # fmt: skip

UNREAL = sided([
    ("root", "", None, REST["Pelvis"] * [1, 0, 1] + [0, -1.2, 0]),
    ("pelvis", "root", "Pelvis", REST["Pelvis"]),
    ("spine_01", "pelvis", "Spine1", REST["Spine1"]),
    ("spine_02", "spine_01", "Spine2", REST["Spine2"]),
    ("spine_03", "spine_02", "Spine3", REST["Spine3"]),
    ("neck_01", "spine_03", "Neck", REST["Neck"]),
    ("head", "neck_01", "Head", REST["Head"]),
    ("clavicle_{s}", "spine_03", "{S}_Collar", left("Collar")),
    ("upperarm_{s}", "clavicle_{s}", "{S}_Shoulder", left("Shoulder")),
    ("lowerarm_{s}", "upperarm_{s}", "{S}_Elbow", left("Elbow")),
    ("hand_{s}", "lowerarm_{s}", "{S}_Wrist", left("Wrist")),
    ("thigh_{s}", "pelvis", "{S}_Hip", left("Hip")),
    ("calf_{s}", "thigh_{s}", "{S}_Knee", left("Knee")),
    ("foot_{s}", "calf_{s}", "{S}_Ankle", left("Ankle")),
    ("ball_{s}", "foot_{s}", "{S}_Foot", left("Foot")),
], "l", "r")  # fmt: skip

# family: (rig, profile expected, units, metres per unit, up axis, SMPL joints the rig lacks)
FAMILIES = {
    "mixamo": (MIXAMO, "mixamo", "cm", 0.01, "y", []),
    "motionmillion": (MOTIONMILLION, "smpl-x", "m", 1.0, "y", []),
    "cmu": (CMU, "cmu", "cmu", 0.0254 / 0.45, "y", ["Spine1"]),
    "biovision": (BIOVISION, "biovision", "in", 0.0254, "y", ["Spine1", "L_Foot", "R_Foot"]),
    "biped": (BIPED, "biped", "cm", 0.01, "z", []),
    "unreal": (UNREAL, "unreal", "cm", 0.01, "z", []),
}
Z_UP = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # y-up metres -> z-up file axes


def euler_zxy(angles: np.ndarray) -> np.ndarray:
    """(..., 3) degrees for channels Z, X, Y -> Rz @ Rx @ Ry (BVH composes channels in the order listed)."""
    z, x, y = np.radians(angles[..., 0]), np.radians(angles[..., 1]), np.radians(angles[..., 2])
    c, s, o, i = np.cos, np.sin, np.zeros_like(z), np.ones_like(z)
    rz = np.stack([c(z), -s(z), o, s(z), c(z), o, o, o, i], -1).reshape(*z.shape, 3, 3)
    rx = np.stack([i, o, o, o, c(x), -s(x), o, s(x), c(x)], -1).reshape(*z.shape, 3, 3)
    ry = np.stack([c(y), o, s(y), o, i, o, -s(y), o, c(y)], -1).reshape(*z.shape, 3, 3)
    return rz @ rx @ ry


def write_rig_bvh(path, rig, per_unit: float, up: str, frames: int = 12, seed: int = 0) -> np.ndarray:
    """Write `rig` with a random motion; returns the (T, J, 3) joint positions in metres, y up, by FK."""
    rng = np.random.default_rng(seed)
    names = [r[0] for r in rig]
    parents = [names.index(r[1]) if r[1] else -1 for r in rig]
    to_file = (Z_UP if up == "z" else np.eye(3)) / per_unit
    rest = np.array([r[3] for r in rig]) @ to_file.T
    offsets = np.array([rest[j] - (rest[p] if p >= 0 else 0) for j, p in enumerate(parents)])
    angles = rng.uniform(-25, 25, size=(frames, len(rig), 3))
    move = rng.normal(scale=0.05, size=(frames, 3)).cumsum(0) @ to_file.T
    lines = ["HIERARCHY"]

    def emit(j, depth):
        pad, kind = "  " * depth, "ROOT" if parents[j] < 0 else "JOINT"
        channels = "CHANNELS 6 Xposition Yposition Zposition" if parents[j] < 0 else "CHANNELS 3"
        lines.extend([f"{pad}{kind} {names[j]}", pad + "{", f"{pad}  OFFSET {' '.join(map(str, offsets[j]))}",
                      f"{pad}  {channels} Zrotation Xrotation Yrotation"])  # fmt: skip
        kids = [k for k, p in enumerate(parents) if p == j]
        for k in kids:
            emit(k, depth + 1)
        if not kids:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0 1 0", pad + "  }"])
        lines.append(pad + "}")

    emit(0, 0)
    order = [names.index(ln.split()[1]) for ln in lines if ln.strip().startswith(("ROOT", "JOINT"))]  # file order
    lines += ["MOTION", f"Frames: {frames}", "Frame Time: 0.0333333"]
    for t in range(frames):
        values = list(move[t]) + [v for j in order for v in angles[t, j]]
        lines.append(" ".join(f"{v:.9f}" for v in values))
    path.write_text("\n".join(lines) + "\n")
    local = euler_zxy(angles)
    world_rot, world_pos = [None] * len(rig), [None] * len(rig)
    for j in order:  # parents come before children in depth-first order
        p = parents[j]
        if p < 0:
            world_rot[j], world_pos[j] = local[:, j], offsets[j] + move
        else:
            world_rot[j] = world_rot[p] @ local[:, j]
            world_pos[j] = world_pos[p] + np.einsum("tab,b->ta", world_rot[p], offsets[j])
    return np.stack(world_pos, axis=1) @ np.linalg.inv(to_file).T  # file units and axes -> metres, y up


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_rig_family_imports_onto_smpl22(tmp_path, family):
    rig, profile, units, per_unit, up, lacks = FAMILIES[family]
    source = write_rig_bvh(tmp_path / f"{family}.bvh", rig, per_unit, up)
    motion = bvh_to_motion(tmp_path / f"{family}.bvh")
    assert (motion.meta["rig"], motion.meta["units"], motion.meta["up"]) == (profile, units, up)
    assert motion.meta["synthesised_joints"] == lacks
    expected = np.full((source.shape[0], 22, 3), np.nan)
    for j, row in enumerate(rig):
        if row[2]:
            expected[:, SMPL22.joint_names.index(row[2])] = source[:, j]
    has = [k for k, name in enumerate(SMPL22.joint_names) if name not in lacks]
    ours, theirs = facing_aligned(motion.joints()), facing_aligned(expected)
    assert np.abs(ours[:, has] - theirs[:, has]).max() < 0.005  # the joints the rig has, within 5 mm
    assert np.isfinite(motion.joints()).all()


def test_shoulder_means_the_clavicle_in_mixamo_and_the_upper_arm_in_biovision():
    for rig, joint in ((MIXAMO, "L_Collar"), (BIOVISION, "L_Shoulder")):
        names = [r[0] for r in rig]
        match = match_rig(names, [names.index(r[1]) if r[1] else -1 for r in rig])
        assert names[match.source[joint]].endswith("LeftShoulder")


def test_overridden_units_and_up_are_used(tmp_path):
    write_rig_bvh(tmp_path / "m.bvh", MIXAMO, 0.01, "y")
    default = bvh_to_motion(tmp_path / "m.bvh")
    told = bvh_to_motion(tmp_path / "m.bvh", units="mm")  # read as millimetres: ten times smaller
    ratio = np.ptp(told.joints()[..., 1]) / np.ptp(default.joints()[..., 1])
    assert told.meta["units"] == "mm" and ratio == pytest.approx(0.1, rel=1e-3)
    with pytest.raises(ValueError, match="units must be one of"):
        bvh_to_motion(tmp_path / "m.bvh", units="furlong")


def test_a_rig_without_legs_names_what_is_missing(tmp_path):
    legless = [r for r in MIXAMO if not any(k in r[0] for k in ("UpLeg", "Leg", "Foot", "ToeBase"))]
    write_rig_bvh(tmp_path / "legless.bvh", legless, 0.01, "y")
    with pytest.raises(ValueError, match=r"legless.bvh: cannot map this rig onto SMPL-22.*finds no L_Hip, R_Hip"):
        bvh_to_motion(tmp_path / "legless.bvh")


def test_bad_files_are_one_line_errors_from_the_command_line(tmp_path, capsys):
    from motionmill.cli import main

    write_rig_bvh(tmp_path / "good.bvh", MIXAMO, 0.01, "y")
    text = (tmp_path / "good.bvh").read_text()
    (tmp_path / "truncated.bvh").write_text(text[: len(text) // 2])
    (tmp_path / "channels.bvh").write_text(text.replace("CHANNELS 3 Zrotation", "CHANNELS 2 Zrotation", 1))
    legless = [r for r in MIXAMO if "Leg" not in r[0] and "Foot" not in r[0] and "Toe" not in r[0]]
    write_rig_bvh(tmp_path / "legless.bvh", legless, 0.01, "y")
    for name in ("truncated", "channels", "legless"):
        assert main(["convert", str(tmp_path / f"{name}.bvh"), str(tmp_path / "out.npy")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("motionmill: error: ") for e in errors)
    assert all(f"{name}.bvh" in e for name, e in zip(("truncated", "channels", "legless"), errors, strict=True))
    assert main(["convert", str(tmp_path / "good.bvh"), str(tmp_path / "good.npy")]) == 0


# A rig no profile knows: the same bones as Mixamo's under opaque names (Z-up, centimetres).
OPAQUE = [(f"bone{k:02d}", "" if not parent else f"bone{[r[0] for r in MIXAMO].index(parent):02d}", joint, position)
          for k, (name, parent, joint, position) in enumerate(MIXAMO)]  # fmt: skip


def test_a_rig_no_profile_knows_is_read_from_its_shape(tmp_path):
    source = write_rig_bvh(tmp_path / "opaque.bvh", OPAQUE, 0.01, "z")
    motion = bvh_to_motion(tmp_path / "opaque.bvh")
    assert (motion.meta["rig"], motion.meta["units"], motion.meta["up"]) == ("topology", "cm", "z")
    expected = np.full((source.shape[0], 22, 3), np.nan)
    for j, row in enumerate(OPAQUE):
        if row[2]:
            expected[:, SMPL22.joint_names.index(row[2])] = source[:, j]
    assert motion.meta["synthesised_joints"] == []  # every joint found: limbs, sides, spine, neck and head
    assert np.abs(facing_aligned(motion.joints()) - facing_aligned(expected)).max() < 0.005
