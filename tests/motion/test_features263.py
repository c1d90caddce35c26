"""Tests for motionmill.motion.features263 in its corrected convention: joints -> 263 -> joints round trips, parity
of the decoder with an independent per-frame quaternion implementation of HumanML3D's `recover_from_ric`, channel
semantics, validation. HumanML3D's own convention (the default) is tested in test_features263_humanml3d.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from motionmill.motion.features263 import (
    CHANNELS,
    DIM,
    FOOT_CONTACT,
    FPS,
    LOCAL_VEL,
    RIC,
    ROOT_ANGVEL,
    ROOT_LINVEL,
    ROOT_Y,
    ROT6D,
    decode_263,
    encode_263,
)
from motionmill.motion.ik import fitted_offsets, inverse_kinematics
from motionmill.motion.rotations import axis_angle_to_matrix, matrix_to_6d, ry, sixd_cols_to_matrix
from motionmill.motion.skeleton import SMPL22, forward_kinematics

OFFSETS = torch.as_tensor(SMPL22.offsets)  # (J, 3) float64
Y = np.array([0.0, 1.0, 0.0])

# ---------------------------------------------------------------- independent quaternion algebra (w, x, y, z)


def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w1, v1, w2, v2 = a[0], a[1:], b[0], b[1:]
    return np.concatenate(([w1 * w2 - v1 @ v2], w1 * v2 + w2 * v1 + np.cross(v1, v2)))


def qinv(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    return qmul(qmul(q, np.concatenate(([0.0], v))), qinv(q))[1:]


def qbetween(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shortest-arc quaternion taking direction u to direction v (w >= 0)."""
    q = np.concatenate(([np.linalg.norm(u) * np.linalg.norm(v) + u @ v], np.cross(u, v)))
    return q / np.linalg.norm(q)


def heading_quat(frame: np.ndarray) -> np.ndarray:
    """The quaternion taking one frame's forward (Y x across of hips and shoulders) to +Z."""
    across = frame[2] - frame[1] + frame[17] - frame[16]
    forward = np.cross(Y, across / np.linalg.norm(across))
    return qbetween(forward / np.linalg.norm(forward), np.array([0.0, 0.0, 1.0]))


def reference_canonical(joints: np.ndarray) -> np.ndarray:
    """Floor at 0, frame-0 root XZ at the origin, frame 0 facing +Z: HumanML3D's preamble, frame by frame."""
    p = joints - np.array([joints[0, 0, 0], joints[..., 1].min(), joints[0, 0, 2]])
    q0 = heading_quat(p[0])
    return np.array([[qrot(q0, v) for v in frame] for frame in p])


def reference_decode(x: np.ndarray) -> np.ndarray:
    """HumanML3D's recover_root_rot_pos + recover_from_ric for one (T, 263) clip, looping over frames."""
    out, angle, root_xz = [], 0.0, np.zeros(3)
    for t in range(len(x)):
        if t > 0:
            angle += x[t - 1, 0]
            q = np.array([np.cos(angle), 0.0, np.sin(angle), 0.0])
            root_xz = root_xz + qrot(qinv(q), np.array([x[t - 1, 1], 0.0, x[t - 1, 2]]))
        q = np.array([np.cos(angle), 0.0, np.sin(angle), 0.0])
        frame = [np.array([root_xz[0], x[t, 3], root_xz[2]])]
        for j in range(21):
            frame.append(qrot(qinv(q), x[t, 4 + 3 * j : 7 + 3 * j]) + root_xz * np.array([1.0, 0.0, 1.0]))
        out.append(frame)
    return np.array(out)


# ---------------------------------------------------------------- motions


def make_motion(seed: int, T: int = 40, turn: float = 0.0, speed: float = 1.0, pose_scale: float = 0.35):
    """(T, 22, 3) float64 joints: random poses (FK of random local rotations), a root path at `speed` m/s along
    the facing direction (negative walks backwards) with sideways and vertical jitter, yawing by `turn` radians
    over the clip, placed anywhere in the world with the floor not at 0."""
    rng = np.random.default_rng(seed)
    rotations = axis_angle_to_matrix(torch.from_numpy(rng.normal(scale=pose_scale, size=(T, 22, 3))))
    yaw = torch.from_numpy(rng.uniform(-np.pi, np.pi) + turn * np.linspace(0, 1, T) + 0.05 * rng.normal(size=T))
    tilt = axis_angle_to_matrix(torch.from_numpy(rng.normal(scale=0.15, size=(T, 3))))
    rotations[:, 0] = ry(yaw) @ tilt
    bob = rng.normal(scale=0.3, size=T)  # the pelvis moves up and down too
    step = np.stack((rng.normal(scale=0.3, size=T), bob, np.full(T, speed)), axis=-1) / FPS  # (side, up, forward)
    world_step = (ry(yaw) @ torch.from_numpy(step)[..., None])[..., 0]
    start = torch.from_numpy(np.array([rng.uniform(-5, 5), rng.uniform(0.5, 1.5), rng.uniform(-5, 5)]))
    joints, _ = forward_kinematics(rotations, start + torch.cumsum(world_step, 0), OFFSETS, SMPL22.parents)
    return joints


def rest_pose_clip(T: int) -> torch.Tensor:
    """(T, 22, 3) the standing rest pose, still, facing +Z."""
    return torch.as_tensor(SMPL22.rest_joints, dtype=torch.float64).expand(T, 22, 3).clone()


# ---------------------------------------------------------------- round trips and parity


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    turn=st.sampled_from([0.0, 2 * np.pi, -2 * np.pi, 4 * np.pi, 1.0]),
    speed=st.sampled_from([1.2, -1.0, 0.0]),
    T=st.integers(2, 50),
)
def test_decode_of_encode_is_the_canonical_motion(seed, turn, speed, T):
    joints = make_motion(seed, T, turn, speed)
    features = encode_263(joints, convention="corrected")
    assert features.shape == (T - 1, DIM)
    expected = reference_canonical(joints.numpy())[: T - 1]
    np.testing.assert_allclose(decode_263(features).numpy(), expected, atol=1e-5, rtol=0)


def test_encode_ignores_where_the_motion_is_placed():
    joints = make_motion(7, turn=2 * np.pi, speed=-1.0)
    moved = (ry(torch.tensor(2.1, dtype=torch.float64)) @ joints[..., None])[..., 0] + torch.tensor([3.0, 0.4, -8.0])
    torch.testing.assert_close(
        encode_263(moved, convention="corrected"), encode_263(joints, convention="corrected"), atol=1e-9, rtol=0
    )


def test_decoder_matches_reference_implementation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 30, DIM))
    x[..., ROOT_ANGVEL] *= 0.4  # a full turn every ~8 frames, crossing +-180 degrees several times
    x[..., ROOT_LINVEL] *= 0.1
    joints = decode_263(x)  # numpy in, numpy out, leading batch dimension
    assert isinstance(joints, np.ndarray) and joints.shape == (2, 30, 22, 3)
    for clip, decoded in zip(x, joints, strict=True):
        np.testing.assert_allclose(decoded, reference_decode(clip), atol=1e-6, rtol=0)
    torch.testing.assert_close(decode_263(torch.from_numpy(x[1])), torch.from_numpy(joints[1]), atol=1e-12, rtol=0)


# ---------------------------------------------------------------- channel semantics


def test_layout_tiles_263_channels():
    widths = {name: s.stop - s.start for name, s in CHANNELS.items()}
    assert widths == {
        "root_angvel": 1, "root_linvel": 2, "root_y": 1, "ric": 63, "rot6d": 126, "local_vel": 66, "foot_contact": 4,
    }  # fmt: skip
    starts = [s.start for s in CHANNELS.values()]
    stops = [s.stop for s in CHANNELS.values()]
    assert starts[0] == 0 and stops[-1] == DIM == 263 and starts[1:] == stops[:-1]


def test_root_and_ric_channels_match_the_canonical_motion():
    joints = make_motion(3, T=30, turn=np.pi, speed=-0.8)
    x = encode_263(joints, convention="corrected").numpy()
    canon = reference_canonical(joints.numpy())
    np.testing.assert_allclose(x[:, ROOT_Y.start], canon[:-1, 0, 1], atol=1e-12)
    # frame 0 faces +Z after canonicalisation, so its RIC entries are the canonical joints relative to the root XZ
    ric0 = x[0, RIC].reshape(21, 3)
    np.testing.assert_allclose(ric0, canon[0, 1:] - canon[0, 0] * np.array([1.0, 0.0, 1.0]), atol=1e-9)
    for t in range(len(x)):
        q, q_next = heading_quat(canon[t]), heading_quat(canon[t + 1])
        np.testing.assert_allclose(x[t, RIC].reshape(21, 3)[4], qrot(q, canon[t, 5] - canon[t, 0] * [1, 0, 1]))
        root_step = qrot(q_next, canon[t + 1, 0] - canon[t, 0])  # heading of t + 1, as HumanML3D stores it
        np.testing.assert_allclose(x[t, ROOT_LINVEL], root_step[[0, 2]], atol=1e-12)


def test_local_velocities_are_finite_differences_in_the_heading_frame():
    joints = make_motion(4, T=25, turn=-2 * np.pi)
    x = encode_263(joints, convention="corrected").numpy()
    canon = reference_canonical(joints.numpy())
    for t in range(len(x)):
        q = heading_quat(canon[t])
        expected = np.array([qrot(q, d) for d in canon[t + 1] - canon[t]])
        np.testing.assert_allclose(x[t, LOCAL_VEL].reshape(22, 3), expected, atol=1e-12)


@pytest.mark.parametrize("rate", [0.3, -0.3, 1.0])
def test_angular_velocity_is_the_half_angle_even_across_180_degrees(rate):
    # spinning in place at `rate` rad/frame: the heading passes +-180 degrees, where HumanML3D's arcsin flips sign
    T = 30
    yaw = torch.arange(T, dtype=torch.float64) * rate
    joints = (ry(yaw)[:, None] @ rest_pose_clip(T)[..., None])[..., 0]
    x = encode_263(joints, convention="corrected")
    # Ry(theta) takes forward to +Z, so theta = -yaw and its half-angle step is -rate / 2
    torch.testing.assert_close(x[:, ROOT_ANGVEL.start], torch.full((T - 1,), -rate / 2, dtype=torch.float64))


def test_foot_contacts_planted_and_moving_feet():
    joints = rest_pose_clip(12)
    joints[:, [8, 11], 2] += 0.1 * torch.arange(12, dtype=torch.float64)[:, None]  # right foot slides 10 cm/frame
    joints[:, 7, 0] += 0.03 * torch.arange(12, dtype=torch.float64)  # left ankle creeps 3 cm/frame: 9e-4 m^2
    # left ankle, left foot, right ankle, right foot
    contacts = encode_263(joints, convention="corrected")[:, FOOT_CONTACT]
    assert torch.equal(contacts, torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64).expand(11, 4))
    strict = encode_263(joints, feet_thre=5e-4, convention="corrected")[:, FOOT_CONTACT]
    assert torch.equal(strict, torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64).expand(11, 4))


def test_rot6d_channels_are_ik_rotations_in_column_convention():
    joints = make_motion(5, T=12)
    canon = torch.from_numpy(reference_canonical(joints.numpy()))
    x = encode_263(joints, convention="corrected")
    stored = sixd_cols_to_matrix(x[:, ROT6D].reshape(11, 21, 6))  # (T - 1, 21, 3, 3)
    ik = inverse_kinematics(canon)
    torch.testing.assert_close(stored, ik[:-1, 1:], atol=1e-9, rtol=0)
    assert not torch.allclose(x[:, ROT6D].reshape(11, 21, 6), matrix_to_6d(ik[:-1, 1:]), atol=1e-3)  # not rows
    # with the root orientation (not stored) the channels carry the whole pose: FK reproduces the joints
    rotations = torch.cat((ik[:-1, :1], stored), dim=1)
    fk = forward_kinematics(rotations, canon[:-1, 0], fitted_offsets(canon), SMPL22.parents)[0]
    torch.testing.assert_close(fk, canon[:-1], atol=1e-6, rtol=0)


def test_types_follow_the_input():
    joints = make_motion(6, T=10)
    assert isinstance(encode_263(joints.numpy(), convention="corrected"), np.ndarray)
    x32 = encode_263(joints.float(), convention="corrected")
    assert x32.dtype == torch.float32
    torch.testing.assert_close(
        decode_263(x32), decode_263(encode_263(joints, convention="corrected")).float(), atol=1e-4, rtol=0
    )


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("joints", "message"),
    [
        (torch.zeros(10, 21, 3), r"shape \(T, 22, 3\)"),
        (torch.zeros(22, 3), r"shape \(T, 22, 3\)"),
        (rest_pose_clip(1), "at least 2 frames"),
        (rest_pose_clip(5).index_fill_(0, torch.tensor([2]), float("nan")), "NaN"),
    ],
)
def test_encode_rejects_bad_joints(joints, message):
    with pytest.raises(ValueError, match=message):
        encode_263(joints)


def test_encode_rejects_an_undefined_facing_direction():
    joints = rest_pose_clip(4)
    joints[:, [1, 2, 16, 17]] = torch.tensor(
        [[0.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.5, 0.0], [0.0, 0.6, 0.0]], dtype=torch.float64
    )
    with pytest.raises(ValueError, match="facing direction"):
        encode_263(joints, convention="corrected")


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((10, 262)), "263"),
        (np.zeros(263), "263"),
        (np.zeros((0, 263)), "no frames"),
        (np.full((4, 263), np.inf), "NaN or infinite"),
    ],
)
def test_decode_rejects_bad_features(x, message):
    with pytest.raises(ValueError, match=message):
        decode_263(x)
