"""HumanML3D-263 in HumanML3D's own convention (the default of `encode_263`): parity with a plain-numpy
re-implementation of HumanML3D's `process_file` (written here from `motion_representation.ipynb`,
`common/skeleton.py`, `common/quaternion.py` and `paramUtil.py` of https://github.com/EricGuo5513/HumanML3D), each of
its quirks on its own, and agreement with HumanML3D's shipped pair `new_joints/012314.npy` ->
`new_joint_vecs/012314.npy`.

The shipped pair and `Std.npy` are HumanML3D's files (MIT licence, Copyright (c) 2022 Chuan Guo; repository commit
9176e8fb446b71c7d2a725eb5cf6fec1ae3b3c23, folder HumanML3D/). They are not part of this repository: the tests that
need them read them from the folder named by $MOTIONMILL_HUMANML3D_SAMPLE (holding `new_joints/012314.npy`,
`new_joint_vecs/012314.npy` and `Std.npy`, as in HumanML3D's `HumanML3D/` folder) and say so when it is not set.
"""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch

from motion_factory import random_motion
from motionmill.motion.container import Motion
from motionmill.motion.features263 import (
    CHANNELS,
    HUMANML3D_BONE_LENGTHS,
    HUMANML3D_CHAINS,
    HUMANML3D_RAW_OFFSETS,
    ROOT_ANGVEL,
    ROT6D,
    canonicalize,
    decode_263,
    encode_263,
    humanml3d_heading_angles,
    uniform_skeleton,
)
from motionmill.motion.rotations import ry, sixd_cols_to_matrix
from motionmill.motion.skeleton import SMPL22
from motionmill.synth.compose import compose_segments
from motionmill.synth.plan import Segment

ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------- HumanML3D's process_file in plain numpy
# Facts of paramUtil.py and of the notebook's __main__ block; the reference subject's bone lengths are numbers
# (HUMANML3D_BONE_LENGTHS, checked against the shipped data below).

RAW_OFFSETS = np.array(HUMANML3D_RAW_OFFSETS, dtype=np.float64)
CHAINS = [list(c) for c in HUMANML3D_CHAINS]
PARENTS = [-1] + [a for b in range(1, 22) for c in CHAINS for a, bb in pairwise(c) if bb == b]
TGT_OFFSETS = RAW_OFFSETS * np.array(HUMANML3D_BONE_LENGTHS)[:, None]  # Skeleton.get_offsets_joints of 000021
FACE_JOINT_INDX = [2, 1, 17, 16]  # r_hip, l_hip, sdr_r, sdr_l
FID_L, FID_R = [7, 10], [8, 11]
L_IDX1, L_IDX2 = 5, 8


def q_mul(q, r):
    w1, x1, y1, z1 = np.moveaxis(q, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(r, -1, 0)
    w = w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2
    x = w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2
    y = w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2
    return np.stack((w, x, y, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2), axis=-1)


def q_inv(q):
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def q_rot(q, v):
    uv = np.cross(q[..., 1:], v)
    return v + 2 * (q[..., :1] * uv + np.cross(q[..., 1:], uv))


def q_between(v0, v1):
    """The quaternion rotating v0 to v1: normalize(|v0| |v1| + v0 . v1, v0 x v1)."""
    w = np.sqrt((v0**2).sum(-1, keepdims=True) * (v1**2).sum(-1, keepdims=True)) + (v0 * v1).sum(-1, keepdims=True)
    q = np.concatenate((w, np.cross(v0, v1)), axis=-1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def q_to_cont6d(q):
    """quaternion_to_cont6d_np: the first two columns of the rotation matrix."""
    r, i, j, k = np.moveaxis(q, -1, 0)
    s = 2.0 / (q * q).sum(-1)
    col0 = np.stack((1 - s * (j * j + k * k), s * (i * j + k * r), s * (i * k - j * r)), axis=-1)
    col1 = np.stack((s * (i * j - k * r), 1 - s * (i * i + k * k), s * (j * k + i * r)), axis=-1)
    return np.concatenate((col0, col1), axis=-1)


def gaussian_filter1d_nearest(x, sigma=20.0, truncate=4.0):
    """scipy.ndimage.gaussian_filter1d(x, sigma, axis=0, mode="nearest")."""
    k = np.arange(-int(truncate * sigma + 0.5), int(truncate * sigma + 0.5) + 1)
    w = np.exp(-0.5 / sigma**2 * k**2)
    idx = np.clip(np.arange(len(x))[:, None] + k[None], 0, len(x) - 1)
    return np.einsum("k,tkc->tc", w / w.sum(), x[idx])


def inverse_kinematics_np(joints, smooth_forward=False):
    """Skeleton.inverse_kinematics_np(joints, face_joint_indx, smooth_forward)."""
    l_hip, r_hip, sdr_r, sdr_l = FACE_JOINT_INDX  # unpacked in this order there, so the hips come reversed
    across = joints[:, r_hip] - joints[:, l_hip] + joints[:, sdr_r] - joints[:, sdr_l]
    across = across / np.linalg.norm(across, axis=-1, keepdims=True)
    forward = np.cross(np.array([[0.0, 1.0, 0.0]]), across)
    if smooth_forward:
        forward = gaussian_filter1d_nearest(forward)
    forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    root_quat = q_between(forward, np.array([[0.0, 0.0, 1.0]]).repeat(len(forward), 0))
    root_quat[0] = [1.0, 0.0, 0.0, 0.0]
    quat = np.zeros(joints.shape[:-1] + (4,))
    quat[:, 0] = root_quat
    for chain in CHAINS:
        R = root_quat
        for a, b in pairwise(chain):
            v = joints[:, b] - joints[:, a]
            rot_u_v = q_between(RAW_OFFSETS[b][None].repeat(len(joints), 0), v / np.linalg.norm(v, axis=-1)[:, None])
            quat[:, b] = q_mul(q_inv(R), rot_u_v)
            R = q_mul(R, quat[:, b])
    return quat


def forward_kinematics_np(quat, root_pos, offsets):
    joints = np.zeros(quat.shape[:-1] + (3,))
    joints[:, 0] = root_pos
    for chain in CHAINS:
        R = quat[:, 0]
        for a, b in pairwise(chain):
            R = q_mul(R, quat[:, b])
            joints[:, b] = q_rot(R, offsets[b][None].repeat(len(quat), 0)) + joints[:, a]
    return joints


def reference_uniform_skeleton(positions):
    src_offsets = RAW_OFFSETS * np.linalg.norm(positions[0] - positions[0, [0] + PARENTS[1:]], axis=-1)[:, None]
    src_leg = np.abs(src_offsets[L_IDX1]).max() + np.abs(src_offsets[L_IDX2]).max()
    tgt_leg = np.abs(TGT_OFFSETS[L_IDX1]).max() + np.abs(TGT_OFFSETS[L_IDX2]).max()
    quat = inverse_kinematics_np(positions)
    return forward_kinematics_np(quat, positions[:, 0] * (tgt_leg / src_leg), TGT_OFFSETS)


def reference_process_file(positions, feet_thre=0.002):
    """process_file(positions, feet_thre): (T, 22, 3) -> (T - 1, 263)."""
    positions = reference_uniform_skeleton(np.array(positions, dtype=np.float64))
    positions[:, :, 1] -= positions.min(axis=0).min(axis=0)[1]  # put on floor
    root_pos_init = positions[0]
    positions = positions - root_pos_init[0] * np.array([1, 0, 1])  # XZ at origin
    r_hip, l_hip, sdr_r, sdr_l = FACE_JOINT_INDX  # all initially face Z+
    across = root_pos_init[r_hip] - root_pos_init[l_hip] + root_pos_init[sdr_r] - root_pos_init[sdr_l]
    forward_init = np.cross(np.array([[0.0, 1.0, 0.0]]), across / np.linalg.norm(across))
    forward_init = forward_init / np.linalg.norm(forward_init, axis=-1, keepdims=True)
    root_quat_init = q_between(forward_init, np.array([[0.0, 0.0, 1.0]]))
    positions = q_rot(np.ones(positions.shape[:-1] + (4,)) * root_quat_init, positions)
    global_positions = positions.copy()

    def foot_detect(fid):
        return (((positions[1:, fid] - positions[:-1, fid]) ** 2).sum(-1) < feet_thre).astype(np.float64)

    feet_l, feet_r = foot_detect(FID_L), foot_detect(FID_R)
    quat = inverse_kinematics_np(positions, smooth_forward=True)  # get_cont6d_params
    cont_6d_params = q_to_cont6d(quat)
    r_rot = quat[:, 0].copy()
    velocity = q_rot(r_rot[1:], positions[1:, 0] - positions[:-1, 0])
    r_velocity = q_mul(r_rot[1:], q_inv(r_rot[:-1]))
    positions[..., 0] -= positions[:, 0:1, 0]  # get_rifke
    positions[..., 2] -= positions[:, 0:1, 2]
    positions = q_rot(np.repeat(r_rot[:, None], 22, axis=1), positions)
    root_data = np.concatenate((np.arcsin(r_velocity[:, 2:3]), velocity[:, [0, 2]], positions[:-1, 0, 1:2]), axis=-1)
    local_vel = q_rot(np.repeat(r_rot[:-1, None], 22, axis=1), global_positions[1:] - global_positions[:-1])
    n = len(positions) - 1
    return np.concatenate((root_data, positions[:-1, 1:].reshape(n, -1), cont_6d_params[:-1, 1:].reshape(n, -1),
                           local_vel.reshape(n, -1), feet_l, feet_r), axis=-1)  # fmt: skip


# ---------------------------------------------------------------- motions


def _sample_dir() -> Path | None:
    folder = os.environ.get("MOTIONMILL_HUMANML3D_SAMPLE")
    return Path(folder) if folder and (Path(folder) / "new_joint_vecs" / "012314.npy").is_file() else None


SAMPLE = _sample_dir()
needs_sample = pytest.mark.skipif(
    SAMPLE is None,
    reason="HumanML3D's shipped pair 012314 is not in "
    "this repository: set MOTIONMILL_HUMANML3D_SAMPLE to HumanML3D's HumanML3D/ folder",
)


def _shipped(name: str) -> np.ndarray:
    return np.load(SAMPLE / name).astype(np.float64)


def _synth(*segments: Segment, seed: int = 3) -> np.ndarray:
    """(T, 22, 3) a procedural clip at 20 fps with 3 mm of seeded jitter on every joint, as in captured data (an
    exactly symmetric synthetic body facing exactly -Z would make HumanML3D's quaternion of the heading 0 / 0)."""
    joints = compose_segments(list(segments), 20.0, np.random.default_rng(seed)).joints
    return joints + np.random.default_rng(seed).normal(0.0, 0.003, joints.shape)


def _turn_180() -> np.ndarray:
    turn = Segment("turn_in_place", 2.0, 4.5, (("turn", 180),))
    return _synth(Segment("walk", 0.0, 2.0), turn, Segment("walk", 4.5, 6.5), seed=5)


def _spin_in_place(T: int, rate: float) -> np.ndarray:
    """(T, 22, 3) the rest pose turning about Y by `rate` rad/frame, arms lowered 40 degrees in the body's plane."""
    rest = np.asarray(SMPL22.rest_joints, dtype=np.float64).copy()
    for arm, angle in (((16, 18, 20), 0.7), ((17, 19, 21), -0.7)):  # shoulder, elbow, wrist: turn about Z
        c, s = np.cos(angle), np.sin(angle)
        rest[list(arm)] = rest[arm[0]] + (rest[list(arm)] - rest[arm[0]]) @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]])
    yaw = np.arange(T) * rate + 0.3
    return (ry(yaw)[:, None] @ rest[None, :, :, None])[..., 0] + np.array([1.0, 0.2, -2.0])


MOTIONS = {
    "walk": lambda: _synth(Segment("walk", 0.0, 5.0)),
    "turn_180": _turn_180,
    "spin_3_turns_large_subject": lambda: random_motion(11, frames=160, turns=3.0, scale=1.25)[1],
    "spin_4_turns_in_place": lambda: _spin_in_place(320, 0.08),
    "spin_fast_in_place": lambda: _spin_in_place(90, 0.35),  # 5 turns in 4.5 s: the smoothing all but hides them
    "backwards_small_subject": lambda: random_motion(12, frames=60, turns=-0.6, backwards=True, scale=0.8)[1],
}


# ---------------------------------------------------------------- parity with the reference process_file


@pytest.mark.parametrize("name", sorted(MOTIONS))
def test_encoder_matches_reference_process_file(name):
    joints = MOTIONS[name]()
    expected = reference_process_file(joints)
    ours = encode_263(joints)
    assert ours.shape == expected.shape == (len(joints) - 1, 263)
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=0)


@needs_sample
@pytest.mark.parametrize("moved", [False, True])
def test_encoder_matches_reference_process_file_on_real_motion(moved):
    joints = _shipped("new_joints/012314.npy")
    if moved:  # another subject's size, placed and turned anywhere: retargeting undoes the size
        joints = joints * 1.17 @ ry(np.array(2.5)).T + np.array([3.0, 0.4, -1.0])
    np.testing.assert_allclose(encode_263(joints), reference_process_file(joints), atol=1e-5, rtol=0)


def test_torch_float32_input_follows_the_reference():
    joints = MOTIONS["walk"]()
    x32 = encode_263(torch.from_numpy(joints).float())
    assert x32.dtype == torch.float32
    np.testing.assert_allclose(x32.numpy(), reference_process_file(joints), atol=2e-3, rtol=0)


# ---------------------------------------------------------------- HumanML3D's shipped pair


def _block_errors(x: np.ndarray, target: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """Mean absolute difference per channel group, in units of HumanML3D's Std."""
    d = np.abs(x - target[: len(x)]) / std
    return {name: float(d[:, s].mean()) for name, s in CHANNELS.items()}


@needs_sample
def test_reference_bone_lengths_are_those_of_the_shipped_joints():
    joints = _shipped("new_joints/012314.npy")
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, PARENTS[1:]], axis=-1)  # (T, 21)
    np.testing.assert_allclose(lengths, np.broadcast_to(HUMANML3D_BONE_LENGTHS[1:], lengths.shape), atol=2e-6)


@needs_sample
def test_shipped_pair_is_reproduced_as_closely_as_by_process_file_itself(capsys):
    joints, vecs, std = _shipped("new_joints/012314.npy"), _shipped("new_joint_vecs/012314.npy"), _shipped("Std.npy")
    reference = _block_errors(reference_process_file(joints), vecs, std)
    ours = _block_errors(encode_263(joints), vecs, std)
    corrected = _block_errors(encode_263(joints, convention="corrected"), vecs, std)
    with capsys.disabled():
        print("\nmean |x - shipped| / Std per block: reference process_file | ours | corrected")
        for name in CHANNELS:
            print(f"  {name:13s} {reference[name]:.2e} | {ours[name]:.2e} | {corrected[name]:.2e}")
    for name in CHANNELS:
        assert ours[name] <= 0.05, name
        assert ours[name] <= reference[name] + 1e-4, name
    assert corrected["rot6d"] > 1.0  # the corrected rotations are another quantity


# ---------------------------------------------------------------- each quirk on its own


def test_the_subject_size_does_not_matter():
    joints = MOTIONS["walk"]()
    np.testing.assert_allclose(encode_263(joints * 1.3), encode_263(joints), atol=1e-9, rtol=0)
    assert not np.allclose(encode_263(joints * 1.3, convention="corrected"), encode_263(joints, convention="corrected"))


def test_decoding_gives_the_motion_on_the_reference_skeleton():
    joints = random_motion(4, frames=50, turns=0.3, scale=1.2)[1]
    decoded = decode_263(encode_263(joints))
    np.testing.assert_allclose(decoded, canonicalize(uniform_skeleton(joints))[:-1], atol=1e-9, rtol=0)
    lengths = np.linalg.norm(decoded[:, 1:] - decoded[:, PARENTS[1:]], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(HUMANML3D_BONE_LENGTHS[1:], lengths.shape), atol=1e-9)


def test_uniform_skeleton_keeps_bone_directions_and_scales_the_root_path_by_the_leg():
    joints = random_motion(8, frames=20, scale=0.9)[1]
    out = uniform_skeleton(joints)
    bones, new = joints[:, 1:] - joints[:, PARENTS[1:]], out[:, 1:] - out[:, PARENTS[1:]]
    unit = bones / np.linalg.norm(bones, axis=-1, keepdims=True)
    np.testing.assert_allclose(new, unit * np.array(HUMANML3D_BONE_LENGTHS[1:])[:, None], atol=1e-12)
    leg = np.linalg.norm(bones[0, [4, 7]], axis=-1).sum()  # bones ending at joints 5 and 8
    np.testing.assert_allclose(out[:, 0], joints[:, 0] * (HUMANML3D_BONE_LENGTHS[5] + HUMANML3D_BONE_LENGTHS[8]) / leg)


def test_first_frame_heading_is_the_identity_so_the_first_turn_jumps():
    # standing still with the shoulders turned 30 degrees from the hips: HumanML3D's across vector (hips reversed)
    # points elsewhere than the frame-0 facing, so every frame after 0 has a heading and frame 0 has none
    rest = np.asarray(SMPL22.rest_joints, dtype=np.float64)
    upper = [3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
    rest[upper] = (rest[upper] - rest[3]) @ ry(np.array(np.pi / 6)).T + rest[3]
    x = encode_263(np.repeat(rest[None], 30, axis=0))
    theta = humanml3d_heading_angles(canonicalize(uniform_skeleton(np.repeat(rest[None], 30, axis=0))))
    assert theta[0] == 0 and abs(theta[1]) > 0.05
    np.testing.assert_allclose(theta[1:], theta[1], atol=1e-12)  # still, so smoothing changes nothing
    np.testing.assert_allclose(x[0, ROOT_ANGVEL.start], theta[1] / 2, atol=1e-12)  # the jump
    np.testing.assert_allclose(x[1:, ROOT_ANGVEL.start], 0, atol=1e-12)
    assert np.allclose(encode_263(np.repeat(rest[None], 30, axis=0), convention="corrected")[:, 0], 0)


def test_heading_is_smoothed_over_time_with_the_hips_reversed():
    joints = canonicalize(uniform_skeleton(MOTIONS["turn_180"]()))
    across = joints[:, 1] - joints[:, 2] + joints[:, 17] - joints[:, 16]
    across /= np.linalg.norm(across, axis=-1, keepdims=True)
    forward = gaussian_filter1d_nearest(np.cross([0.0, 1.0, 0.0], across))
    theta = humanml3d_heading_angles(joints)
    np.testing.assert_allclose(theta[1:], -np.arctan2(forward[1:, 0], forward[1:, 2]), atol=1e-12)


def test_turn_velocity_flips_sign_where_the_heading_crosses_180_degrees():
    joints = MOTIONS["spin_4_turns_in_place"]()
    theta = humanml3d_heading_angles(canonicalize(uniform_skeleton(joints)))
    step = np.diff(theta)
    crossing = np.abs(step) > np.pi
    assert crossing.sum() >= 4  # several full turns
    wrapped_half = np.arctan2(np.sin(step), np.cos(step)) / 2
    stored = encode_263(joints)[:, ROOT_ANGVEL.start]
    np.testing.assert_allclose(stored[~crossing], wrapped_half[~crossing], atol=1e-12)
    np.testing.assert_allclose(stored[crossing], -wrapped_half[crossing], atol=1e-12)


def test_rotation_channels_are_per_chain_rotations_against_the_raw_offsets():
    # forward kinematics along HumanML3D's chains, from the heading and the stored rotations (`recover_from_rot`),
    # rebuilds the canonical motion on the reference skeleton
    joints = canonicalize(uniform_skeleton(MOTIONS["spin_3_turns_large_subject"]()))
    x = encode_263(joints)
    stored = sixd_cols_to_matrix(x[:, ROT6D].reshape(len(x), 21, 6))  # (T - 1, 21, 3, 3)
    heading = ry(humanml3d_heading_angles(joints)[:-1])
    rebuilt = np.zeros_like(joints[:-1])
    rebuilt[:, 0] = joints[:-1, 0]
    for chain in CHAINS:
        R = heading
        for a, b in pairwise(chain):
            R = R @ stored[:, b - 1]
            offset = RAW_OFFSETS[b] * HUMANML3D_BONE_LENGTHS[b]
            rebuilt[:, b] = rebuilt[:, a] + R @ offset
    np.testing.assert_allclose(rebuilt, joints[:-1], atol=1e-9)


# ---------------------------------------------------------------- options and validation


def test_motion_features263_defaults_to_humanml3d_and_takes_the_option():
    motion = Motion.from_joints(MOTIONS["walk"](), fps=20.0)
    at20 = motion.joints()
    np.testing.assert_allclose(motion.features263(), encode_263(at20), atol=1e-12)
    corrected = motion.features263(convention="corrected")
    np.testing.assert_allclose(corrected, encode_263(at20, convention="corrected"), atol=1e-12)


def test_unknown_convention_is_rejected():
    with pytest.raises(ValueError, match="convention"):
        encode_263(MOTIONS["walk"](), convention="momask")


def test_undefined_facing_after_retargeting_is_rejected():
    # hips straight below the pelvis, collars and shoulders straight above spine3: after retargeting, the across
    # vector of every frame is vertical
    joints = np.repeat(np.asarray(SMPL22.rest_joints, dtype=np.float64)[None], 4, axis=0)
    for j, base, dy in ((1, 0, -0.1), (2, 0, -0.2), (13, 9, 0.1), (14, 9, 0.2), (16, 9, 0.4), (17, 9, 0.5)):
        joints[:, j] = joints[:, base] + [0.0, dy, 0.0]
    with pytest.raises(ValueError, match="facing direction"):
        encode_263(joints)
