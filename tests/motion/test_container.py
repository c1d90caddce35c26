import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from motion_factory import random_motion
from motionmill.motion import features272 as f272
from motionmill.motion.container import Motion
from motionmill.motion.skeleton import SMPL22, bone_lengths, forward_kinematics

seeds = st.integers(0, 2**31 - 1)


def _motion(seed=0, frames=40, **kw) -> Motion:
    return Motion.from_rotations(*random_motion(seed, frames=frames, **kw))


@settings(max_examples=20, deadline=None)
@given(seed=seeds, backwards=st.booleans())
def test_smpl_parameters_reproduce_the_decoded_joints(seed, backwards):
    motion = _motion(seed, turns=1.0, backwards=backwards)
    smpl = motion.smpl()
    assert smpl["poses"].shape == (40, 66) and smpl["trans"].shape == (40, 3)
    # independent check: SMPL convention pelvis = trans + J_0, then FK with per-joint axis-angle
    from motionmill.motion.rotations import axis_angle_to_matrix

    rot = axis_angle_to_matrix(smpl["poses"].reshape(40, 22, 3))
    pelvis = smpl["trans"] + np.asarray(SMPL22.rest_joints[0])
    joints, _ = forward_kinematics(torch.from_numpy(rot), torch.from_numpy(pelvis),
                                   torch.from_numpy(SMPL22.offsets), SMPL22.parents)  # fmt: skip
    assert np.abs(joints.numpy() - motion.joints()).max() < 1e-4


def test_from_smpl_round_trip():
    motion = _motion(5)
    smpl = motion.smpl()
    again = Motion.from_smpl(smpl["poses"], smpl["trans"], fps=30)
    assert np.abs(again.joints() - motion.joints()).max() < 1e-5


@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_mirror_twice_is_identity(seed):
    motion = _motion(seed)
    assert np.array_equal(motion.mirror().mirror().features, motion.features)


def test_mirror_in_feature_space_equals_encoding_the_mirrored_body():
    rotations, joints = random_motion(9, turns=0.5)
    perm = SMPL22.mirror_index
    M = np.diag([-1.0, 1.0, 1.0])
    mirrored = f272.encode_272(M @ rotations[:, perm] @ M, joints[:, perm] * [-1, 1, 1])
    assert np.abs(Motion.from_rotations(rotations, joints).mirror().features - mirrored).max() < 1e-5
    # and the mirrored body swaps sides: the left wrist goes where the right one was, x negated
    m = Motion.from_rotations(rotations, joints)
    assert np.allclose(m.mirror().joints()[:, 20], m.joints()[:, 21] * [-1, 1, 1], atol=1e-5)


@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_resample_30_60_30_keeps_joints_within_a_millimetre(seed):
    motion = _motion(seed, frames=45)
    up = motion.resample(60)
    assert up.num_frames == 89 and np.isclose(up.duration, motion.duration)
    back = up.resample(30)
    assert back.num_frames == motion.num_frames
    assert np.abs(back.joints() - motion.joints()).max() < 1e-3


def test_resample_interpolates_between_frames():
    motion = _motion(2)
    up = motion.resample(60).joints()
    j = motion.joints()
    assert np.abs(up[1] - (j[0] + j[1]) / 2).max() < 1e-5


def test_crop_recanonicalises_and_keeps_the_body():
    motion = _motion(4, frames=50)
    part = motion.crop(10, 30)
    assert part.num_frames == 20
    assert np.allclose(part.features[0, 8:74].reshape(22, 3)[0, [0, 2]], 0)
    lengths = bone_lengths(part.joints(), SMPL22.parents)
    assert np.allclose(lengths, bone_lengths(motion.joints()[10:30], SMPL22.parents), atol=1e-5)
    with pytest.raises(ValueError, match="crop"):
        motion.crop(30, 31)


def test_concatenate_continues_smoothly_from_the_end():
    a, b = _motion(1, frames=30, turns=0.25), _motion(2, frames=30, turns=-0.25)
    joined = a.concatenate(b, transition=0.2)
    assert joined.num_frames == 30 + 6 + 30
    assert np.abs(joined.joints()[:30] - a.joints()).max() < 1e-5
    j = joined.joints()
    step = np.linalg.norm(np.diff(j[28:40, 0, [0, 2]], axis=0), axis=-1)
    assert step.max() < 0.2  # no teleport of the root at the join
    # the second part keeps its shape: same joints up to a rigid motion about Y
    tail, orig = j[-30:], b.joints()
    d_tail = np.linalg.norm(tail[:, :, None] - tail[:, None], axis=-1)
    d_orig = np.linalg.norm(orig[:, :, None] - orig[:, None], axis=-1)
    assert np.abs(d_tail - d_orig).max() < 1e-4


@pytest.mark.parametrize(
    "features,match",
    [
        (np.zeros((10, 100), np.float32), r"shape \(T, 272\)"),
        (np.full((10, 272), np.nan, np.float32), "non-finite"),
        (np.zeros((1, 272), np.float32), "at least 2"),
    ],
)
def test_bad_features_raise_clear_errors(features, match):
    with pytest.raises(ValueError, match=match):
        Motion(features)


def test_bad_fps_is_rejected():
    with pytest.raises(ValueError, match="fps"):
        Motion(_motion().features, fps=0)
    with pytest.raises(ValueError, match="fps"):
        _motion().resample(-5)


def test_features263_view_is_humanml3d_at_20_fps():
    from motionmill.motion.features263 import decode_263

    motion = _motion(8, frames=61)  # 2 s at 30 fps -> 41 frames at 20 fps -> 40 HumanML3D frames
    x = motion.features263(convention="corrected")
    assert x.shape == (40, 263)
    at20 = motion.resample(20.0).joints()
    decoded = decode_263(x)

    def dist(j):  # pairwise joint distances do not depend on HumanML3D's own canonical frame
        return np.linalg.norm(j[:, :, None] - j[:, None], axis=-1)

    assert np.abs(dist(decoded) - dist(at20[:40])).max() < 1e-4


# ---- decoded views are cached, never stale ----


def _count_decodes(monkeypatch) -> dict:
    calls = {"joints": 0}
    original = f272.decode_joints

    def counted(x):
        calls["joints"] += 1
        return original(x)

    monkeypatch.setattr(f272, "decode_joints", counted)
    return calls


def test_joints_are_decoded_once_and_are_the_decoders_output(monkeypatch):
    motion = _motion(3)
    calls = _count_decodes(monkeypatch)
    first, second = motion.joints(), motion.joints()
    assert calls["joints"] == 1 and first is second
    np.testing.assert_array_equal(first, f272.decode_joints(motion.features.astype(np.float64)))
    motion.bone_offsets()  # reads the joints
    assert calls["joints"] == 2  # the explicit call above; bone_offsets used the cache


def test_edits_give_motions_with_their_own_views():
    motion = _motion(4, frames=60)
    motion.joints()  # fill the cache before editing
    for edited in (motion.mirror(), motion.crop(5, 40), motion.resample(20.0), motion.concatenate(_motion(5))):
        fresh = Motion(edited.features.copy(), edited.fps)
        np.testing.assert_array_equal(edited.joints(), fresh.joints())
        np.testing.assert_array_equal(edited.rotations(), fresh.rotations())
        np.testing.assert_array_equal(edited.root_positions(), fresh.root_positions())
        assert edited.joints().shape[0] == edited.num_frames


def test_new_features_clear_the_cache_and_arrays_cannot_be_changed_in_place():
    a, b = _motion(6), _motion(7)
    motion = Motion(a.features.copy())
    np.testing.assert_array_equal(motion.joints(), a.joints())
    motion.features = b.features
    np.testing.assert_array_equal(motion.joints(), b.joints())
    assert not np.shares_memory(motion.features, b.features)  # a private copy: b cannot change it
    for view in (motion.features, motion.joints()):
        with pytest.raises(ValueError, match="read-only"):
            view[0] = 0.0
    given = a.features.copy()
    Motion(given)
    given[0, 0] = 1.0  # the caller's array stays theirs to change


def test_a_pickled_motion_drops_its_cache_and_stays_read_only():
    import pickle

    motion = _motion(8)
    motion.joints(), motion.rotations()
    copy = pickle.loads(pickle.dumps(motion))
    assert "_views" not in motion.__getstate__()
    assert copy._views == {} and not copy.features.flags.writeable
    np.testing.assert_array_equal(copy.joints(), motion.joints())
    assert not motion.rotations().flags.writeable and not motion.root_positions().flags.writeable
