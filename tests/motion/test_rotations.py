import numpy as np
import pytest
import torch

from motionmill.motion import rotations as R


def _random_matrices(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return R.axis_angle_to_matrix(rng.normal(0, 1.5, (n, 3)))


def test_matrices_are_proper_rotations():
    M = _random_matrices()
    assert np.allclose(M @ np.swapaxes(M, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(M), 1.0, atol=1e-12)


@pytest.mark.parametrize(
    "to,back",
    [
        (R.matrix_to_quat, R.quat_to_matrix),
        (R.matrix_to_axis_angle, R.axis_angle_to_matrix),
        (R.matrix_to_6d, R.sixd_to_matrix),
        (R.matrix_to_6d_cols, R.sixd_cols_to_matrix),
    ],
)
def test_round_trips(to, back):
    M = _random_matrices()
    assert np.abs(back(to(M)) - M).max() < 1e-12


def test_near_180_degree_rotations_survive_quaternion_round_trip():
    axes = np.random.default_rng(1).normal(size=(100, 3))
    aa = axes / np.linalg.norm(axes, axis=1, keepdims=True) * (np.pi - 1e-7)
    M = R.axis_angle_to_matrix(aa)
    assert np.abs(R.quat_to_matrix(R.matrix_to_quat(M)) - M).max() < 1e-9


def test_six_d_uses_the_first_two_rows():
    M = _random_matrices(10)
    assert np.array_equal(R.matrix_to_6d(M), M[:, :2, :].reshape(10, 6))
    # the inverse is Gram-Schmidt on the rows: perturb the second row along the first, it is projected away
    x = R.matrix_to_6d(M)
    x[:, 3:] += 0.3 * x[:, :3]
    assert np.abs(R.sixd_to_matrix(x) - M).max() < 1e-12


def test_axis_angle_matches_rodrigues_formula():
    rng = np.random.default_rng(2)
    aa = rng.normal(size=(50, 3))
    for v, M in zip(aa, R.axis_angle_to_matrix(aa), strict=True):
        theta = np.linalg.norm(v)
        k = v / theta
        K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        assert np.allclose(M, np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K, atol=1e-12)


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_round_trip_and_composition(order):
    M = _random_matrices()
    angles = R.matrix_to_euler(M, order)
    assert np.abs(R.euler_to_matrix(angles, order) - M).max() < 1e-10
    a = np.array([0.3, -0.4, 1.1])
    first, second, third = (R.euler_to_matrix(np.eye(3)[i] * a[i], order) for i in range(3))
    assert np.allclose(R.euler_to_matrix(a, order), first @ second @ third)


def test_euler_gimbal_lock_still_round_trips():
    for order in ("XYZ", "ZYX", "ZXY"):
        a = np.array([[0.4, np.pi / 2, -0.7], [1.0, -np.pi / 2, 0.2]])
        M = R.euler_to_matrix(a, order)
        assert np.abs(R.euler_to_matrix(R.matrix_to_euler(M, order), order) - M).max() < 1e-7


def test_ry_convention():
    a = 0.7
    assert np.allclose(R.ry(np.array(a)), [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def test_quaternion_algebra_agrees_with_matrices():
    rng = np.random.default_rng(3)
    qa, qb = (R.axis_angle_to_quat(rng.normal(size=(20, 3))) for _ in range(2))
    v = rng.normal(size=(20, 3))
    assert np.allclose(R.quat_to_matrix(R.quat_mul(qa, qb)), R.quat_to_matrix(qa) @ R.quat_to_matrix(qb))
    assert np.allclose(R.quat_rotate(qa, v), (R.quat_to_matrix(qa) @ v[..., None])[..., 0])
    assert np.allclose(R.quat_mul(qa, R.quat_conjugate(qa)), [1, 0, 0, 0])


def test_slerp_endpoints_and_constant_speed():
    rng = np.random.default_rng(4)
    q0, q1 = R.axis_angle_to_quat(rng.normal(size=(2, 3)))
    assert np.allclose(R.quat_slerp(q0, q1, 0.0), q0) and np.allclose(np.abs(R.quat_slerp(q0, q1, 1.0) @ q1), 1)
    half = R.quat_slerp(q0, q1, 0.5)
    angle = lambda a, b: 2 * np.arccos(min(1.0, abs(float(a @ b))))  # noqa: E731
    assert np.isclose(angle(q0, half), angle(half, q1), atol=1e-9)


def test_rotation_between_maps_directions_including_opposite():
    rng = np.random.default_rng(5)
    v0, v1 = rng.normal(size=(2, 100, 3))
    v1[:10] = -v0[:10] * 2.0
    M = R.rotation_between(v0, v1)
    out = (M @ v0[..., None])[..., 0]
    assert np.allclose(out / np.linalg.norm(out, axis=1, keepdims=True), v1 / np.linalg.norm(v1, axis=1, keepdims=True))


def test_functions_are_differentiable():
    aa = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    x6 = R.matrix_to_6d(R.axis_angle_to_matrix(aa))
    back = R.matrix_to_axis_angle(R.sixd_to_matrix(x6))
    back.sum().backward()
    assert torch.isfinite(aa.grad).all() and aa.grad.abs().sum() > 0
    zero = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    R.axis_angle_to_matrix(zero).sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_numpy_in_numpy_out_torch_in_torch_out():
    assert isinstance(R.axis_angle_to_matrix(np.zeros((2, 3))), np.ndarray)
    assert isinstance(R.axis_angle_to_matrix(torch.zeros(2, 3)), torch.Tensor)


def test_bad_euler_order_is_rejected():
    with pytest.raises(ValueError, match="permutation"):
        R.euler_to_matrix(np.zeros(3), "XXY")
