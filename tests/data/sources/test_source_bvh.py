"""BVH folder reader on files written by our BVH writer, plus unmappable and garbage files."""

import numpy as np
import pytest
from source_checks import rigid_residual

from motion_factory import random_motion
from motionmill.data.sources import open_source
from motionmill.data.sources.bvh import BvhSource
from motionmill.export.bvh import write_bvh
from motionmill.motion.container import Motion


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("bvh")
    (root / "session").mkdir()
    at60 = Motion.from_rotations(*random_motion(0, 61), fps=60.0)  # 1 s at 60 fps -> 31 frames at 30 fps
    write_bvh(at60, root / "session" / "take_01.bvh")
    (root / "session" / "take_01.txt").write_text("a person jumps#a/DET person/NOUN jump/VERB#0.2#0.8\n")
    at30 = Motion.from_rotations(*random_motion(1, 40), fps=30.0)
    write_bvh(at30, root / "Take_00.BVH")
    text = (root / "Take_00.BVH").read_text()
    (root / "robot.bvh").write_text(text.replace("L_Hip", "Actuator7").replace("R_Knee", "Actuator9"))
    chain = (
        "HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation "
        "Yrotation\nJOINT b\n{\nOFFSET 0 10 0\nCHANNELS 3 Zrotation Xrotation Yrotation\nEnd Site\n{\n"
        "OFFSET 0 10 0\n}\n}\n}\nMOTION\nFrames: 2\nFrame Time: 0.0333333\n" + "0 0 0 0 0 0 0 0 0\n" * 2
    )
    (root / "snake.bvh").write_text(chain)
    (root / "garbage.bvh").write_text("this is not a motion capture file\n")
    (root / "notes.txt").write_text("not a bvh\n")
    return root, at60, at30


def test_items_sorted_any_case(folder):
    source = open_source(f"bvh:{folder[0]}")
    assert isinstance(source, BvhSource)
    assert source.items() == ["Take_00.BVH", "garbage.bvh", "robot.bvh", "session/take_01.bvh", "snake.bvh"]


def test_60fps_file_resampled_with_source_joints_and_captions(folder):
    root, at60, _ = folder
    (sample,) = BvhSource(str(root)).load("session/take_01.bvh")
    assert sample.id == "bvh/session/take_01.bvh"
    assert sample.motion.fps == 30.0 and sample.motion.num_frames == 31
    assert rigid_residual(at60.joints()[::2], sample.motion.joints()) < 1e-4
    assert sample.meta == {"path": "session/take_01.bvh", "source_fps": 60.0, "rotations": "bvh", "rig": "smpl",
                           "synthesised_joints": []}  # fmt: skip
    assert sample.texts == [{"text": "a person jumps", "start": 0.2, "end": 0.8}]


def test_30fps_file_kept_frame_for_frame(folder):
    root, _, at30 = folder
    (sample,) = open_source(f"bvh:{root},units=m,up=y,licence=CC-BY-4.0").load("Take_00.BVH")
    assert sample.motion.num_frames == 40 and sample.texts == [] and sample.licence == "CC-BY-4.0"
    assert sample.meta["source_fps"] == 30.0  # the file's rounded frame time 0.03333333 s is snapped to 30 fps
    assert np.abs(sample.motion.joints() - at30.joints()).max() < 1e-4


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("snake.bvh", "cannot map this rig onto SMPL-22.*no joint where two legs and a spine branch"),
        ("garbage.bvh", "HIERARCHY"),
    ],
)
def test_bad_files_name_the_file_and_reason(folder, key, reason):
    with pytest.raises(ValueError, match=reason) as info:
        BvhSource(str(folder[0])).load(key)
    assert key in str(info.value)


def test_bad_units():
    with pytest.raises(ValueError, match="units"):
        BvhSource("x", units="inch")


def test_a_rig_with_unknown_names_is_read_from_its_shape(folder):
    root, _, at30 = folder
    (sample,) = BvhSource(str(root)).load("robot.bvh")
    assert sample.meta["rig"] == "topology" and sample.meta["synthesised_joints"] == []
    assert np.abs(sample.motion.joints() - at30.joints()).max() < 1e-4
