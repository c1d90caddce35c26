"""Tests for motionmill.motion.ik: FK(IK(joints)) reproduces positions, twist-free rotations are recovered exactly,
rotations are proper, single-child rotations carry no twist and multi-child rotations are least-squares optimal."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from motionmill.motion.ik import fitted_offsets, inverse_kinematics
from motionmill.motion.rotations import axis_angle_to_matrix, matrix_to_axis_angle, quat_to_matrix, rotation_between
from motionmill.motion.skeleton import SMPL22, forward_kinematics

PARENTS = SMPL22.parents
OFFSETS = torch.as_tensor(SMPL22.offsets)  # (J, 3) float64
CHILDREN = SMPL22.children
LEAVES = [j for j, kids in enumerate(CHILDREN) if not kids]
SINGLE = [j for j, kids in enumerate(CHILDREN) if len(kids) == 1]
MULTI = [j for j, kids in enumerate(CHILDREN) if len(kids) > 1]


def random_rotations(rng: np.random.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """Uniformly random rotations (normalised Gaussian quaternions), (*shape, 3, 3) float64."""
    q = torch.from_numpy(rng.normal(size=shape + (4,)))
    return quat_to_matrix(q / q.norm(dim=-1, keepdim=True))


def random_motion(rng: np.random.Generator, T: int, offsets: torch.Tensor = OFFSETS):
    """Joints from FK of random local rotations and a random root path; returns (joints, rotations)."""
    rotations = random_rotations(rng, (T, 22))
    root = torch.from_numpy(rng.normal(size=(T, 3)))
    joints, _ = forward_kinematics(rotations, root, offsets, PARENTS)
    return joints, rotations


def fk(rotations: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """Positions from IK output, rooted at the observed pelvis and with the motion's fitted offsets."""
    return forward_kinematics(rotations, joints[..., 0, :], fitted_offsets(joints), PARENTS)[0]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 12))
def test_fk_of_ik_reproduces_joints(seed, T):
    joints, _ = random_motion(np.random.default_rng(seed), T)
    torch.testing.assert_close(fk(inverse_kinematics(joints), joints), joints, atol=1e-6, rtol=0)
    torch.testing.assert_close(fitted_offsets(joints), OFFSETS, atol=1e-9, rtol=0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_fk_of_ik_reproduces_joints_with_rescaled_bones(seed):
    rng = np.random.default_rng(seed)
    scaled = OFFSETS * torch.from_numpy(rng.uniform(0.5, 2.0, size=(22, 1)))
    scaled[0] = OFFSETS[0]
    joints, _ = random_motion(rng, 8, scaled)
    torch.testing.assert_close(fitted_offsets(joints), scaled, atol=1e-9, rtol=0)
    torch.testing.assert_close(fk(inverse_kinematics(joints), joints), joints, atol=1e-6, rtol=0)


def twist_free_rotations(rng: np.random.Generator, T: int) -> torch.Tensor:
    """Local rotations IK can recover exactly: minimal rotations of one-child joints, identity at leaves."""
    rotations = random_rotations(rng, (T, 22))
    rotations[:, LEAVES] = torch.eye(3, dtype=torch.float64)
    for j in SINGLE:
        target = torch.from_numpy(rng.normal(size=(T, 3)))
        rotations[:, j] = rotation_between(OFFSETS[CHILDREN[j][0]].expand(T, 3), target)
    return rotations


@pytest.mark.parametrize("seed", range(5))
def test_twist_free_rotations_are_recovered(seed):
    rng = np.random.default_rng(seed)
    rotations = twist_free_rotations(rng, 16)
    joints, _ = forward_kinematics(rotations, torch.from_numpy(rng.normal(size=(16, 3))), OFFSETS, PARENTS)
    torch.testing.assert_close(inverse_kinematics(joints), rotations, atol=1e-6, rtol=0)


def noisy_joints(seed: int, T: int = 32) -> torch.Tensor:
    """Non-rigid data: FK joints plus 3 cm noise, so every alignment is a best fit rather than exact."""
    rng = np.random.default_rng(seed)
    joints, _ = random_motion(rng, T)
    return joints + 0.03 * torch.from_numpy(rng.normal(size=joints.shape))


@pytest.mark.parametrize("mirror", [False, True])
def test_rotations_are_proper_and_leaves_identity(mirror):
    joints = noisy_joints(0)
    if mirror:  # a reflected body: the unconstrained Kabsch optimum would be a reflection for multi-child joints
        joints = joints * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    R = inverse_kinematics(joints)  # (T, J, 3, 3)
    eye = torch.eye(3, dtype=torch.float64).expand_as(R)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, eye, atol=1e-9, rtol=0)
    torch.testing.assert_close(torch.det(R), torch.ones(R.shape[:-2], dtype=torch.float64), atol=1e-9, rtol=0)
    assert torch.equal(R[:, LEAVES], eye[:, LEAVES])


def test_single_child_rotations_point_the_bone_without_twist():
    joints = noisy_joints(1)
    R = inverse_kinematics(joints)
    glob = forward_kinematics(R, joints[:, 0], OFFSETS, PARENTS)[1]  # (T, J, 3, 3) global rotations
    for j in SINGLE:
        rest_dir = OFFSETS[CHILDREN[j][0]] / OFFSETS[CHILDREN[j][0]].norm()
        bone = joints[:, CHILDREN[j][0]] - joints[:, j]
        # the bone direction is matched exactly ...
        torch.testing.assert_close(glob[:, j] @ rest_dir, bone / bone.norm(dim=-1, keepdim=True), atol=1e-9, rtol=0)
        # ... by a rotation whose axis is perpendicular to the rest bone: no twist about it
        axis = matrix_to_axis_angle(R[:, j])
        assert (axis @ rest_dir).abs().max() < 1e-9


def alignment_cost(R: torch.Tensor, rest: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """sum_c |R rest_c - observed_c|^2 per frame for unit directions."""
    rest = rest / rest.norm(dim=-1, keepdim=True)
    observed = observed / observed.norm(dim=-1, keepdim=True)
    return ((torch.einsum("...ij,cj->...ci", R, rest) - observed) ** 2).sum((-1, -2))


def test_multi_child_rotations_are_least_squares_optimal():
    joints = noisy_joints(2)
    R = inverse_kinematics(joints)
    glob = forward_kinematics(R, joints[:, 0], OFFSETS, PARENTS)[1]
    rng = np.random.default_rng(0)
    for j in MULTI:
        kids = list(CHILDREN[j])
        observed = joints[:, kids] - joints[:, j, None]
        best = alignment_cost(glob[:, j], OFFSETS[kids], observed)
        for _ in range(20):
            nudge = axis_angle_to_matrix(torch.from_numpy(rng.normal(scale=0.05, size=(joints.shape[0], 3))))
            assert (alignment_cost(nudge @ glob[:, j], OFFSETS[kids], observed) >= best - 1e-12).all()


def test_numpy_and_batched_inputs():
    joints = noisy_joints(3, T=10)
    R = inverse_kinematics(joints)
    R_np = inverse_kinematics(joints.numpy())
    assert isinstance(R_np, np.ndarray) and R_np.dtype == np.float64 and R_np.shape == (10, 22, 3, 3)
    np.testing.assert_allclose(R_np, R.numpy(), atol=1e-12)
    assert isinstance(fitted_offsets(joints.numpy()), np.ndarray)
    batched = inverse_kinematics(torch.stack((joints, joints.flip(0))))  # (2, T, J, 3, 3)
    torch.testing.assert_close(batched[0], R, atol=1e-12, rtol=0)
    torch.testing.assert_close(batched[1], R.flip(0), atol=1e-12, rtol=0)
    assert inverse_kinematics(joints.float()).dtype == torch.float32


def test_is_fast_on_150_frames():
    joints = noisy_joints(4, T=150).float()
    inverse_kinematics(joints)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        inverse_kinematics(joints)
        best = min(best, time.perf_counter() - start)
    assert best < 0.05, f"IK of 150 frames took {best * 1e3:.1f} ms"  # a few ms on a laptop CPU; 50 ms is slack


def test_wrong_joint_count_raises():
    with pytest.raises(ValueError, match=r"\(\.\.\., 22, 3\)"):
        inverse_kinematics(torch.zeros(4, 21, 3))
