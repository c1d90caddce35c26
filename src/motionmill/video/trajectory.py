"""Where the body is: its path over the ground from the image track, and whether the camera moved.

MediaPipe's 3D landmarks are centred on the hips, so they say nothing about where the person stands. The position
comes from the image: with a pinhole camera of focal length f (from an assumed horizontal field of view, default
60 degrees, a typical phone or web video), the translation T that puts the body's 3D landmarks X onto their 2D
landmarks (u, v) solves, for every visible landmark, the linear equations

    f Tx - (u - cx) Tz = (u - cx) Xz - f Xx,      f Ty - (v - cy) Tz = (v - cy) Xz - f Xy,

weighted by visibility (camera axes: x right, y down, z forward). Depth is as accurate as the body's size: a body
10% larger than MediaPipe's average puts the path 10% further away.

The floor is where the feet rest. Frames where a foot is still (slower than `contact_speed`) give floor points; when
they spread over at least `min_floor_spread` metres, the camera's pitch and roll come from the plane through them,
otherwise from the body's median up direction (people stand upright most of the time). The result is in motionmill's
frame: y up, floor at y = 0.

A moving camera is told apart from a moving person by the background: the shift between consecutive frames,
measured by phase correlation with the person's box blanked out.

Shape legend: T frames, L landmarks (33), J joints (22).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["background_shift", "camera_translation", "focal_length", "to_ground_frame"]

FEET = (7, 8, 10, 11)  # SMPL-22 ankles and feet


def focal_length(width: int, hfov_deg: float = 60.0) -> float:
    return 0.5 * width / math.tan(math.radians(hfov_deg) / 2)


def camera_translation(world: np.ndarray, image: np.ndarray, visibility: np.ndarray, focal: float,
                       centre: tuple[float, float]) -> np.ndarray:  # fmt: skip
    """(T, L, 3) hip-centred landmarks, (T, L, 2) pixels, (T, L) weights -> (T, 3) camera-frame translations."""
    u = image[..., 0] - centre[0]
    v = image[..., 1] - centre[1]
    x, y, z = world[..., 0], world[..., 1], world[..., 2]
    w = np.sqrt(np.clip(visibility, 0.0, 1.0))[..., None]  # least squares weights the squared residual
    zeros, ones = np.zeros_like(u), np.ones_like(u)
    rows_x = np.stack([focal * ones, zeros, -u], axis=-1)
    rows_y = np.stack([zeros, focal * ones, -v], axis=-1)
    a = np.concatenate([rows_x * w, rows_y * w], axis=1)  # (T, 2L, 3)
    b = np.concatenate([(u * z - focal * x)[..., None] * w, (v * z - focal * y)[..., None] * w], axis=1)
    normal = a.transpose(0, 2, 1)
    return np.linalg.solve(normal @ a + 1e-6 * np.eye(3), normal @ b)[..., 0]


def _rotation_to_up(up: np.ndarray) -> np.ndarray:
    """Rotation taking the unit vector `up` to +y (the shortest one)."""
    up = up / np.linalg.norm(up)
    axis = np.cross(up, [0.0, 1.0, 0.0])
    s, c = np.linalg.norm(axis), up[1]
    if s < 1e-9:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def to_ground_frame(joints: np.ndarray, fps: float, contact_speed: float = 0.25,
                    min_floor_spread: float = 1.0) -> tuple[np.ndarray, dict]:  # fmt: skip
    """(T, J, 3) joints in camera axes (x right, y down, z forward) -> y up, floor at 0; and how the floor was found.

    The returned frame keeps the camera's heading: x to the camera's right, z towards the camera.
    """
    p = joints * np.array([1.0, -1.0, -1.0])  # y up, z towards the camera: a proper rotation of the camera frame
    feet = p[:, FEET]  # (T, 4, 3)
    speed = np.linalg.norm(np.gradient(feet, axis=0), axis=-1) * fps
    lowest = np.argmin(feet[..., 1], axis=1)
    still = speed[np.arange(len(p)), lowest] < contact_speed
    floor_points = feet[np.arange(len(p)), lowest][still]
    info = {"floor": "body-up", "contacts": int(still.sum())}
    up = np.median(p[:, 12] - p[:, 0], axis=0)  # pelvis -> neck
    if len(floor_points) >= 10:
        centred = floor_points - floor_points.mean(axis=0)
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        if singular[1] / math.sqrt(len(floor_points)) >= min_floor_spread / 4:  # spread along two directions
            normal = vt[2] if vt[2] @ up > 0 else -vt[2]
            if normal @ (up / np.linalg.norm(up)) > math.cos(math.radians(30)):
                up, info["floor"] = normal, "contacts"
    rotated = p @ _rotation_to_up(up).T
    contact_heights = rotated[:, FEET][np.arange(len(p)), lowest][still][:, 1] if still.any() else None
    floor = float(np.median(contact_heights)) if contact_heights is not None else float(rotated[:, FEET, 1].min())
    rotated[..., 1] -= floor
    return rotated, info


def background_shift(previous: np.ndarray, current: np.ndarray, box: tuple[float, float, float, float] | None,
                     margin: float = 0.15) -> tuple[float, float]:  # fmt: skip
    """Shift in pixels of the background between two grey frames (H, W) float32, the person's box blanked out."""
    import cv2

    a, b = previous.astype(np.float32), current.astype(np.float32)
    if box is not None:
        h, w = a.shape
        x0, y0, x1, y1 = box
        pad_x, pad_y = margin * (x1 - x0), margin * (y1 - y0)
        x0, x1 = int(max(0, x0 - pad_x)), int(min(w, x1 + pad_x))
        y0, y1 = int(max(0, y0 - pad_y)), int(min(h, y1 + pad_y))
        a, b = a.copy(), b.copy()
        a[y0:y1, x0:x1] = a.mean()
        b[y0:y1, x0:x1] = b.mean()
    window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a, b, window)
    return float(dx), float(dy)
