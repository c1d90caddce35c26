"""Headless skeleton rendering with Pillow: single frames, animated GIF and H.264 MP4.

A pinhole camera looks at the character from the front-diagonal, slightly above, and follows the root horizontally
(Gaussian-smoothed, so steps do not shake the view). The floor grid is fixed in the world on y = `floor_height`, so it
slides under a walking character and shows the travel. Frames are drawn at `supersample` times the output size and
downsampled with a Lanczos filter, which gives anti-aliased lines without a vector library.

Coordinates follow `motionmill.motion.skeleton`: metres, y up, the character faces +Z at frame 0 and its left is +X.
Seen from the front, the character's left therefore appears on the viewer's right.

Pillow and imageio-ffmpeg are optional (`pip install 'motionmill[render]'`) and are imported inside the functions
that need them.

Shape legend: T frames, J joints.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from motionmill.motion.signal import smooth
from motionmill.motion.skeleton import SMPL22, SkeletonSpec
from motionmill.utils.io import atomic_path

__all__ = [
    "Camera",
    "follow_cameras",
    "font_height",
    "iter_frames",
    "load_font",
    "orbit_camera",
    "render_frames",
    "render_image",
    "render_pose",
    "wrap_text",
    "write_gif",
    "write_mp4",
]

_EXTRA_HINT = "pip install 'motionmill[render]'"

# Palette (RGB). Left and right follow the usual mocap-viewer convention: left blue, right red.
LEFT_COLOR = (47, 111, 223)
RIGHT_COLOR = (224, 80, 58)
CENTER_COLOR = (84, 92, 108)
_SKY_TOP, _SKY_BOTTOM = (244, 246, 250), (214, 220, 229)
_FLOOR_COLOR, _GRID_COLOR = (200, 206, 216), (140, 149, 163)

# Sizes in metres, so they scale with perspective and resolution.
_BONE_WIDTH = 0.042
_JOINT_RADIUS = 0.026
_HEAD_RADIUS = 0.1
_GRID_STEP, _GRID_RADIUS = 0.5, 4.0


def _require_pillow():
    try:
        from PIL import Image, ImageDraw, ImageFilter, ImageFont
    except ImportError as e:
        raise ImportError(f"rendering needs Pillow: {_EXTRA_HINT}") from e
    return Image, ImageDraw, ImageFilter, ImageFont


def check_joints(joints, skeleton: SkeletonSpec = SMPL22) -> np.ndarray:
    """Validate a joint-position array and return it as float64.

    Args:
        joints: (T, J, 3) positions in metres.
        skeleton: the skeleton the joints belong to.

    Returns:
        The same positions as a float64 numpy array.

    Raises:
        ValueError: if the shape does not match the skeleton, there are no frames, or a value is not finite.
    """
    arr = np.asarray(joints, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"joints must have shape (T, J, 3); got {arr.shape}")
    if arr.shape[1] != skeleton.num_joints:
        raise ValueError(f"joints have {arr.shape[1]} joints but skeleton {skeleton.name} has {skeleton.num_joints}")
    if arr.shape[0] < 1:
        raise ValueError("joints must have at least one frame (T >= 1)")
    if not np.isfinite(arr).all():
        raise ValueError("joints contain NaN or infinite values")
    return arr


def check_fps(fps: float) -> float:
    """Return `fps` as a float; raise ValueError unless it is a finite positive number (numpy scalars are fine)."""
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number; got {fps!r}")
    return float(fps)


# ---------------------------------------------------------------------------------------------------------------------
# Camera


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera mapping world points to pixels (x right, y down) of an image of `size`."""

    eye: np.ndarray
    """(3,) camera position in metres."""
    target: np.ndarray
    """(3,) point looked at; the floor grid is centred below it."""
    rotation: np.ndarray
    """(3, 3) world -> camera rotation; rows are the right, up and forward axes."""
    focal: float
    """Focal length in pixels."""
    size: tuple[int, int]
    """(width, height) of the image in pixels."""

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points -> (..., 2) pixel coordinates and (...) depth along the view axis."""
        cam = (np.asarray(points, dtype=np.float64) - self.eye) @ self.rotation.T
        depth = cam[..., 2]
        safe = np.maximum(depth, 1e-6)
        x = 0.5 * self.size[0] + self.focal * cam[..., 0] / safe
        y = 0.5 * self.size[1] - self.focal * cam[..., 1] / safe
        return np.stack([x, y], axis=-1), depth

    def scaled(self, factor: float) -> Camera:
        """The same view for an image `factor` times larger or smaller (supersampling, blurred shadow masks)."""
        size = (max(1, round(self.size[0] * factor)), max(1, round(self.size[1] * factor)))
        return Camera(self.eye, self.target, self.rotation, self.focal * factor, size)


def orbit_camera(
    target,
    size: tuple[int, int] = (480, 480),
    yaw_deg: float = 30.0,
    pitch_deg: float = 14.0,
    distance: float = 4.2,
    fov_deg: float = 38.0,
) -> Camera:
    """A camera on a sphere around `target`, looking at it.

    Args:
        target: (3,) point to look at, in metres.
        size: (width, height) of the image in pixels.
        yaw_deg: azimuth from +Z (the character's initial front) towards +X (its left).
        pitch_deg: elevation above the horizontal plane of the target.
        distance: distance from target to camera in metres.
        fov_deg: vertical field of view.

    Returns:
        The camera.

    Raises:
        ValueError: if the pitch is outside [-89, 89] degrees.
    """
    if not -89.0 <= pitch_deg <= 89.0:
        raise ValueError(f"pitch_deg must be within [-89, 89] (straight up or down has no 'right'); got {pitch_deg}")
    target = np.asarray(target, dtype=np.float64)
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    direction = np.array([math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)])
    eye = target + distance * direction
    forward = -direction
    right = np.cross(forward, [0.0, 1.0, 0.0])  # viewer's right; +X when looking at the character's front
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    focal = 0.5 * size[1] / math.tan(math.radians(fov_deg) / 2)
    return Camera(eye, target, np.stack([right, up, forward]), focal, (int(size[0]), int(size[1])))


def follow_cameras(
    joints: np.ndarray, fps: float = 30.0, size: tuple[int, int] = (480, 480), smooth_s: float = 0.4, **orbit
) -> list[Camera]:
    """One camera per frame, following the root horizontally at a fixed height and angle.

    The target's horizontal position is the root's, Gaussian-smoothed over `smooth_s` seconds; its height is the
    median over time of the body's vertical centre, so the figure stays framed whether or not it stands on y = 0.

    Args:
        joints: (T, J, 3) positions in metres (already validated).
        fps: frame rate, used to turn `smooth_s` into frames.
        size: (width, height) of the image in pixels.
        smooth_s: standard deviation of the smoothing in seconds.
        **orbit: yaw_deg, pitch_deg, distance, fov_deg passed to `orbit_camera`.

    Returns:
        T cameras.
    """
    track = smooth(joints[:, 0, [0, 2]], smooth_s * fps)  # (T, 2)
    height = float(np.median(0.5 * (joints[..., 1].min(axis=1) + joints[..., 1].max(axis=1))))
    return [orbit_camera((x, height, z), size, **orbit) for x, z in track]


# ---------------------------------------------------------------------------------------------------------------------
# Drawing


def _mix(a, b, t: float) -> tuple[int, int, int]:
    """Blend colour a towards b by t in [0, 1]."""
    return tuple(int(round(ca + (cb - ca) * t)) for ca, cb in zip(a, b, strict=True))


def _shade(color, factor: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(c * factor)))) for c in color)


def _sides(skeleton: SkeletonSpec) -> list[tuple[int, int, int]]:
    """Colour per joint: left joints (first of each mirror pair) blue, right red, the rest slate."""
    colors = [CENTER_COLOR] * skeleton.num_joints
    for left, right in skeleton.mirror_pairs:
        colors[left], colors[right] = LEFT_COLOR, RIGHT_COLOR
    return colors


def _bones(skeleton: SkeletonSpec) -> list[tuple[int, int]]:
    """(parent, child) pairs along the drawing chains, or from the parent table when the skeleton has no chains."""
    if skeleton.chains:
        return sorted({(a, b) for chain in skeleton.chains for a, b in pairwise(chain)})
    return [(p, j) for j, p in enumerate(skeleton.parents) if p >= 0]


def _facing(joints_t: np.ndarray, skeleton: SkeletonSpec) -> np.ndarray:
    """Horizontal unit vector the body faces: the left-minus-right axis turned by -90 degrees about +y."""
    if not skeleton.mirror_pairs:
        return np.array([0.0, 0.0, 1.0])
    left, right = zip(*skeleton.mirror_pairs, strict=True)
    across = (joints_t[list(left)] - joints_t[list(right)]).mean(axis=0)
    forward = np.cross(across, [0.0, 1.0, 0.0])  # left (+X) x up (+Y) = front (+Z)
    forward[1] = 0.0
    norm = np.linalg.norm(forward)
    return forward / norm if norm > 1e-8 else np.array([0.0, 0.0, 1.0])


@functools.lru_cache(maxsize=4)
def _background(size: tuple[int, int]):
    """Vertical sky gradient, light at the top (cached: callers draw on a copy)."""
    Image = _require_pillow()[0]
    ramp = np.linspace(0.0, 1.0, size[1])[:, None]
    rows = np.array(_SKY_TOP) * (1 - ramp) + np.array(_SKY_BOTTOM) * ramp  # (H, 3)
    pixels = np.broadcast_to(rows[:, None, :], (size[1], size[0], 3)).round().astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB")


def _draw_floor(draw, camera: Camera, floor_height: float) -> None:
    """A soft floor disc around the camera target: concentric rings shading from the sky colour to the floor's."""
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    circle = np.stack([np.cos(angles), np.zeros_like(angles), np.sin(angles)], axis=-1)  # (48, 3)
    center = np.array([camera.target[0], floor_height, camera.target[2]])
    rings = 12
    for k in range(rings):
        xy, depth = camera.project(center + _GRID_RADIUS * (1.0 - k / rings) * circle)
        if (depth > 0.2).all():
            draw.polygon([tuple(p) for p in xy], fill=_mix(_SKY_BOTTOM, _FLOOR_COLOR, (k + 1) / rings))


def _draw_grid(draw, camera: Camera, floor_height: float) -> None:
    """World-fixed grid lines near the camera target, cut in short pieces that fade out with distance."""
    cx, cz = camera.target[0], camera.target[2]
    ticks = np.arange(-_GRID_RADIUS, _GRID_RADIUS + 1e-9, _GRID_STEP)
    pieces = np.arange(-_GRID_RADIUS, _GRID_RADIUS + 1e-9, _GRID_STEP / 2)
    u, v = np.meshgrid(ticks, pieces, indexing="ij")  # (lines, points): u picks the line, v runs along it
    x0, z0 = _GRID_STEP * round(cx / _GRID_STEP), _GRID_STEP * round(cz / _GRID_STEP)
    floor = np.full_like(u, floor_height)
    lines = np.concatenate([np.stack([x0 + u, floor, z0 + v], -1), np.stack([x0 + v, floor, z0 + u], -1)])
    xy, depth = camera.project(lines)  # (L, P, 2), (L, P)
    mid = 0.5 * (lines[:, 1:] + lines[:, :-1])
    fade = 1.0 - np.hypot(mid[..., 0] - cx, mid[..., 2] - cz) / _GRID_RADIUS  # (L, P - 1)
    visible = (fade > 0) & (depth[:, 1:] > 0.2) & (depth[:, :-1] > 0.2)
    strength = np.minimum(1.0, 1.6 * fade)[..., None]
    colors = np.rint(np.array(_FLOOR_COLOR) * (1 - strength) + np.array(_GRID_COLOR) * strength).astype(int)
    width = max(1, round(camera.size[1] / 480))
    for i, j in np.argwhere(visible):
        draw.line([tuple(xy[i, j]), tuple(xy[i, j + 1])], fill=tuple(colors[i, j].tolist()), width=width)


def _draw_shadow(image, joints_t: np.ndarray, camera: Camera, skeleton: SkeletonSpec, floor_height: float) -> None:
    """Darken the floor under the body: bones flattened onto the floor, drawn small, blurred and pasted back.

    Parts close to the floor (feet) cast darker shadows than parts high above it (pelvis, arms).
    """
    Image, ImageDraw, ImageFilter, _ = _require_pillow()
    small = camera.scaled(0.25)
    mask = Image.new("L", small.size, 0)
    draw = ImageDraw.Draw(mask)
    flat = joints_t.copy()
    flat[:, 1] = floor_height
    xy, depth = small.project(flat)
    bones = sorted(_bones(skeleton), key=lambda ab: -joints_t[list(ab), 1].mean())  # highest first, feet on top
    for a, b in bones:
        if min(depth[a], depth[b]) <= 0.2:
            continue
        height = max(0.0, joints_t[[a, b], 1].mean() - floor_height)
        width = max(1, round(0.09 * small.focal / depth[a]))
        value = round(150 * math.exp(-height / 1.2))
        draw.line([tuple(xy[a]), tuple(xy[b])], fill=value, width=width)
        for p in (xy[a], xy[b]):
            draw.ellipse([p[0] - width / 2, p[1] - width / 2, p[0] + width / 2, p[1] + width / 2], fill=value)
    mask = mask.filter(ImageFilter.GaussianBlur(max(1.0, small.size[1] / 90)))
    image.paste(_shade(CENTER_COLOR, 0.7), mask=mask.resize(image.size, Image.Resampling.BILINEAR))


def _disc(draw, center, radius: float, fill, outline=None, width: int = 0) -> None:
    x, y = center
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill, outline=outline, width=width)


def _draw_bone(draw, p, q, width: float, color) -> None:
    """A thick bone with a darker rim, round caps and a light stripe that suggests a cylinder lit from above."""
    rim = max(1.0, 0.14 * width)
    for fill, w in ((_shade(color, 0.62), width + 2 * rim), (color, width)):
        draw.line([tuple(p), tuple(q)], fill=fill, width=max(1, round(w)))
        _disc(draw, p, w / 2, fill)
        _disc(draw, q, w / 2, fill)
    offset = np.array([-0.18, -0.18]) * width
    a, b = p + 0.25 * (q - p) + offset, p + 0.75 * (q - p) + offset
    draw.line([tuple(a), tuple(b)], fill=_mix(color, (255, 255, 255), 0.4), width=max(1, round(0.28 * width)))


def _draw_head(draw, joints_t: np.ndarray, camera: Camera, skeleton: SkeletonSpec, head: int) -> None:
    """A head circle above the head joint, with a small nose dot when the face points towards the camera."""
    neck = skeleton.parents[head]
    center = joints_t[head] + 0.6 * (joints_t[head] - joints_t[neck])
    nose = center + _HEAD_RADIUS * 0.9 * _facing(joints_t, skeleton) - np.array([0.0, 0.015, 0.0])
    (c_xy, n_xy), (c_depth, n_depth) = camera.project(np.stack([center, nose]))
    radius = _HEAD_RADIUS * camera.focal / c_depth
    rim = max(1, round(0.1 * radius))
    _disc(draw, c_xy, radius, _mix(CENTER_COLOR, (255, 255, 255), 0.55), _shade(CENTER_COLOR, 0.62), rim)
    if n_depth < c_depth:
        _disc(draw, n_xy, 0.2 * radius, CENTER_COLOR)


def render_pose(joints_t: np.ndarray, camera: Camera, draw, skeleton: SkeletonSpec = SMPL22) -> None:
    """Draw one pose (bones, joints and head) with `draw`, far parts first.

    Args:
        joints_t: (J, 3) joint positions of one frame, in metres.
        camera: the camera; its `size` must be the size of the image behind `draw`.
        draw: a `PIL.ImageDraw.ImageDraw` on an RGB image.
        skeleton: the skeleton (bones, left/right sides, head joint).
    """
    xy, depth = camera.project(joints_t)
    if (depth <= 0.05).any():  # part of the body is behind the camera: skip rather than draw nonsense
        return
    colors = _sides(skeleton)
    reference = float(np.median(depth))

    def lit(color, d):  # nearer parts a little brighter, farther parts a little darker
        return _shade(color, 1.0 + 0.12 * float(np.clip((reference - d) / 0.5, -1, 1)))

    items = []  # (depth, painter); joints sort just in front of the bones that meet there
    for a, b in _bones(skeleton):
        d = 0.5 * (depth[a] + depth[b])
        width = _BONE_WIDTH * camera.focal / d
        items.append((d, functools.partial(_draw_bone, draw, xy[a], xy[b], width, lit(colors[b], d))))
    head = skeleton.index("Head") if "Head" in skeleton.joint_names else None
    for j in range(skeleton.num_joints):
        if j == head:  # the head circle covers it
            continue
        radius = _JOINT_RADIUS * camera.focal / depth[j]
        fill, rim = _mix(colors[j], (255, 255, 255), 0.7), lit(colors[j], depth[j])
        items.append((depth[j] - 1e-3, functools.partial(_disc, draw, xy[j], radius, fill, rim, 1 + round(radius / 3))))
    if head is not None:
        items.append((depth[head], functools.partial(_draw_head, draw, joints_t, camera, skeleton, head)))
    for _, paint in sorted(items, key=lambda item: -item[0]):
        paint()


@functools.cache
def load_font(size: int):
    """Pillow's default font at `size` pixels, loaded once per size (Pillow < 10.1 has only its fixed-size bitmap
    font, which is returned whatever `size` is)."""
    ImageFont = _require_pillow()[3]
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed-size bitmap font
        return ImageFont.load_default()


def font_height(font) -> int:
    """A font's height in pixels (Pillow's old bitmap font has no size: it is 11 pixels)."""
    return getattr(font, "size", 11)


def wrap_text(text: str, font, max_width: float, max_lines: int = 4) -> list[str]:
    """Greedy word wrap of `text` to lines at most `max_width` pixels wide in `font` (a word wider than that gets a
    line of its own); text beyond `max_lines` lines is cut and the last kept line ends in ' ...'. Blank text gives
    no lines."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += " ..."
    return lines


def _draw_text(image, caption: str | None, corner: str | None):
    """Caption (word-wrapped, top left) and a small corner label (bottom right), each on a translucent box."""
    Image, ImageDraw, _, _ = _require_pillow()
    w, h = image.size
    pad = max(3, h // 96)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    if caption and caption.strip():
        font = load_font(max(10, round(h / 30)))
        lines = wrap_text(caption, font, w - 4 * pad)
        line_h = round(font.size * 1.25) if hasattr(font, "size") else 12
        box_w = max(font.getlength(line) for line in lines) + 2 * pad
        draw.rounded_rectangle([pad, pad, pad + box_w, 2 * pad + line_h * len(lines)], pad, fill=(24, 28, 38, 160))
        for i, line in enumerate(lines):
            draw.text((2 * pad, 1.5 * pad + i * line_h), line, font=font, fill=(255, 255, 255, 255))
    if corner:
        font = load_font(max(9, round(h / 40)))
        text_w, text_h = font.getlength(corner), font_height(font)
        box = [w - text_w - 3 * pad, h - text_h - 3 * pad, w - pad, h - pad]
        draw.rounded_rectangle(box, pad, fill=(255, 255, 255, 150))
        draw.text((box[0] + pad, box[1] + 0.6 * pad), corner, font=font, fill=(40, 44, 54, 255))
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


def render_image(
    joints_t: np.ndarray,
    camera: Camera,
    skeleton: SkeletonSpec = SMPL22,
    floor_height: float = 0.0,
    caption: str | None = None,
    corner_text: str | None = None,
    supersample: int = 2,
):
    """Render one pose to a `PIL.Image` of `camera.size`: sky, floor, grid, shadow, skeleton, then text.

    Args:
        joints_t: (J, 3) joint positions in metres.
        camera: camera for the output size (for example from `orbit_camera`).
        skeleton: the skeleton of the joints.
        floor_height: height of the floor plane (y) in metres.
        caption: optional text, word-wrapped in the top-left corner.
        corner_text: optional short label in the bottom-right corner (e.g. a time stamp).
        supersample: draw at this many times the size, then downsample (anti-aliasing).

    Returns:
        An RGB image.
    """
    Image, ImageDraw, _, _ = _require_pillow()
    big = camera.scaled(supersample)
    image = _background(big.size).copy()
    draw = ImageDraw.Draw(image)
    _draw_floor(draw, big, floor_height)
    _draw_grid(draw, big, floor_height)
    _draw_shadow(image, joints_t, big, skeleton, floor_height)
    render_pose(joints_t, big, draw, skeleton)
    if supersample != 1:
        image = image.resize(camera.size, Image.Resampling.LANCZOS)
    if caption or corner_text:
        image = _draw_text(image, caption, corner_text)
    return image


# ---------------------------------------------------------------------------------------------------------------------
# Sequences and files


def _check_size(size) -> tuple[int, int]:
    if len(size) != 2 or any(int(s) != s or s < 16 for s in size):
        raise ValueError(f"size must be two integers >= 16 (width, height); got {size!r}")
    return int(size[0]), int(size[1])


def iter_frames(
    joints,
    skeleton: SkeletonSpec = SMPL22,
    size: tuple[int, int] = (480, 480),
    caption: str | None = None,
    *,
    fps: float = 30.0,
    indices: Sequence[int] | None = None,
    floor_height: float = 0.0,
    supersample: int = 2,
    counter: bool = True,
    **camera,
) -> Iterator:
    """Like `render_frames`, but yields the frames one at a time, so a video writer need not hold the whole clip.

    The arguments are checked at the call, not at the first frame.
    """
    joints = check_joints(joints, skeleton)
    fps, size = check_fps(fps), _check_size(size)
    _require_pillow()
    cameras = follow_cameras(joints, fps, size, **camera)
    chosen = range(len(joints)) if indices is None else indices

    def frames():
        for i in chosen:
            corner = f"{i / fps:5.2f} s   {i + 1}/{len(joints)}" if counter else None
            yield render_image(joints[i], cameras[i], skeleton, floor_height, caption, corner, supersample)

    return frames()


def render_frames(
    joints,
    skeleton: SkeletonSpec = SMPL22,
    size: tuple[int, int] = (480, 480),
    caption: str | None = None,
    **kw,
) -> list:
    """Render a motion to a list of `PIL.Image` frames seen by a camera that follows the character.

    Args:
        joints: (T, J, 3) joint positions in metres (y up, facing +Z at frame 0, left = +X).
        skeleton: the skeleton of the joints.
        size: (width, height) of each frame in pixels.
        caption: optional text shown word-wrapped in the top-left corner of every frame.
        **kw: keyword options:
            fps (30): frame rate of `joints`, used for the time stamp and the camera smoothing;
            indices (None): render only these frame indices (the camera path still uses the whole motion);
            floor_height (0.0): height (y) of the floor plane in metres;
            supersample (2): drawing scale before the anti-aliasing downsample;
            counter (True): show "time  frame/total" in the bottom-right corner;
            yaw_deg, pitch_deg, distance, fov_deg: camera placement (see `orbit_camera`);
            smooth_s: camera smoothing in seconds (see `follow_cameras`).

    Returns:
        One RGB image per rendered frame.

    Raises:
        ValueError: if joints are not finite, not (T, J, 3) for this skeleton, or if fps or size are invalid.
        ImportError: if Pillow is not installed.
    """
    return list(iter_frames(joints, skeleton, size, caption, **kw))


def _gif_durations(indices: Sequence[int], total: int, fps: float) -> list[int]:
    """Per-frame GIF delays in ms, multiples of 10 ms (the format's unit), whose sum is T / fps to the nearest 10 ms.

    Each delay runs from a frame's start time to the next kept frame's start, both rounded to centiseconds, so the
    rounding errors never accumulate: at 30 fps the delays alternate 30, 40, 30 ms.
    """
    starts = [round(100 * i / fps) for i in indices] + [round(100 * total / fps)]
    return [10 * max(1, b - a) for a, b in pairwise(starts)]


def _shared_palette(frames):
    """One 256-colour palette for the whole GIF (no per-frame flicker), built from a few sample frames."""
    Image = _require_pillow()[0]
    samples = [frames[i] for i in sorted({0, len(frames) // 3, 2 * len(frames) // 3, len(frames) - 1})]
    w, h = samples[0].size
    mosaic = Image.new("RGB", (w * len(samples), h))
    for k, frame in enumerate(samples):
        mosaic.paste(frame, (k * w, 0))
    return mosaic.quantize(colors=256, method=Image.Quantize.MEDIANCUT)


def write_gif(joints, path: str | os.PathLike, fps: float = 30.0, *, max_gif_fps: float = 50.0, **kw) -> Path:
    """Write an animated, looping GIF of the motion.

    GIF delays are whole centiseconds, and browsers slow down delays under 20 ms, so motions above `max_gif_fps`
    are subsampled by the smallest integer step that brings them under it (60 fps -> every 2nd frame, 30 fps GIF).
    Delays alternate (30, 40, 30 ms at 30 fps) so that the file's total duration equals T / fps within 10 ms.

    Args:
        joints: (T, J, 3) joint positions in metres.
        path: output file, written atomically (temporary file in the same folder, then renamed).
        fps: frame rate of `joints`.
        max_gif_fps: highest frame rate written to the GIF.
        **kw: passed to `render_frames` (skeleton, size, caption, floor_height, camera options, ...).

    Returns:
        The path written.
    """
    fps = check_fps(fps)
    joints = check_joints(joints, kw.get("skeleton", SMPL22))
    Image = _require_pillow()[0]
    step = max(1, math.ceil(fps / max_gif_fps - 1e-9))
    indices = list(range(0, len(joints), step))
    frames = render_frames(joints, fps=fps, indices=indices, **kw)
    palette = _shared_palette(frames)
    frames = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    durations = _gif_durations(indices, len(joints), fps)
    with atomic_path(path) as tmp:
        frames[0].save(
            tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, disposal=1
        )
    return Path(path)


def write_mp4(joints, path: str | os.PathLike, fps: float = 30.0, *, crf: int = 20, **kw) -> Path:
    """Write an H.264 MP4 (yuv420p, plays everywhere) with the ffmpeg binary shipped in imageio-ffmpeg.

    Args:
        joints: (T, J, 3) joint positions in metres.
        path: output file, written atomically (temporary file in the same folder, then renamed).
        fps: frame rate of `joints`, and of the video.
        crf: x264 constant rate factor (lower is better quality and larger files; 18-23 is visually clean).
        **kw: passed to `render_frames`. An odd width or height is rounded up to even, as 4:2:0 chroma requires.

    Returns:
        The path written.
    """
    try:
        import imageio_ffmpeg
    except ImportError as e:
        raise ImportError(f"writing MP4 needs imageio-ffmpeg: {_EXTRA_HINT}") from e
    width, height = _check_size(kw.pop("size", (480, 480)))
    size = (width + width % 2, height + height % 2)
    frames = iter_frames(joints, size=size, fps=fps, **kw)  # validates everything before a file is opened
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            size,
            fps=fps,
            codec="libx264",
            pix_fmt_out="yuv420p",
            quality=None,
            macro_block_size=2,
            ffmpeg_log_level="error",
            output_params=["-crf", str(crf), "-preset", "medium", "-movflags", "+faststart"],
        )
        writer.send(None)
        try:
            for frame in frames:
                writer.send(np.ascontiguousarray(np.asarray(frame)))
        finally:
            writer.close()
    return Path(path)
