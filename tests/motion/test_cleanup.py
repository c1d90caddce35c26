"""Foot-contact clean-up on a procedural walk whose planted feet were made to slide, and on awkward inputs."""

import numpy as np
import pytest
import torch

from motionmill.motion import physics
from motionmill.motion.cleanup import ContactSettings, clean_feet, clean_foot_joints, detect_contacts
from motionmill.motion.container import Motion
from motionmill.motion.skeleton import SMPL22, bone_lengths, forward_kinematics
from motionmill.synth.compose import compose_segments
from motionmill.synth.plan import Segment

FPS = 30.0
TOES, ANKLES = (10, 11), (7, 8)
LEGS = {"left": (4, 7, 10), "right": (5, 8, 11)}


def speed(x: np.ndarray) -> np.ndarray:
    """(T, ..., 3) -> (T, ...) horizontal speed in m/s (central differences)."""
    return np.linalg.norm(np.gradient(x[..., [0, 2]], axis=0), axis=-1) * FPS


@pytest.fixture(scope="module")
def walk():
    """(clean walk, the same walk with sliding feet, true planted frames per toe (T, 2))."""
    k = compose_segments([Segment("walk", 0.0, 5.0)], FPS, np.random.default_rng(3))
    clean = Motion.from_rotations(k.rotations, k.joints, FPS)
    joints = clean.joints()
    t = np.arange(len(joints)) / FPS
    # the whole body sways: every planted foot slides (up to ~0.6 m/s) while the skeleton stays valid
    sway = np.stack((0.07 * np.sin(2 * np.pi * 1.3 * t), np.zeros_like(t), 0.03 * np.sin(2 * np.pi * 1.1 * t + 1)), -1)
    slid = Motion.from_rotations(clean.rotations(), joints + sway[:, None], FPS)
    planted = (speed(joints[:, TOES]) < 0.05) & (joints[:, TOES, 1] < 0.005)
    return clean, slid, planted


@pytest.fixture(scope="module")
def cleaned(walk):
    return clean_feet(walk[1])


def test_walk_has_sliding_feet_to_fix(walk):
    clean, slid, planted = walk
    assert planted.mean() > 0.3  # a walk: each toe is planted for a good part of the time
    assert speed(clean.joints()[:, TOES])[planted].mean() < 0.01
    assert speed(slid.joints()[:, TOES])[planted].mean() > 0.2  # sliding


def test_planted_feet_are_held(walk, cleaned):
    _, slid, planted = walk
    out, report = cleaned
    assert report.changed and report.reason == ""
    before = speed(slid.joints()[:, TOES])[planted].mean()
    after = speed(out.joints()[:, TOES])[planted].mean()
    assert after < 0.15 * before  # sliding of the planted toes reduced by more than 85%
    for k in range(2):
        held = out.joints()[planted[:, k], TOES[k]]
        for start, stop in _runs(planted[:, k]):
            stance = out.joints()[start:stop, TOES[k]]
            assert np.ptp(stance[:, [0, 2]], axis=0).max() < 0.02  # the toe stays within 2 cm during a stance
        assert np.abs(held[:, 1]).max() < 0.01  # on the floor (a straight leg's soft reach may leave a few mm)
    skating = physics.foot_skating_ratio(slid.joints(), FPS)
    assert skating > 0.2 and physics.foot_skating_ratio(out.joints(), FPS) < 0.3 * skating  # the project's measure
    assert physics.penetration(out.joints()) == 0.0


def test_contacts_match_the_true_stances(walk, cleaned):
    _, _, planted = walk
    _, report = cleaned
    for k, foot in enumerate(("left", "right")):
        found = report.contacts[foot]
        assert found[planted[:, k]].mean() > 0.95  # nearly every planted frame is found
        assert report.frames_in_contact[foot] == int(found.sum())
    assert 0.0 < report.mean_correction_m < 0.1


def test_pelvis_path_and_upper_body_unchanged(walk, cleaned):
    _, slid, _ = walk
    out, report = cleaned
    assert report.floor_shift_m < 1e-9
    np.testing.assert_allclose(out.root_positions(), slid.root_positions(), atol=1e-5)
    upper = [j for j in range(22) if j not in (4, 5, 7, 8, 10, 11)]
    np.testing.assert_allclose(out.joints()[:, upper], slid.joints()[:, upper], atol=1e-5)
    np.testing.assert_allclose(out.rotations()[:, [0, 3, 6, 9, 12]], slid.rotations()[:, [0, 3, 6, 9, 12]], atol=1e-5)


def test_joints_outside_contacts_move_little(walk, cleaned):
    _, slid, _ = walk
    out, report = cleaned
    for foot, leg in LEGS.items():
        free = ~report.contacts[foot]
        moved = np.linalg.norm(out.joints()[free][:, leg] - slid.joints()[free][:, leg], axis=-1)
        assert moved.mean() < 0.03  # the fades carry a contact's edge correction (a few cm here) out of it
        far = free & (_distance_to(report.contacts[foot]) > ContactSettings().blend_frames)
        assert np.abs(out.joints()[far][:, leg] - slid.joints()[far][:, leg]).max() < 1e-4  # beyond the fades: none


def test_bone_lengths_are_kept(walk, cleaned):
    _, slid, _ = walk
    out, _ = cleaned
    np.testing.assert_allclose(bone_lengths(out.joints(), SMPL22.parents),
                               bone_lengths(slid.joints(), SMPL22.parents), atol=1e-5)  # fmt: skip


def test_blends_add_no_jerk_peak(walk, cleaned):
    _, slid, _ = walk
    out, _ = cleaned
    assert physics.jerk(out.joints(), FPS).max() < 1.1 * physics.jerk(slid.joints(), FPS).max()


def test_a_clean_up_that_would_raise_the_peak_jerk_is_not_applied(walk, cleaned):
    """With no room for any jerk, every fade length is tried and the motion comes back as it was, with the reason;
    with the default room the first fade is kept."""
    motion, report = clean_feet(walk[1], ContactSettings(max_jerk_ratio=0.0))
    assert motion is walk[1] and not report.changed and "peak jerk" in report.reason
    assert cleaned[1].changed and cleaned[1].blend_frames == ContactSettings().blend_frames


def test_features_decode_to_the_cleaned_joints_and_rotations(walk, cleaned):
    _, slid, _ = walk
    out, _ = cleaned
    arrays = clean_foot_joints(slid.joints(), slid.rotations(), FPS)
    np.testing.assert_allclose(out.joints(), arrays.joints, atol=1e-5)
    np.testing.assert_allclose(out.rotations(), arrays.rotations, atol=1e-5)
    again = Motion.from_rotations(out.rotations(), out.joints(), FPS)
    np.testing.assert_allclose(again.features, out.features, atol=1e-5)  # a proper motion: encoding is stable


def test_rotations_move_the_feet_like_the_joints(walk, cleaned):
    """FK of the cleaned rotations (what BVH and SMPL show) plants the feet like the joints do."""
    _, _, planted = walk
    out, _ = cleaned
    rotations, root, offsets = (torch.from_numpy(np.array(a)) for a in (out.rotations(), out.root_positions(),
                                                                       out.bone_offsets()))  # fmt: skip
    fk = forward_kinematics(rotations, root, offsets, SMPL22.parents)[0].numpy()
    np.testing.assert_allclose(fk, out.joints(), atol=0.01)
    assert speed(fk[:, TOES])[planted].mean() < 0.05


@pytest.mark.parametrize("frames", [2, 3, 4, 5])
def test_short_motions_are_returned_unchanged(walk, frames):
    short = walk[1].crop(0, frames)
    out, report = clean_feet(short)
    assert out is short and not report.changed
    assert "shorter" in report.reason and report.frames == frames


def test_motion_without_contacts_is_unchanged(walk):
    features = walk[0].features.copy()
    features[:, 9:74:3] += 0.5  # every stored height half a metre up: the body floats, no foot can be planted
    floating = Motion(features, FPS)
    out, report = clean_feet(floating)
    assert out is floating and report.reason == "no foot contact found" and not report.changed


def test_odd_inputs_do_not_crash():
    rng = np.random.default_rng(0)
    for frames in (6, 7, 40):
        noisy = Motion(rng.normal(0, 0.3, (frames, 272)), FPS)  # not a body at all
        out, report = clean_feet(noisy)
        assert np.isfinite(out.features).all() and out.num_frames == frames
    rest = np.asarray(SMPL22.rest_joints) + [0, 1.1, 0]
    still = Motion.from_rotations(np.broadcast_to(np.eye(3), (30, 22, 3, 3)), np.broadcast_to(rest, (30, 22, 3)), FPS)
    out, report = clean_feet(still)
    assert np.isfinite(out.features).all()
    slow = clean_feet(Motion(walk_like(60), 120.0))[0]
    assert slow.fps == 120.0
    point = Motion(np.zeros((30, 272)), FPS)  # every joint in one point on the floor: "planted", but no body
    out, report = clean_feet(point)
    assert out is point and "cannot be encoded" in report.reason


def walk_like(frames: int) -> np.ndarray:
    k = compose_segments([Segment("walk", 0.0, frames / 30.0)], FPS, np.random.default_rng(1))
    return Motion.from_rotations(k.rotations, k.joints, FPS).features


def test_detection_uses_hysteresis_and_minimum_duration():
    s = ContactSettings()
    T = 60
    joints = np.zeros((T, 22, 3))
    joints[:, :, 1] = 0.5
    toe = joints[:, 10]
    toe[:, 1] = 0.3
    toe[:25, 1] = 0.0
    toe[10:13, 1] = s.toe_height + 0.5 * s.release_height  # above the entry height, below the release: held
    gap = s.max_gap + 2
    toe[25 + gap : 25 + gap + s.min_frames - 1, 1] = 0.0  # down again, too briefly to count
    found = detect_contacts(joints, FPS, s)["left_toe"]
    assert found[:25].all() and not found[25:].any()
    toe[:, 1] = s.toe_height + 0.5 * s.release_height  # the same height without a contact before: not entered
    assert not detect_contacts(joints, FPS, s)["left_toe"].any()


def _runs(mask):
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(int), [0]))))
    return list(zip(edges[::2], edges[1::2], strict=True))


def _distance_to(mask):
    """(T,) frames to the nearest True of mask (inf without any)."""
    on = np.flatnonzero(mask)
    t = np.arange(len(mask))
    return np.abs(t[:, None] - on[None]).min(axis=1) if on.size else np.full(len(mask), np.inf)
