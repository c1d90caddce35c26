"""MotionMillion reader on a folder in the released layout (motion_data/vector_272, texts, split, mean_std)."""

import numpy as np
import pytest
from source_checks import rigid_residual, write_truncated_npy

from motion_factory import random_motion
from motionmill.data.sources import open_source
from motionmill.data.sources.motionmillion import MotionMillionSource
from motionmill.motion.container import Motion

IDS = ["MotionGV/folder0/clip_b", "MotionGV/folder0/clip_a", "humanml/000001"]


def _write(root, rel, array):
    path = root / "motion_data" / "vector_272" / f"{rel}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    if array is None:
        write_truncated_npy(path, np.zeros((30, 272), np.float32))
    else:
        np.save(path, array)


def _text(root, rel, text):
    path = root / "texts" / f"{rel}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _splits(root, version, **ids):
    folder = root / "split" / version
    folder.mkdir(parents=True, exist_ok=True)
    for split, names in ids.items():
        (folder / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("MotionMillion")
    joints = {}
    for seed, rel in enumerate(IDS):
        rotations, joints[rel] = random_motion(seed, 45)
        _write(root, rel, Motion.from_rotations(rotations, joints[rel], 30).features)
    _text(root, IDS[0], "a person waves#a/DET person/NOUN wave/VERB#0.0#0.0\na person bows#x#0.5#1.2\n")
    _text(root, IDS[1], "plain caption line without tags\n")
    _splits(root, "version1/t2m_60_300", train=[IDS[0]], val=[IDS[1]], test=[IDS[2]])
    _splits(root, "version1/tokenizer_96", train=IDS)
    bad = np.zeros((30, 272), np.float32)
    _write(root, "broken/wide", np.zeros((30, 263), np.float32))
    _write(root, "broken/truncated", None)
    bad[4, 100] = np.inf
    _write(root, "broken/inf", bad)
    stats = root / "mean_std" / "vector_272"
    stats.mkdir(parents=True)
    np.save(stats / "mean.npy", np.zeros(272, np.float32))
    np.save(stats / "std.npy", np.full(272, 0.5, np.float32))
    return root, joints


def test_items_are_sorted_relative_ids(release):
    source = open_source(f"motionmillion:{release[0]}")
    assert isinstance(source, MotionMillionSource)
    assert source.items() == sorted(IDS + ["broken/inf", "broken/truncated", "broken/wide"])


def test_features_taken_as_stored(release):
    root, joints = release
    (sample,) = MotionMillionSource(str(root)).load(IDS[0])
    stored = np.load(root / "motion_data" / "vector_272" / f"{IDS[0]}.npy")
    assert sample.id == f"motionmillion/{IDS[0]}"
    assert sample.motion.fps == 30.0 and sample.motion.num_frames == 45
    assert np.array_equal(sample.motion.features, stored)
    assert rigid_residual(joints[IDS[0]], sample.motion.joints()) < 1e-4


def test_captions_spans_and_plain_lines(release):
    source = MotionMillionSource(str(release[0]))
    assert source.load(IDS[0])[0].texts == [
        {"text": "a person waves", "start": 0.0, "end": 0.0},
        {"text": "a person bows", "start": 0.5, "end": 1.2},
    ]
    assert source.load(IDS[1])[0].texts == [{"text": "plain caption line without tags", "start": 0.0, "end": 0.0}]
    assert source.load(IDS[2])[0].texts == []


def test_default_split_is_t2m_and_option_chooses_another(release):
    root = release[0]
    default = MotionMillionSource(str(root))
    assert [default.load(i)[0].split for i in IDS] == ["train", "val", "test"]
    tokenizer = open_source(f"motionmillion:{root},split=version1/tokenizer_96")
    assert [tokenizer.load(i)[0].split for i in IDS] == ["train", "train", "train"]
    with pytest.raises(ValueError, match="split folder not found"):
        MotionMillionSource(str(root), split="version9").items()


def test_single_split_folder_is_used_and_several_ask_for_the_option(tmp_path):
    single, several = tmp_path / "single", tmp_path / "several"
    for root in (single, several):
        _write(root, "a", np.zeros((3, 272), np.float32))
        _splits(root, "v1/x", train=["a"])
    _splits(several, "v2/y", test=["a"])
    assert MotionMillionSource(str(single)).load("a")[0].split == "train"
    with pytest.raises(ValueError, match=r"several split folders \['v1/x', 'v2/y'\].*split=<folder>"):
        MotionMillionSource(str(several)).items()


def test_stats(release, tmp_path):
    stats = MotionMillionSource(str(release[0])).stats()
    assert stats.dim == 272 and np.allclose(stats.std, 0.5)
    assert MotionMillionSource(str(tmp_path)).stats() is None


@pytest.mark.parametrize(
    ("key", "reason"),
    [("broken/wide", r"shape \(T, 272\)"), ("broken/truncated", "unreadable .npy"), ("broken/inf", "NaN/inf")],
)
def test_corrupt_files_name_the_file_and_reason(release, key, reason):
    with pytest.raises(ValueError, match=reason) as info:
        MotionMillionSource(str(release[0])).load(key)
    assert f"vector_272/{key}.npy" in str(info.value)
