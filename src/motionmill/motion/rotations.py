"""Rotation conversions: quaternion, axis-angle, matrix, 6D (rows convention) and Euler angles.

Every function is pure, batched over leading dimensions and differentiable. They take torch tensors; numpy arrays are
accepted too (computed in float64 and returned as numpy), which is convenient for data tools.

Conventions:
- quaternions are (w, x, y, z), unit norm;
- matrices act on column vectors (v' = R v);
- 6D is the first two ROWS of the matrix, [R00, R01, R02, R10, R11, R12], as in the 272 representation
  (see docs/representation.md; HumanML3D-263 uses columns: `matrix_to_6d_cols` / `sixd_cols_to_matrix`);
- Euler orders are strings of axes such as "ZXY": R = Rz(a0) @ Rx(a1) @ Ry(a2) (intrinsic, as BVH channels list them).

Shape legend: ... any leading batch dimensions.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

__all__ = [
    "axis_angle_to_matrix",
    "axis_angle_to_quat",
    "axis_rotation",
    "euler_to_matrix",
    "matrix_to_6d",
    "matrix_to_6d_cols",
    "matrix_to_axis_angle",
    "matrix_to_euler",
    "matrix_to_quat",
    "quat_conjugate",
    "quat_mul",
    "quat_rotate",
    "quat_slerp",
    "quat_to_axis_angle",
    "quat_to_matrix",
    "rotation_between",
    "ry",
    "sixd_cols_to_matrix",
    "sixd_to_matrix",
]

_EPS = 1e-12


def _numpy_friendly(fn):
    """Let `fn` take numpy arrays: run it on float64 tensors and hand numpy back."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not any(isinstance(a, np.ndarray) for a in args):
            return fn(*args, **kwargs)
        args = [torch.from_numpy(np.array(a, dtype=np.float64)) if isinstance(a, np.ndarray) else a for a in args]
        out = fn(*args, **kwargs)
        return out.numpy() if isinstance(out, torch.Tensor) else out

    return wrapper


def _normalize(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(_EPS)


# ---------------------------------------------------------------- quaternions


@_numpy_friendly
def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b of (..., 4) quaternions (apply b first, then a)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        dim=-1,
    )


@_numpy_friendly
def quat_conjugate(q: torch.Tensor) -> torch.Tensor:
    """Inverse of a unit quaternion."""
    return q * q.new_tensor([1.0, -1.0, -1.0, -1.0])


@_numpy_friendly
def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate (..., 3) vectors by (..., 4) unit quaternions."""
    w, xyz = q[..., :1], q[..., 1:]
    t = 2.0 * torch.cross(xyz, v, dim=-1)
    return v + w * t + torch.cross(xyz, t, dim=-1)


@_numpy_friendly
def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) unit quaternions -> (..., 3, 3) rotation matrices."""
    w, x, y, z = _normalize(q).unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(q.shape[:-1] + (3, 3))


@_numpy_friendly
def matrix_to_quat(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions with w >= 0.

    Computes the four candidate solutions (one per largest component) and keeps, per matrix, the best conditioned
    one, which stays accurate near 180-degree rotations.
    """
    m = R
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4 * component^2 for w, x, y, z
    sq = torch.stack(
        (1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22), dim=-1
    ).clamp_min(0.0)
    cands = torch.stack(
        (
            torch.stack((sq[..., 0], m21 - m12, m02 - m20, m10 - m01), dim=-1),
            torch.stack((m21 - m12, sq[..., 1], m10 + m01, m02 + m20), dim=-1),
            torch.stack((m02 - m20, m10 + m01, sq[..., 2], m12 + m21), dim=-1),
            torch.stack((m10 - m01, m20 + m02, m21 + m12, sq[..., 3]), dim=-1),
        ),
        dim=-2,
    )  # (..., 4 candidates, 4)
    # candidate k equals 4 q_k q and sq_k = 4 q_k^2, so dividing by 2 sqrt(sq_k) gives +-q
    cands = cands / (2.0 * sq.sqrt().clamp_min(1e-6))[..., None]
    best = sq.argmax(dim=-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    q = torch.where(q[..., :1] < 0, -q, q)
    return _normalize(q)


@_numpy_friendly
def quat_slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation from q0 (t = 0) to q1 (t = 1) along the shorter arc."""
    t = torch.as_tensor(t, dtype=q0.dtype, device=q0.device)
    dot = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    t = t[..., None] if t.dim() == q0.dim() - 1 and t.dim() > 0 else t
    near = sin_theta < 1e-6  # nearly identical: linear interpolation is exact enough and avoids 0/0
    w0 = torch.where(near, 1 - t, torch.sin((1 - t) * theta) / sin_theta.clamp_min(1e-12))
    w1 = torch.where(near, t, torch.sin(t * theta) / sin_theta.clamp_min(1e-12))
    return _normalize(w0 * q0 + w1 * q1)


# ---------------------------------------------------------------- axis-angle


@_numpy_friendly
def axis_angle_to_quat(aa: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle (axis * angle, radians) -> (..., 4) quaternions."""
    angle = aa.norm(dim=-1, keepdim=True)
    half = angle / 2
    # sin(half) / angle, with its Taylor expansion near 0 so the gradient stays finite
    small = angle < 1e-6
    k = torch.where(small, 0.5 - angle**2 / 48, torch.sin(half) / angle.clamp_min(1e-12))
    return torch.cat((torch.cos(half), aa * k), dim=-1)


@_numpy_friendly
def quat_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions -> (..., 3) axis-angle with angle in [0, pi]."""
    q = torch.where(q[..., :1] < 0, -q, q)
    xyz = q[..., 1:]
    s = xyz.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(s, q[..., :1])
    small = s < 1e-6
    k = torch.where(small, 2 / q[..., :1].clamp_min(1e-12), angle / s.clamp_min(1e-12))
    return xyz * k


@_numpy_friendly
def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices."""
    return quat_to_matrix(axis_angle_to_quat(aa))


@_numpy_friendly
def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle."""
    return quat_to_axis_angle(matrix_to_quat(R))


# ---------------------------------------------------------------- 6D


@_numpy_friendly
def matrix_to_6d(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two rows, as the 272 representation stores them."""
    return R[..., :2, :].reshape(R.shape[:-2] + (6,))


@_numpy_friendly
def sixd_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) rows-6D -> (..., 3, 3) by Gram-Schmidt; the results are the matrix ROWS."""
    a1, a2 = x[..., :3], x[..., 3:]
    b1 = _normalize(a1)
    b2 = _normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-2)


@_numpy_friendly
def matrix_to_6d_cols(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two COLUMNS (HumanML3D-263 convention)."""
    return matrix_to_6d(R.transpose(-1, -2))


@_numpy_friendly
def sixd_cols_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """Inverse of `matrix_to_6d_cols`."""
    return sixd_to_matrix(x).transpose(-1, -2)


# ---------------------------------------------------------------- Euler angles and helpers

_AXIS = {"X": 0, "Y": 1, "Z": 2}


def _axis_matrix(axis: int, angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == 0:
        rows = (one, zero, zero, zero, c, -s, zero, s, c)
    elif axis == 1:
        rows = (c, zero, s, zero, one, zero, -s, zero, c)
    else:
        rows = (c, -s, zero, s, c, zero, zero, zero, one)
    return torch.stack(rows, dim=-1).reshape(angle.shape + (3, 3))


def _parse_order(order: str) -> tuple[int, int, int]:
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"Euler order must be a permutation of XYZ, got {order!r}")
    return tuple(_AXIS[a] for a in order)  # type: ignore[return-value]


@_numpy_friendly
def euler_to_matrix(angles: torch.Tensor, order: str) -> torch.Tensor:
    """(..., 3) angles in radians -> (..., 3, 3), R = R_order[0](a0) @ R_order[1](a1) @ R_order[2](a2)."""
    i, j, k = _parse_order(order)
    return _axis_matrix(i, angles[..., 0]) @ _axis_matrix(j, angles[..., 1]) @ _axis_matrix(k, angles[..., 2])


@_numpy_friendly
def matrix_to_euler(R: torch.Tensor, order: str) -> torch.Tensor:
    """Inverse of `euler_to_matrix` for Tait-Bryan orders; the middle angle lies in [-pi/2, pi/2].

    For R = R_i(a) R_j(b) R_k(c) with sign s = +1 for cyclic orders (XYZ, YZX, ZXY) and -1 otherwise:
    sin b = s R[i,k], a = atan2(-s R[j,k], R[k,k]), c = atan2(-s R[i,j], R[i,i]). At gimbal lock (cos b = 0)
    c is set to 0 and a = atan2(s R[k,j], R[j,j]).
    """
    i, j, k = _parse_order(order)
    s = 1.0 if (j - i) % 3 == 1 else -1.0
    sin_b = (s * R[..., i, k]).clamp(-1.0, 1.0)
    b = torch.asin(sin_b)
    locked = (1 - sin_b.abs()) < 1e-9
    a = torch.where(locked, torch.atan2(s * R[..., k, j], R[..., j, j]), torch.atan2(-s * R[..., j, k], R[..., k, k]))
    c = torch.where(locked, torch.zeros_like(b), torch.atan2(-s * R[..., i, j], R[..., i, i]))
    return torch.stack((a, b, c), dim=-1)


@_numpy_friendly
def axis_rotation(axis: int, angle: torch.Tensor) -> torch.Tensor:
    """Rotation about coordinate axis 0 (X), 1 (Y) or 2 (Z) by `angle` radians; (...,) -> (..., 3, 3)."""
    return _axis_matrix(axis, torch.as_tensor(angle))


@_numpy_friendly
def ry(angle: torch.Tensor) -> torch.Tensor:
    """Rotation about +Y: [[cos a, 0, sin a], [0, 1, 0], [-sin a, 0, cos a]]; (...,) -> (..., 3, 3)."""
    return _axis_matrix(1, torch.as_tensor(angle))


@_numpy_friendly
def rotation_between(v0: torch.Tensor, v1: torch.Tensor) -> torch.Tensor:
    """The smallest rotation matrix taking direction v0 to direction v1, both (..., 3).

    Opposite directions get a 180-degree turn about an axis perpendicular to v0.
    """
    a, b = _normalize(v0), _normalize(v1)
    axis = torch.cross(a, b, dim=-1)
    cos = (a * b).sum(-1, keepdim=True)
    q = torch.cat((1 + cos, axis), dim=-1)  # unnormalised half-way quaternion
    # anti-parallel: pick any axis perpendicular to a
    helper = torch.where(a[..., :1].abs() < 0.9, a.new_tensor([1.0, 0, 0]), a.new_tensor([0, 1.0, 0]))
    perp = _normalize(torch.cross(a, helper.expand_as(a), dim=-1))
    flipped = torch.cat((torch.zeros_like(cos), perp), dim=-1)
    q = torch.where(q.norm(dim=-1, keepdim=True) < 1e-7, flipped, q)
    return quat_to_matrix(_normalize(q))
