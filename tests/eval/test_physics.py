"""Physical plausibility metrics on constructed motions with known answers."""

import numpy as np
import pytest
import torch

from motionmill.eval import physics
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
