"""CMU's Acclaim format: an ASF skeleton and an AMC motion written here in CMU's conventions (units line, bone axes,
dof orders, root order) read onto SMPL-22, compared with forward kinematics written here; skeleton finding; bad
files; the `amc:` corpus source."""

import numpy as np
import pytest

from motion_factory import facing_aligned
from motionmill.cli import main
from motionmill.data.sources import open_source
from motionmill.export.acclaim import find_skeleton, read_acclaim
from motionmill.motion.skeleton import SMPL22

UNIT = 0.0254 / 0.45  # metres per CMU length unit (":units length 0.45": lengths in inches times 0.45)
REST = {n: np.asarray(p) for n, p in zip(SMPL22.joint_names, SMPL22.rest_joints, strict=True)}


def side(s: str, joint: str) -> np.ndarray:
    return REST[f"{s.upper()}_{joint}"]


# bone: (parent, rest end position in metres, axis angles in degrees, dofs); CMU's names and hierarchy
BONES = {"lowerback": ("root", REST["Spine1"], (0, 0, 5), "rx ry rz"),
         "upperback": ("lowerback", REST["Spine2"], (0, 0, 0), "rx ry rz"),
         "thorax": ("upperback", REST["Spine3"], (0, 0, 0), "rx ry rz"),
         "lowerneck": ("thorax", REST["Neck"], (0, 0, 0), "rx ry rz"),
         "upperneck": ("lowerneck", REST["Head"], (0, 0, 0), "rx ry rz"),
         "head": ("upperneck", REST["Head"] + [0, 0.1, 0], (0, 0, 0), "rx ry rz")}  # fmt: skip
for s, sign in (("l", 1), ("r", -1)):
    BONES.update({
        f"{s}hipjoint": ("root", side(s, "Hip"), (0, 0, 0), ""),
        f"{s}femur": (f"{s}hipjoint", side(s, "Knee"), (0, 0, 20 * sign), "rx ry rz"),
        f"{s}tibia": (f"{s}femur", side(s, "Ankle"), (0, 0, 20 * sign), "rx"),
        f"{s}foot": (f"{s}tibia", side(s, "Foot"), (-90, 7 * sign, 0), "rx rz"),
        f"{s}toes": (f"{s}foot", side(s, "Foot") + [0, 0, 0.05], (-90, 7 * sign, 0), "rx"),
        f"{s}clavicle": ("thorax", side(s, "Shoulder"), (0, 0, 10 * sign), "ry rz"),
        f"{s}humerus": (f"{s}clavicle", side(s, "Elbow"), (0, 0, 90 * sign), "rx ry rz"),
        f"{s}radius": (f"{s}humerus", side(s, "Wrist"), (0, 0, 90 * sign), "rx"),
        f"{s}wrist": (f"{s}radius", side(s, "Wrist") + [0.04 * sign, 0, 0], (0, 0, 90 * sign), "ry"),
    })  # fmt: skip
ORDER = list(BONES)  # parents before children


def rot(angles_deg, axes: str) -> np.ndarray:
    """Rotations about the fixed axes in order: the first listed applies first (R = R_last @ ... @ R_first)."""
    out = np.eye(3)
    for a, axis in zip(np.radians(angles_deg), axes, strict=True):
        c, s = np.cos(a), np.sin(a)
        m = {"x": [[1, 0, 0], [0, c, -s], [0, s, c]], "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
             "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]]}[axis]  # fmt: skip
        out = np.array(m) @ out
    return out


def start_of(bone: str) -> np.ndarray:
    parent = BONES[bone][0]
    return REST["Pelvis"] if parent == "root" else BONES[parent][1]


def write_files(folder, name: str = "07_01", frames: int = 10, seed: int = 0, asf_name: str | None = None):
    """Write ASF + AMC; returns {bone or "root": (T, 3) positions in metres} by forward kinematics written here."""
    rng = np.random.default_rng(seed)
    lines = [":version 1.10", ":name VICON", ":units", "  mass 1.0", "  length 0.45", "  angle deg", ":root",
             "   order TX TY TZ RX RY RZ", "   axis XYZ", "   position 0 0 0", "   orientation 0 0 0",
             ":bonedata"]  # fmt: skip
    for k, (bone, (_, end, axis, dofs)) in enumerate(BONES.items(), start=1):
        offset = (end - start_of(bone)) / UNIT
        length = np.linalg.norm(offset)
        direction = " ".join(map(str, offset / length))
        lines += ["  begin", f"     id {k}", f"     name {bone}", f"     direction {direction}",
                  f"     length {length}", f"     axis {axis[0]} {axis[1]} {axis[2]} XYZ"]  # fmt: skip
        if dofs:
            lines += [f"    dof {dofs}", "    limits " + " ".join(["(-180 180)"] * len(dofs.split()))]
        lines.append("  end")
    children = {}
    for bone, (parent, *_) in BONES.items():
        children.setdefault(parent, []).append(bone)
    lines += [":hierarchy", "  begin"] + [f"    {p} {' '.join(c)}" for p, c in children.items()] + ["  end"]
    (folder / f"{asf_name or name}.asf").write_text("\n".join(lines) + "\n")
    root = np.concatenate([rng.normal(scale=2.0, size=(frames, 3)).cumsum(0) + [0, 17, 0],
                           rng.uniform(-30, 30, size=(frames, 3))], axis=1)  # fmt: skip
    values = {b: rng.uniform(-30, 30, size=(frames, len(d.split()))) for b, (_, _, _, d) in BONES.items() if d}
    amc = ["#!OML:ASF F:07.asf", ":FULLY-SPECIFIED", ":DEGREES"]
    for t in range(frames):
        amc.append(str(t + 1))
        amc.append("root " + " ".join(f"{v:.6f}" for v in root[t]))
        amc += [f"{b} " + " ".join(f"{v:.6f}" for v in values[b][t]) for b in ORDER if b in values]
    (folder / f"{name}.amc").write_text("\n".join(amc) + "\n")
    # forward kinematics: L = L_parent C M C^T, end = start + L (direction * length)
    glob = {"root": np.stack([rot(root[t, 3:], "xyz") for t in range(frames)])}
    pos = {"root": root[:, :3] * UNIT}
    for bone in ORDER:
        parent, end, axis, dofs = BONES[bone]
        c = rot(axis, "xyz")
        local = [c @ (rot(values[bone][t], "".join(d[1] for d in dofs.split())) if dofs else np.eye(3)) @ c.T
                 for t in range(frames)]  # fmt: skip
        glob[bone] = glob[parent] @ np.stack(local)
        pos[bone] = pos[parent] + glob[bone] @ (end - start_of(bone))
    return pos


SMPL_OF = {"Pelvis": "root", "Spine1": "lowerback", "Spine2": "upperback", "Spine3": "thorax", "Neck": "lowerneck",
           "Head": "upperneck", **{f"{s.upper()}_{j}": f"{s}{b}" for s in "lr" for j, b in (
               ("Hip", "hipjoint"), ("Knee", "femur"), ("Ankle", "tibia"), ("Foot", "foot"), ("Shoulder", "clavicle"),
               ("Elbow", "humerus"), ("Wrist", "radius"))}}  # fmt: skip


def test_amc_joints_equal_forward_kinematics(tmp_path):
    pos = write_files(tmp_path)
    motion = read_acclaim(tmp_path / "07_01.amc")
    assert motion.fps == 120.0 and motion.num_frames == 10
    assert motion.meta["synthesised_joints"] == ["L_Collar", "R_Collar"] and motion.meta["skeleton"] == "07_01.asf"
    expected = np.full((10, 22, 3), np.nan)
    for joint, bone in SMPL_OF.items():
        expected[:, SMPL22.joint_names.index(joint)] = pos[bone]
    has = [k for k, n in enumerate(SMPL22.joint_names) if "Collar" not in n]
    error = np.abs(facing_aligned(motion.joints())[:, has] - facing_aligned(expected)[:, has]).max()
    assert error < 0.005
    extent = np.ptp(motion.joints()[0, has, 1])  # metres: CMU's units (1/0.45 inch) are converted
    assert 0.5 < extent < 2.5 and abs(extent - np.ptp(expected[0, has, 1])) < 0.005


def test_the_skeleton_is_found_beside_or_per_subject_or_given(tmp_path):
    write_files(tmp_path, "07_02", asf_name="07")  # the subject's skeleton
    assert find_skeleton(tmp_path / "07_02.amc") == tmp_path / "07.asf"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "07_02.amc").write_text((tmp_path / "07_02.amc").read_text())
    with pytest.raises(FileNotFoundError, match=r"07_02.asf and .*07.asf"):
        read_acclaim(tmp_path / "other" / "07_02.amc")
    assert read_acclaim(tmp_path / "other" / "07_02.amc", skeleton=tmp_path / "07.asf").num_frames == 10


def test_convert_reads_amc_and_bad_files_are_one_line_errors(tmp_path, capsys):
    write_files(tmp_path)
    assert main(["convert", str(tmp_path / "07_01.amc"), str(tmp_path / "out.bvh")]) == 0
    amc = (tmp_path / "07_01.amc").read_text()
    (tmp_path / "07_03.amc").write_text(amc.replace("lfemur ", "ltail ", 1))
    (tmp_path / "07_04.amc").write_text(amc.replace("lradius ", "lradius 1 ", 1))
    (tmp_path / "07_05.amc").write_text(":FULLY-SPECIFIED\n:DEGREES\n1\n")
    for key, reason in (("07_03", "bone 'ltail' is not in the ASF"), ("07_04", "lradius has 2 values"),
                        ("07_05", "1 frame")):  # fmt: skip
        (tmp_path / f"{key}.asf").write_text((tmp_path / "07_01.asf").read_text())
        assert main(["convert", str(tmp_path / f"{key}.amc"), str(tmp_path / "x.npy")]) == 2
        assert reason in capsys.readouterr().err


def test_the_amc_source_reads_folders_and_names_bad_files(tmp_path):
    write_files(tmp_path)
    (tmp_path / "07_01.txt").write_text("a person moves#a/DET person/NOUN#0.0#0.0\n")
    (tmp_path / "08_01.amc").write_text("1\nroot 0 0 0 0 0 0\n")  # no skeleton anywhere
    source = open_source(f"amc:{tmp_path},licence=CMU")
    assert source.items() == ["07_01.amc", "08_01.amc"]
    (sample,) = source.load("07_01.amc")
    assert sample.motion.fps == 30.0 and sample.motion.num_frames == 3  # 10 frames at 120 fps
    assert sample.texts[0]["text"] == "a person moves" and sample.licence == "CMU"
    with pytest.raises((ValueError, FileNotFoundError), match="08_01"):
        source.load("08_01.amc")


def test_amc_is_read_only(tmp_path, capsys):
    write_files(tmp_path)
    assert main(["convert", str(tmp_path / "07_01.amc"), str(tmp_path / "copy.amc")]) == 2
    assert "amc files can be read but not written" in capsys.readouterr().err
