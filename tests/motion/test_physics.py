"""Physical plausibility metrics on constructed motions with known answers."""

import numpy as np
import pytest
import torch

from motionmill.motion import physics
from motionmill.motion.skeleton import SMPL22, forward_kinematics

FPS = 30.0


def standing(T=60, lift=0.0):
    """(T, 22, 3) rest pose with its lowest joint at y = lift."""
    rest = np.asarray(SMPL22.rest_joints)
    rest = rest - [0, rest[:, 1].min() - lift, 0]
    return np.repeat(rest[None], T, axis=0)


def test_sliding_feet_skate_every_frame():
    j = standing()
    j[:, :, 0] += np.arange(len(j))[:, None] * 1.0 / FPS  # whole body slides at 1 m/s, feet on the floor
    assert physics.foot_skating_ratio(j, FPS) == pytest.approx(1.0)


def test_still_slow_or_raised_feet_do_not_skate():
    assert physics.foot_skating_ratio(standing(), FPS) == 0.0
    slow = standing()
    slow[:, :, 0] += np.arange(len(slow))[:, None] * 0.3 / FPS  # 0.3 m/s < 0.5 m/s
    assert physics.foot_skating_ratio(slow, FPS) == 0.0
    high = standing(lift=0.08)  # feet 8 cm up: not in contact
    high[:, :, 0] += np.arange(len(high))[:, None] * 2.0 / FPS
    assert physics.foot_skating_ratio(high, FPS) == 0.0


def test_one_foot_skating_half_the_time():
    j = standing(T=61)
    j[30:, 10, 0] += np.arange(31) * 1.0 / FPS  # left foot slides in the second half only
    assert physics.foot_skating_ratio(j, FPS) == pytest.approx(30 / 60, abs=2 / 60)


def test_penetration_and_floating_in_mm():
    below = standing(lift=-0.03)  # 3 cm under the floor: 30 - 5 mm tolerance
    assert physics.penetration(below) == pytest.approx(25.0)
    assert physics.floating(below) == 0.0
    above = standing(lift=0.05)
    assert physics.floating(above) == pytest.approx(45.0)
    assert physics.penetration(above) == 0.0
    assert physics.penetration(standing()) == 0.0 and physics.floating(standing()) == 0.0


def test_foot_sliding_of_the_lowest_joint():
    j = standing()
    j[:, :, 2] += np.arange(len(j))[:, None] * 0.01  # 1 cm per frame along z
    assert physics.foot_sliding(j) == pytest.approx(10.0)
    assert physics.foot_sliding(standing(lift=0.02)) == 0.0


def test_jitter_is_the_second_difference():
    j = standing()
    assert physics.jitter(j) == pytest.approx(0.0)
    t = np.arange(len(j))[:, None]
    j[:, :, 1] += 0.5 * 0.002 * t**2  # constant acceleration: second difference 2 mm for every joint
    assert physics.jitter(j) == pytest.approx(0.002)


def test_bone_length_drift():
    rng = np.random.default_rng(0)
    R = torch.from_numpy(rng.normal(size=(40, 22, 3)))
    from motionmill.motion.rotations import axis_angle_to_matrix

    pos, _ = forward_kinematics(axis_angle_to_matrix(R), torch.zeros(40, 3, dtype=R.dtype),
                                torch.from_numpy(SMPL22.offsets), SMPL22.parents)  # fmt: skip
    assert physics.bone_length_drift(pos.numpy(), SMPL22.parents).max() < 1e-12
    j = standing()
    j[10:, 21] += [0.0, 0.03, 0.0]  # right wrist leaves its elbow by up to 3 cm
    drift = physics.bone_length_drift(j, SMPL22.parents)
    assert drift[21] == pytest.approx(np.linalg.norm(j[10, 21] - j[10, 19]) - np.linalg.norm(j[0, 21] - j[0, 19]))
    assert drift[:21].max() == 0.0


def test_feet_sliding_at_2_cm_height_skate_but_do_not_count_as_ground_sliding():
    j = standing(lift=0.02)  # feet (the lowest joints) 2 cm up: in contact for skating, above the 5 mm sliding band
    j[:, :, 0] += np.arange(len(j))[:, None] * 1.0 / FPS
    assert physics.foot_skating_ratio(j, FPS) == pytest.approx(1.0)
    assert physics.foot_sliding(j) == 0.0


def test_floating_10_cm():
    assert physics.floating(standing(lift=0.10)) == pytest.approx(95.0)  # 100 mm minus the 5 mm band


def velocity_jump(T=60, jump_frame=30, v1=0.5, v2=1.5):
    """Standing body moving along x at v1 m/s up to `jump_frame`, then at v2 m/s."""
    t = np.arange(T, dtype=np.float64)
    x = np.where(t <= jump_frame, v1 * t, v1 * jump_frame + v2 * (t - jump_frame)) / FPS
    j = standing(T)
    j[:, :, 0] += x[:, None]
    return j


def test_jerk_of_constant_velocity_is_zero_and_of_a_cubic_is_known():
    j = standing()
    j[:, :, 0] += np.arange(len(j))[:, None] * 0.7 / FPS
    assert physics.jerk(j, FPS).shape == (len(j) - 3,)
    assert np.abs(physics.jerk(j, FPS)).max() < 1e-6
    t = np.arange(len(j)) / FPS
    j[:, :, 2] += (0.5 * t**3)[:, None]  # third derivative 3 m/s^3 for every joint
    np.testing.assert_allclose(physics.jerk(j, FPS), 3.0, rtol=1e-6)


def test_a_velocity_jump_peaks_inside_its_transition_window_and_is_flat_outside():
    j = velocity_jump()  # a 1 m/s jump at frame 30 = 1.0 s
    curve = physics.jerk(j, FPS)
    times = (np.arange(len(curve)) + 1.5) / FPS
    assert abs(times[curve.argmax()] - 1.0) <= 0.25
    assert curve[np.abs(times - 1.0) > 0.25].max() < 1e-6
    # the second difference jumps by dv / fps at one frame: two third-difference samples of dv * fps^2 each
    out = physics.transition_jerk(j, FPS, [1.0])
    assert out["peak_jerk"] == pytest.approx(1.0 * FPS**2, rel=1e-6)
    assert out["area_under_jerk"] == pytest.approx(2 * FPS**2 / FPS, rel=1e-6)
    away = physics.transition_jerk(j, FPS, [0.5])  # a window that misses the jump
    assert away["peak_jerk"] < 1e-6 and away["area_under_jerk"] < 1e-6


def test_area_under_jerk_counts_only_jerk_above_the_clip_median():
    j = standing()
    t = np.arange(len(j)) / FPS
    j[:, :, 2] += (0.5 * t**3)[:, None]  # the same jerk everywhere: a transition no rougher than the rest
    out = physics.transition_jerk(j, FPS, [1.0, 1.5])
    assert out["peak_jerk"] == pytest.approx(3.0, rel=1e-6)
    assert out["area_under_jerk"] == pytest.approx(0.0, abs=1e-6)


def test_transition_jerk_rejects_bad_transitions():
    j = velocity_jump()
    with pytest.raises(ValueError, match="transitions"):
        physics.transition_jerk(j, FPS, [])
    with pytest.raises(ValueError, match="transitions"):
        physics.transition_jerk(j, FPS, [10.0])  # the clip lasts 2 s
    too_short = physics.transition_jerk(j[:3], FPS, [0.05])  # no jerk sample in 3 frames: the NaN mark
    assert np.isnan(too_short["peak_jerk"]) and np.isnan(too_short["area_under_jerk"])


def test_physics_report_names_every_metric():
    report = physics.physics_report(standing(lift=0.10), FPS)
    assert report == pytest.approx({"foot_skating_ratio": 0.0, "penetration_mm": 0.0, "floating_mm": 95.0,
                                    "foot_sliding_mm": 0.0, "jitter_mm": 0.0, "bone_length_drift_m": 0.0,
                                    "mean_jerk": 0.0}, abs=1e-9)  # fmt: skip
    with_transitions = physics.physics_report(velocity_jump(), FPS, transitions=[1.0])
    assert with_transitions["peak_jerk"] == pytest.approx(FPS**2, rel=1e-6)
    assert set(with_transitions) == set(report) | {"peak_jerk", "area_under_jerk"}
    with pytest.raises(ValueError, match="joints"):
        physics.physics_report(standing()[..., :2], FPS)
    with pytest.raises(ValueError, match="parents"):
        physics.physics_report(standing()[:, :10], FPS)
