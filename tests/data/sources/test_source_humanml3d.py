"""HumanML3D reader on a folder in the released layout (new_joints/, texts/, split files)."""

import pickle

import numpy as np
import pytest
from source_checks import mirror_joints, rigid_residual, write_truncated_npy

from motion_factory import random_motion
from motionmill.data.sources import open_source
from motionmill.data.sources.humanml3d import HumanML3DSource

FRAMES = 41  # 2 s at 20 fps -> 61 frames at 30 fps


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("HumanML3D")
    (root / "new_joints").mkdir()
    (root / "texts").mkdir()
    clips = {key: random_motion(seed, FRAMES)[1] for seed, key in enumerate(["000000", "000001", "000005", "000006"])}
    clips["M000001"] = mirror_joints(clips["000001"])
    for key, joints in clips.items():
        np.save(root / "new_joints" / f"{key}.npy", joints.astype(np.float32))
    good = clips["000000"].astype(np.float32)
    write_truncated_npy(root / "new_joints" / "000002.npy", good)
    np.save(root / "new_joints" / "000003.npy", good[:, :21])  # 21 joints (KIT-like), wrong shape
    nan = good.copy()
    nan[7, 3] = np.nan
    np.save(root / "new_joints" / "000004.npy", nan)
    (root / "texts" / "000000.txt").write_text(
        "a person walks forward#a/DET person/NOUN walk/VERB forward/ADV#0.0#0.0\n"
        "a person jumps#a/DET person/NOUN jump/VERB#1.5#3.0\n"
    )
    (root / "texts" / "000001.txt").write_text("someone turns left#someone/PRON turn/VERB left/ADV#0.0#0.0\n")
    (root / "texts" / "M000001.txt").write_text("someone turns right#someone/PRON turn/VERB right/ADV#0.0#0.0\n")
    (root / "texts" / "000005.txt").write_text("")  # empty caption file; 000006 has none at all
    (root / "train.txt").write_text("000000\n000001\n")  # the mirror M000001 is not listed: inherits train
    (root / "val.txt").write_text("000005\n")
    (root / "test.txt").write_text("000006\nM000006\n")
    return root, clips


def test_items_sorted_and_stable(root):
    source = open_source(f"humanml3d:{root[0]}")
    assert isinstance(source, HumanML3DSource)
    expected = ["000000", "000001", "000002", "000003", "000004", "000005", "000006", "M000001"]
    assert source.items() == expected
    assert pickle.loads(pickle.dumps(source)).items() == expected


def test_clip_resampled_to_30fps_with_source_joints(root):
    path, clips = root
    (sample,) = HumanML3DSource(str(path)).load("000000")
    motion = sample.motion
    assert sample.id == "humanml3d/000000"
    assert motion.fps == 30.0 and motion.num_frames == 61
    assert motion.meta["rotations"] == "ik" and sample.meta["rotations"] == "ik"
    # 30 fps frame 3k is 20 fps frame 2k: those frames hold the source joints, up to canonicalisation
    assert rigid_residual(clips["000000"][::2], motion.joints()[::3]) < 1e-4
    assert sample.split == "train"
    assert sample.licence == HumanML3DSource.licence
    assert sample.meta["mirrored"] is False


def test_captions_and_spans(root):
    (sample,) = HumanML3DSource(str(root[0])).load("000000")
    assert sample.texts == [
        {"text": "a person walks forward", "start": 0.0, "end": 0.0},
        {"text": "a person jumps", "start": 1.5, "end": 3.0},
    ]


def test_mirrored_clip_is_its_own_clip(root):
    path, clips = root
    (mirror,) = HumanML3DSource(str(path)).load("M000001")
    (original,) = HumanML3DSource(str(path)).load("000001")
    assert mirror.id == "humanml3d/M000001"
    assert mirror.meta["mirrored"] is True and mirror.meta["of"] == "000001"
    assert mirror.split == "train"  # inherited from 000001, so the pair never straddles splits
    assert mirror.texts[0]["text"] == "someone turns right"
    assert rigid_residual(clips["M000001"][::2], mirror.motion.joints()[::3]) < 1e-4
    # a mirror is not a rotation of the original: the two differ in shape after alignment
    assert rigid_residual(original.motion.joints(), mirror.motion.joints()) > 1e-2


@pytest.mark.parametrize(("key", "split"), [("000005", "val"), ("000006", "test")])
def test_empty_or_missing_captions_give_empty_texts(root, key, split):
    (sample,) = HumanML3DSource(str(root[0])).load(key)
    assert sample.texts == []
    assert sample.split == split


def test_no_split_files_means_no_split(tmp_path):
    (tmp_path / "new_joints").mkdir()
    np.save(tmp_path / "new_joints" / "000000.npy", random_motion(0, 10)[1])
    (sample,) = HumanML3DSource(str(tmp_path)).load("000000")
    assert sample.split is None and sample.motion.num_frames == 14


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("000002", "unreadable .npy"),
        ("000003", r"shape \(T, 22, 3\)"),
        ("000004", r"1 frame\(s\) contain NaN"),
        ("000099", "No such file"),
    ],
)
def test_corrupt_files_name_the_file_and_reason(root, key, reason):
    with pytest.raises(ValueError, match=reason) as info:
        HumanML3DSource(str(root[0])).load(key)
    assert f"new_joints/{key}.npy" in str(info.value)


def test_missing_folder_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="new_joints"):
        HumanML3DSource(str(tmp_path)).items()
