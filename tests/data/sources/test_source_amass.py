"""AMASS reader on npz sequences in the released layout (<dataset>/<subject>/<name>_poses.npz + shape.npz)."""

import numpy as np
import pytest
import torch
from source_checks import rigid_residual

from motion_factory import random_motion
from motionmill.data.sources import open_source
from motionmill.data.sources.amass import AmassSource, resample_smpl
from motionmill.motion.features272 import rest_pelvis
from motionmill.motion.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from motionmill.motion.skeleton import SMPL22, forward_kinematics

KEY = "CMU/01/01_01_poses"
FRAMES = 301  # 2.5 s at 120 fps -> 76 frames at 30 fps


def _sequence(seed, frames, width=156):
    """SMPL+H-like parameters (poses (T, width), trans (T, 3)) and the joints they pose on SMPL-22 (T, 22, 3)."""
    rotations, joints = random_motion(seed, frames)
    rng = np.random.default_rng(seed)
    poses = np.concatenate((matrix_to_axis_angle(rotations).reshape(frames, 66),
                            rng.normal(0, 0.2, (frames, width - 66))), axis=1)  # fmt: skip
    trans = joints[:, 0] - rest_pelvis()
    return poses, trans, joints


def _fk(poses, trans):
    """Independent posing: FK of the 22 body rotations on the SMPL-22 rest skeleton, pelvis at trans + J_0."""
    rot = torch.from_numpy(np.asarray(poses[:, :66]).reshape(-1, 22, 3))
    root = torch.from_numpy(trans + rest_pelvis())
    return forward_kinematics(axis_angle_to_matrix(rot), root, torch.from_numpy(SMPL22.offsets), SMPL22.parents)[0]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("AMASS")
    subject = root / "CMU" / "01"
    subject.mkdir(parents=True)
    poses, trans, joints = _sequence(0, FRAMES)
    np.savez(subject / "01_01_poses.npz", poses=poses.astype(np.float32), trans=trans.astype(np.float32),
             mocap_framerate=np.array(120.0), betas=np.zeros(16), gender=np.array("male"))  # fmt: skip
    np.savez(subject / "shape.npz", betas=np.zeros(16), gender=np.array("male"))
    (subject / "01_01_poses.txt").write_text("a person jumps#a/DET person/NOUN jump/VERB#1.5#2.0\n")
    p2, t2, _ = _sequence(1, 51, width=165)
    np.savez(root / "CMU" / "x_stageii.npz", poses=p2, trans=t2, mocap_frame_rate=np.array(50.0))  # SMPL-X keys
    np.savez(root / "CMU" / "neutral_stagei.npz", betas=np.zeros(10))
    np.savez(root / "CMU" / "no_trans.npz", poses=p2, mocap_framerate=np.array(50.0))
    (root / "CMU" / "garbage.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    np.save(root / "CMU" / "array.npy", p2)
    (root / "CMU" / "array.npy").rename(root / "CMU" / "array.npz")  # an .npy under an .npz name
    nan = p2.copy()
    nan[3, 10] = np.nan
    np.savez(root / "CMU" / "nan.npz", poses=nan, trans=t2, mocap_framerate=np.array(50.0))
    return root, poses.astype(np.float32).astype(np.float64), trans.astype(np.float32).astype(np.float64)


def test_items_skip_shape_files_and_are_sorted(tree):
    source = open_source(f"amass:{tree[0]}")
    assert isinstance(source, AmassSource)
    expected = ["CMU/01/01_01_poses", "CMU/array", "CMU/garbage", "CMU/nan", "CMU/no_trans", "CMU/x_stageii"]
    assert source.items() == expected


def test_120fps_smplh_sequence_posed_on_the_neutral_skeleton(tree):
    root, poses, trans = tree
    (sample,) = AmassSource(str(root)).load(KEY)
    assert sample.id == f"amass/{KEY}#0"
    assert sample.motion.fps == 30.0 and sample.motion.num_frames == 76
    expected = _fk(poses[::4], trans[::4]).numpy()  # 120 -> 30 fps keeps every 4th frame exactly
    assert rigid_residual(expected, sample.motion.joints()) < 1e-4
    assert sample.meta["source_fps"] == 120.0 and sample.meta["skeleton"] == "neutral"
    assert sample.split is None
    assert sample.texts == [{"text": "a person jumps", "start": 1.5, "end": 2.0}]


def test_long_sequence_cut_into_clips_with_retimed_captions(tree):
    root, poses, trans = tree
    samples = open_source(f"amass:{root},clip_seconds=1").load(KEY)
    assert [s.id for s in samples] == [f"amass/{KEY}#{i}" for i in range(3)]
    lengths = [s.motion.num_frames for s in samples]
    assert sum(lengths) == 76 and max(lengths) <= 30
    expected = _fk(poses[::4], trans[::4]).numpy()
    start = 0
    for s, n in zip(samples, lengths, strict=True):
        assert s.meta["start"] == start / 30
        assert rigid_residual(expected[start : start + n], s.motion.joints()) < 1e-4
        start += n
    # 1.5-2.0 s lies in the last chunk, which starts at frame 51 (1.7 s): 0.3 of 0.5 s overlap -> kept, re-timed
    assert [s.texts for s in samples[:2]] == [[], []]
    assert samples[2].texts == [{"text": "a person jumps", "start": 0.0, "end": pytest.approx(0.3)}]


def test_smplx_keys_and_50fps(tree):
    (sample,) = AmassSource(str(tree[0])).load("CMU/x_stageii")
    assert sample.motion.num_frames == 31  # 1 s at 50 fps -> 31 frames at 30 fps


def test_resample_smpl_identity_and_grid():
    poses, trans, _ = _sequence(2, 20, width=66)
    same_p, same_t = resample_smpl(poses, trans, 30.0)
    assert np.allclose(_fk(same_p, same_t), _fk(poses, trans), atol=1e-9)
    half_p, half_t = resample_smpl(poses, trans, 60.0)
    assert half_p.shape == (10, 66) and np.allclose(half_t, trans[::2])


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("CMU/no_trans", r"not a motion sequence, missing \['trans'\]"),
        ("CMU/garbage", "unreadable .npz"),
        ("CMU/array", "not an .npz archive"),
        ("CMU/nan", r"1 frame\(s\) contain NaN"),
        ("CMU/01/shape", r"missing \['poses', 'trans', 'mocap_framerate'\]"),
    ],
)
def test_bad_files_name_the_file_and_reason(tree, key, reason):
    with pytest.raises(ValueError, match=reason) as info:
        AmassSource(str(tree[0])).load(key)
    assert f"{key}.npz" in str(info.value)


def test_smpl_model_path_names_the_extra_when_smplx_is_missing(tree):
    try:
        import smplx  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("smplx is installed; its model files are not")
    with pytest.raises(ImportError, match=r"pip install 'motionmill\[smpl\]'"):
        open_source(f"amass:{tree[0]},smpl_model=/no/models").load(KEY)


def test_bad_options():
    with pytest.raises(ValueError, match="clip_seconds"):
        AmassSource("x", clip_seconds=0)
    with pytest.raises(ValueError, match="bad option"):
        open_source("amass:/x,fps=3")
