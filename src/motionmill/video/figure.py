"""A shaded human figure rendered by ray casting, for testing the video pipeline in a closed loop.

The figure is made of spheres swept along the SMPL-22 bones (capsules: thick torso, thinner limbs, hands, feet
pointing forward) and a head with eyes, nose, mouth and hair, because MediaPipe's person detector keys on a face and
a body outline. It stands on a textured floor (a checker board of the look's colours, with a soft shadow under the
body) in front of a distant backdrop: any photograph, looked up by the direction of each ray, so it stays put while
the figure moves. Clothing, skin and floor colours come from a `Look`, so several looks give several "people".

Each pixel's ray is intersected analytically with the spheres of each bone inside the bone's screen box and with the
floor plane; the nearest hit wins (a depth buffer), and surfaces are lit by one directional light plus ambient.

Coordinates follow `motionmill.motion.skeleton`: metres, y up, floor at y = 0, left = +X at rest facing +Z.

Shape legend: H, W image height and width; J joints (22).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from motionmill.export.render import Camera

__all__ = ["LOOKS", "Look", "pixel_rays", "render_figure"]


@dataclass(frozen=True)
class Look:
    skin: tuple[int, int, int]
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    shoes: tuple[int, int, int]
    hair: tuple[int, int, int]
    floor: tuple[tuple[int, int, int], tuple[int, int, int]]
    tile: float
    """Floor tile size in metres."""


LOOKS = (
    Look((224, 182, 150), (46, 84, 160), (44, 44, 60), (30, 30, 30), (50, 35, 25),
         ((170, 150, 120), (120, 100, 80)), 0.5),
    Look((141, 98, 70), (190, 60, 50), (70, 90, 120), (230, 230, 230), (20, 20, 20),
         ((140, 150, 140), (95, 105, 95)), 0.7),
    Look((235, 200, 170), (220, 210, 120), (40, 60, 40), (90, 50, 30), (200, 160, 90),
         ((200, 200, 205), (150, 150, 160)), 0.4),
    Look((180, 130, 95), (60, 140, 120), (110, 80, 60), (40, 40, 50), (60, 40, 30),
         ((160, 130, 110), (130, 100, 85)), 0.6),
)  # fmt: skip

# (parent joint, child joint, radius in metres, part) of each capsule
_BONES = (
    (0, 1, 0.085, "trousers"), (0, 2, 0.085, "trousers"), (1, 2, 0.09, "trousers"),
    (1, 4, 0.075, "trousers"), (2, 5, 0.075, "trousers"), (4, 7, 0.055, "trousers"), (5, 8, 0.055, "trousers"),
    (0, 3, 0.13, "shirt"), (3, 6, 0.13, "shirt"), (6, 9, 0.14, "shirt"), (9, 12, 0.065, "skin"),
    (9, 13, 0.075, "shirt"), (9, 14, 0.075, "shirt"), (13, 16, 0.07, "shirt"), (14, 17, 0.07, "shirt"),
    (16, 18, 0.052, "shirt"), (17, 19, 0.052, "shirt"), (18, 20, 0.042, "skin"), (19, 21, 0.042, "skin"),
)  # fmt: skip
_LIGHT = np.array([0.35, 0.85, 0.4]) / np.linalg.norm([0.35, 0.85, 0.4])
_AMBIENT = 0.35


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _head_frame(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The head's up, left and forward axes: up along neck -> head, left from the shoulders."""
    up = _unit(joints[15] - joints[12])
    left = _unit(joints[16] - joints[17])
    left = _unit(left - up * (left @ up))
    return up, left, np.cross(left, up)


def _spheres(joints: np.ndarray, look: Look) -> list[tuple[np.ndarray, np.ndarray, tuple]]:
    """(centres (N, 3), radii (N,), colour) per body part, spheres spaced a third of a radius apart along bones."""
    parts = []
    for a, b, radius, part in _BONES:
        n = max(2, math.ceil(np.linalg.norm(joints[b] - joints[a]) / (radius / 3)) + 1)
        centres = joints[a] + np.linspace(0, 1, n)[:, None] * (joints[b] - joints[a])
        parts.append((centres, np.full(n, radius), getattr(look, part)))
    up, left, forward = _head_frame(joints)
    head = joints[15] + 0.05 * up
    parts.append((head[None], np.array([0.105]), look.skin))
    parts.append(((head + 0.03 * up - 0.035 * forward)[None], np.array([0.1]), look.hair))
    eyes = head + 0.03 * up + 0.085 * forward + np.array([0.035, -0.035])[:, None] * left
    parts.append((eyes, np.full(2, 0.018), (25, 25, 30)))
    parts.append(((head + 0.105 * forward - 0.005 * up)[None], np.array([0.022]), look.skin))
    parts.append(((head + 0.085 * forward - 0.045 * up)[None], np.array([0.02]), (150, 60, 60)))
    for wrist, elbow in ((20, 18), (21, 19)):  # hands a little beyond the wrists
        parts.append(((joints[wrist] + 0.3 * (joints[wrist] - joints[elbow]))[None], np.array([0.05]), look.skin))
    for ankle, toe in ((7, 10), (8, 11)):  # feet from the heel to beyond the toe joint
        heel, tip = joints[ankle], joints[toe] + 0.4 * (joints[toe] - joints[ankle])
        n = 8
        parts.append((heel + np.linspace(0, 1, n)[:, None] * (tip - heel), np.full(n, 0.045), look.shoes))
    return parts


def pixel_rays(camera: Camera) -> np.ndarray:
    """(H, W, 3) unit world directions through pixel centres."""
    w, h = camera.size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    local = np.stack([(xs - w / 2) / camera.focal, -(ys - h / 2) / camera.focal, np.ones_like(xs)], axis=-1)
    world = local @ camera.rotation  # rows of rotation are the camera's right, up and forward axes in world terms
    return world / np.linalg.norm(world, axis=-1, keepdims=True)


def _backdrop(rays: np.ndarray, backdrop: np.ndarray | None) -> np.ndarray:
    """Colour of the distant backdrop: the photograph wrapped around the scene by azimuth and elevation."""
    if backdrop is None:
        top, bottom = np.array([150.0, 165, 185]), np.array([205.0, 210, 215])
        return bottom + (top - bottom) * np.clip(rays[..., 1:2] * 3, 0, 1)
    h, w = backdrop.shape[:2]
    azimuth = np.arctan2(rays[..., 0], rays[..., 2])  # the photograph spans 120 degrees of azimuth, repeated
    u = ((azimuth / (2 * math.pi / 3)) % 1.0) * (w - 1)
    v = np.clip(0.5 - rays[..., 1] * 1.2, 0, 1) * (h - 1)
    return backdrop[v.astype(int), u.astype(int), :3].astype(np.float64)


def render_figure(joints: np.ndarray, camera: Camera, look: Look = LOOKS[0], backdrop: np.ndarray | None = None,
                  rays: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """One frame of the figure posed by `joints` (J, 3): an (H, W, 3) uint8 RGB image.

    `rays` (from a previous call with the same camera) saves recomputing the pixel directions.
    """
    rays = pixel_rays(camera) if rays is None else rays
    w, h = camera.size
    image = _backdrop(rays, backdrop)
    depth = np.full((h, w), np.inf)
    # floor: checker of the look's two colours, darker with distance and under the body
    down = rays[..., 1] < -1e-6
    t = np.where(down, -camera.eye[1] / np.where(down, rays[..., 1], -1.0), np.inf)
    hit = down & (t < 60)
    point = camera.eye + rays * np.where(hit, t, 0)[..., None]
    checker = (np.floor(point[..., 0] / look.tile) + np.floor(point[..., 2] / look.tile)) % 2
    floor = np.where(checker[..., None] > 0, look.floor[0], look.floor[1]).astype(np.float64)
    below = np.hypot(point[..., 0] - joints[0, 0], point[..., 2] - joints[0, 2])
    floor *= (1 - 0.45 * np.exp(-((below / 0.35) ** 2)))[..., None] * np.clip(1.15 - t / 40, 0.5, 1)[..., None]
    image[hit], depth[hit] = floor[hit], t[hit]
    for centres, radii, colour in _spheres(np.asarray(joints, dtype=np.float64), look):
        _draw_spheres(image, depth, rays, camera, centres, radii, np.asarray(colour, dtype=np.float64))
    return np.clip(image, 0, 255).astype(np.uint8)


def _draw_spheres(image, depth, rays, camera: Camera, centres, radii, colour) -> None:
    """Intersect the rays inside the spheres' screen box with every sphere; shade the nearest hits."""
    pixels, distance = camera.project(centres)
    if (distance <= 0.05).any():
        return  # behind or at the camera
    reach = camera.focal * radii / distance
    x0, y0 = np.floor((pixels - reach[:, None]).min(axis=0) - 1).astype(int)
    x1, y1 = np.ceil((pixels + reach[:, None]).max(axis=0) + 2).astype(int)
    w, h = camera.size
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x0 >= x1 or y0 >= y1:
        return
    d = rays[y0:y1, x0:x1]
    nearest = np.full(d.shape[:2], np.inf)
    normal = np.zeros(d.shape)
    for centre, radius in zip(centres, radii, strict=True):
        offset = camera.eye - centre
        b = d @ offset
        disc = b * b - (offset @ offset - radius * radius)
        t = np.where(disc > 0, -b - np.sqrt(np.maximum(disc, 0)), np.inf)
        closer = (t > 0) & (t < nearest)
        nearest = np.where(closer, t, nearest)
        normal = np.where(closer[..., None], (offset + d * t[..., None]) / radius, normal)
    window = depth[y0:y1, x0:x1]
    win = nearest < window
    shade = _AMBIENT + (1 - _AMBIENT) * np.clip(normal @ _LIGHT, 0, 1)
    image[y0:y1, x0:x1][win] = (colour * shade[..., None])[win]
    window[win] = nearest[win]
