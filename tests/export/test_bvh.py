import bvh as independent_bvh
import numpy as np
import pytest

from motion_factory import random_motion
from motionmill.export.bvh import bvh_to_motion, read_bvh, write_bvh
from motionmill.motion.container import Motion
from motionmill.motion.skeleton import SMPL22


def _motion(seed=0, frames=40, **kw):
    return Motion.from_rotations(*random_motion(seed, frames=frames, **kw))


@pytest.mark.parametrize("order", ["ZYX", "ZXY", "XYZ"])
def test_write_read_fk_reproduces_joints(tmp_path, order):
    motion = _motion(1, turns=1.0)
    write_bvh(motion, tmp_path / "m.bvh", order=order)
    data = read_bvh(tmp_path / "m.bvh")
    idx = [data.names.index(n) for n in SMPL22.joint_names]
    joints = data.joints()[:, idx]  # written in metres
    assert np.abs(joints - motion.joints()).max() < 1e-4  # 0.1 mm


def test_bone_lengths_come_from_the_motion(tmp_path):
    rotations, joints = random_motion(2, scale=1.1)  # a taller person than the rest skeleton
    motion = Motion.from_rotations(rotations, joints)
    write_bvh(motion, tmp_path / "tall.bvh")
    data = read_bvh(tmp_path / "tall.bvh")
    idx = [data.names.index(n) for n in SMPL22.joint_names]
    lengths = np.linalg.norm(data.offsets[idx[1:]], axis=1)
    assert np.allclose(lengths, np.linalg.norm(SMPL22.offsets[1:], axis=1) * 1.1, atol=1e-5)
    assert np.abs(data.joints()[:, idx] - motion.joints()).max() < 1e-4


def test_independent_parser_reads_our_file(tmp_path):
    motion = _motion(3, frames=37)
    motion.fps = 30.0
    write_bvh(motion, tmp_path / "m.bvh")
    parsed = independent_bvh.Bvh((tmp_path / "m.bvh").read_text())
    assert len(parsed.get_joints_names()) == 22
    assert parsed.nframes == 37
    assert np.isclose(parsed.frame_time, 1 / 30, atol=1e-7)
    assert set(parsed.get_joints_names()) == set(SMPL22.joint_names)
    # channel values agree with ours: root height in metres at frame 5
    y = float(parsed.frame_joint_channel(5, "Pelvis", "Yposition"))
    assert np.isclose(y, motion.root_positions()[5, 1], atol=1e-6)


def test_import_keeps_rotations_and_joints(tmp_path):
    motion = _motion(4, turns=0.5)
    write_bvh(motion, tmp_path / "m.bvh")
    back = bvh_to_motion(tmp_path / "m.bvh")
    assert back.meta["rotations"] == "bvh"
    assert np.abs(back.joints() - motion.joints()).max() < 1e-4
    assert np.isclose(back.fps, motion.fps)


@pytest.mark.parametrize("units", ["cm", "in"])
def test_other_units_read_back_exactly(tmp_path, units):
    motion = _motion(5, turns=0.5)
    write_bvh(motion, tmp_path / "m.bvh", units=units)
    scale = {"cm": 100.0, "in": 1 / 0.0254}[units]
    data = read_bvh(tmp_path / "m.bvh")
    assert np.ptp(data.joints()[0, :, 1]) == pytest.approx(np.ptp(motion.joints()[0, :, 1]) * scale, rel=1e-6)
    back = bvh_to_motion(tmp_path / "m.bvh")
    assert back.meta["units"] == units and np.abs(back.joints() - motion.joints()).max() < 1e-4


def test_mixamo_names_read_back_to_the_same_joints(tmp_path):
    motion = _motion(7, turns=0.5)
    write_bvh(motion, tmp_path / "m.bvh", rig="mixamo")
    data = read_bvh(tmp_path / "m.bvh")
    assert "mixamorig:LeftArm" in data.names and "mixamorig:LeftShoulder" in data.names
    assert data.parents[data.names.index("mixamorig:LeftArm")] == data.names.index("mixamorig:LeftShoulder")
    back = bvh_to_motion(tmp_path / "m.bvh")
    assert back.meta["rig"] == "mixamo" and back.meta["synthesised_joints"] == []
    assert np.abs(back.joints() - motion.joints()).max() < 0.005


def test_unmapped_skeleton_and_garbage_are_clear_errors(tmp_path):
    motion = _motion(6)
    write_bvh(motion, tmp_path / "m.bvh")
    (tmp_path / "odd.bvh").write_text((tmp_path / "m.bvh").read_text().replace("L_Knee", "Thingamajig"))
    assert bvh_to_motion(tmp_path / "odd.bvh").meta["rig"] == "topology"  # an unknown name: read from the shape
    (tmp_path / "arm.bvh").write_text(
        "HIERARCHY ROOT a { OFFSET 0 0 0 CHANNELS 3 Zrotation Xrotation Yrotation "
        "JOINT b { OFFSET 0 1 0 CHANNELS 3 Zrotation Xrotation Yrotation End Site { "
        "OFFSET 0 1 0 } } } MOTION Frames: 2 Frame Time: 0.1 0 0 0 0 0 0 0 0 0 0 0 0"
    )
    with pytest.raises(ValueError, match="arm.bvh: cannot map this rig.*finds no Pelvis.*does not read as a body"):
        bvh_to_motion(tmp_path / "arm.bvh")
    (tmp_path / "garbage.bvh").write_bytes(b"\x00\xffnot a bvh")
    with pytest.raises(ValueError, match="garbage.bvh"):
        read_bvh(tmp_path / "garbage.bvh")
    (tmp_path / "short.bvh").write_text((tmp_path / "m.bvh").read_text()[:-200])
    with pytest.raises(ValueError, match="short.bvh"):
        read_bvh(tmp_path / "short.bvh")
