"""Encode/decode of the 272 representation against the spec's formulas (docs/representation.md)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from motion_factory import random_motion
from motionmill.motion import features272 as f272
from motionmill.motion.rotations import ry, sixd_to_matrix
from motionmill.motion.skeleton import SMPL22, forward_kinematics

seeds = st.integers(0, 2**31 - 1)


def _canonical_expected(rotations, joints):
    """Independent canonicalisation: face +Z by the hips/shoulders rule, floor, origin; plus h[0] (spec step 4)."""
    across = joints[0, 2] - joints[0, 1] + joints[0, 17] - joints[0, 16]
    forward = np.cross([0.0, 1.0, 0.0], across)
    angle = -np.arctan2(forward[0], forward[2])
    q0 = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    P = joints @ q0.T
    P = P - np.array([P[0, 0, 0], P[..., 1].min(), P[0, 0, 2]])
    root0 = q0 @ rotations[0, 0]
    h0 = -np.arctan2(root0[0, 2], root0[2, 2])
    return P, h0


@settings(max_examples=30, deadline=None)
@given(seed=seeds, turns=st.sampled_from([0.0, 0.3, 1.0, -1.5]), backwards=st.booleans())
def test_decoded_joints_equal_canonical_joints_rotated_by_initial_heading(seed, turns, backwards):
    rotations, joints = random_motion(seed, turns=turns, backwards=backwards)
    x = f272.encode_272(rotations, joints)
    P, h0 = _canonical_expected(rotations, joints)
    # frame-0 root XZ is the origin, so rotating about Y around it is a plain rotation
    expected = P @ ry(np.array(h0)).T
    assert np.abs(f272.decode_joints(x) - expected).max() < 1e-5


@settings(max_examples=30, deadline=None)
@given(seed=seeds, turns=st.sampled_from([0.0, 1.0, -1.0]), backwards=st.booleans())
def test_encode_of_decode_is_identity(seed, turns, backwards):
    rotations, joints = random_motion(seed, turns=turns, backwards=backwards)
    x = f272.encode_272(rotations, joints)
    again = f272.encode_272(f272.decode_rotations(x), f272.decode_joints(x))
    assert np.abs(again - x).max() < 1e-9


def test_a_motion_facing_forward_decodes_exactly():
    """With h[0] = 0 (root heading equal to the across-based facing) decode(encode(P)) = canonical P."""
    rotations, joints = random_motion(7, turns=0.0)
    # an upright root turning about Y, a straight spine and collars: the across rule then agrees with the root
    rotations[:, 0] = ry(np.linspace(0, 2 * np.pi, len(rotations)))
    rotations[:, [3, 6, 9, 13, 14]] = np.eye(3)
    joints, _ = forward_kinematics(torch.from_numpy(rotations), torch.from_numpy(joints[:, 0]),
                                   torch.from_numpy(SMPL22.offsets), SMPL22.parents)  # fmt: skip
    joints = joints.numpy()
    x = f272.encode_272(rotations, joints)
    P, h0 = _canonical_expected(rotations, joints)
    assert abs(h0) < 1e-9
    assert np.abs(f272.decode_joints(x) - P).max() < 1e-9


def test_layout_blocks_follow_the_spec():
    rotations, joints = random_motion(3, frames=30)
    x = f272.encode_272(rotations, joints)
    assert x.shape == (30, 272)
    assert np.allclose(x[0, 0:2], 0) and np.allclose(x[0, 2:8], [1, 0, 0, 0, 1, 0]) and np.allclose(x[0, 74:140], 0)
    pos = x[:, 8:74].reshape(30, 22, 3)
    assert np.allclose(pos[:, 0, [0, 2]], 0, atol=1e-12)  # root XZ at the origin of the local frame
    assert np.allclose(x[1:, 74:140], (pos[1:] - pos[:-1]).reshape(29, 66))
    dH = sixd_to_matrix(x[:, 2:8])
    assert np.allclose(dH[:, 1], [0, 1, 0]) and np.allclose(dH[:, :, 1], [0, 1, 0])  # rotations about Y
    heights = f272.decode_joints(x)[..., 1]
    assert np.isclose(heights.min(), 0.0, atol=1e-12)  # floor at y = 0


def test_root_velocity_is_expressed_in_the_previous_heading_free_frame():
    rotations, joints = random_motion(11, frames=20)
    x = f272.encode_272(rotations, joints)
    R, P = f272.canonicalise(rotations, joints)
    h = -np.arctan2(R[:, 0, 0, 2], R[:, 0, 2, 2])
    for t in range(1, 20):
        v = ry(np.array(h[t - 1])) @ (P[t, 0] - P[t - 1, 0])
        assert np.allclose(x[t, 0:2], v[[0, 2]], atol=1e-12)


def test_batched_decode_matches_per_clip_decode():
    xs = np.stack([f272.encode_272(*random_motion(s, frames=25)) for s in range(3)])
    batched = f272.decode_joints(torch.from_numpy(xs))
    assert isinstance(batched, torch.Tensor)
    for i in range(3):
        assert np.allclose(batched[i].numpy(), f272.decode_joints(xs[i]))


@pytest.mark.parametrize(
    "bad,match",
    [(np.zeros((10, 263)), "HumanML3D-263"), (np.zeros((1, 272)), "at least 2"), (np.zeros(272), "shape")],
)
def test_validation_names_the_problem(bad, match):
    with pytest.raises(ValueError, match=match):
        f272.validate_features(bad)


def test_validation_reports_nan_position():
    x = np.zeros((5, 272))
    x[3, 10] = np.nan
    with pytest.raises(ValueError, match="frame 3, dim 10"):
        f272.validate_features(x)


def _recovery_reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MotionMillion's recovery from the published formulas, in numpy: 6D rows -> matrix by Gram-Schmidt, headings
    accumulated by left multiplication, root velocity rotated back by the previous heading except frame 0 (taken as
    stored), cumulative sum, and only its X and Z added to the heading-restored local positions. Returns the joints
    and the root path."""

    def gram_schmidt(d6):
        b1 = d6[..., :3] / np.linalg.norm(d6[..., :3], axis=-1, keepdims=True)
        b2 = d6[..., 3:] - (b1 * d6[..., 3:]).sum(-1, keepdims=True) * b1
        b2 = b2 / np.linalg.norm(b2, axis=-1, keepdims=True)
        return np.stack((b1, b2, np.cross(b1, b2)), axis=-2)

    T = len(x)
    heading = [gram_schmidt(x[0, 2:8])]
    for t in range(1, T):
        heading.append(gram_schmidt(x[t, 2:8]) @ heading[-1])
    inverse = np.transpose(np.array(heading), (0, 2, 1))
    positions = np.einsum("tab,tjb->tja", inverse, x[:, 8:74].reshape(T, 22, 3))
    velocity = np.zeros((T, 3))
    velocity[:, 0], velocity[:, 2] = x[:, 0], x[:, 1]
    velocity[1:] = np.einsum("tab,tb->ta", inverse[:-1], velocity[1:])
    path = np.cumsum(velocity, axis=0)
    positions[..., 0] += path[:, None, 0]
    positions[..., 2] += path[:, None, 2]
    return positions, path


@pytest.mark.parametrize("seed", range(5))
def test_any_272_array_decodes_as_motionmillions_recovery(seed):
    """Generated features are not encoder outputs: they carry a frame-0 root velocity and headings off the Y axis."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 272))
    x[:, :2] *= 0.05
    x[:, 2:8] = 0.2 * x[:, 2:8] + np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])  # small turns, tilted off Y
    joints, path = _recovery_reference(x)
    assert np.abs(path[:, 1]).max() > 1e-3 and np.abs(x[0, :2]).max() > 0  # the cases that differ are exercised
    np.testing.assert_allclose(f272.decode_joints(x), joints, atol=1e-6)
    root = f272.decode_root(x)
    np.testing.assert_allclose(root[:, [0, 2]], path[:, [0, 2]], atol=1e-9)
    np.testing.assert_allclose(root[:, 1], x[:, 9], atol=1e-12)  # the stored pelvis height
