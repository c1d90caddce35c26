"""The closed loop: built-in motions rendered to video, run through the whole pipeline, compared with what was rendered.

Each clip is seen by a static camera at a seeded angle (around the body, 5 to 15 degrees above it), distance and
field of view, far enough that its whole path stays in frame, with one of the figure's looks and one of
scikit-image's photographs as the backdrop. The video is written as an MP4 and read back by `annotate_video`, like
any other video. The recovered motion is compared frame by frame with the rendered one:

* found: share of frames on which the person is detected;
* MPJPE: per frame, pelvis at the origin and the best rotation (Procrustes without scale) applied, mean joint
  error in millimetres, over the frames of the kept clips;
* root path error: the recovered pelvis path on the floor against the true one after the best rigid alignment on
  the floor (the camera's heading is unknown), mean distance as a share of the distance travelled; reported for
  clips that travel at least `min_travel` metres.

Requires the video extra and scikit-image (the dev extra).

Shape legend: T frames, J joints (22).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionmill.export.render import Camera, orbit_camera
from motionmill.video.figure import LOOKS, pixel_rays, render_figure

__all__ = [
    "View",
    "caption_agreement",
    "caption_report",
    "caption_summary",
    "landmark_pairs",
    "path_error",
    "procrustes_mpjpe",
    "render_video",
    "split_indices",
    "view_for",
]

BACKDROPS = ("coffee", "astronaut", "rocket", "chelsea", "immunohistochemistry", "coins")


@dataclass(frozen=True)
class View:
    yaw_deg: float
    """Azimuth of the camera around the body, from its initial front."""
    pitch_deg: float
    fov_deg: float
    look: int
    backdrop: str


def view_for(seed: int, index: int, angle: int) -> View:
    """The `angle`-th view of clip `index`: angles spread around the body, other settings drawn from the seed."""
    rng = np.random.default_rng([seed, index, angle])
    yaw = (angle * 137.5 + float(rng.uniform(-30, 30))) % 360  # golden-angle steps: two views differ by ~140 degrees
    return View(yaw, float(rng.uniform(5, 15)), float(rng.uniform(45, 60)), int(rng.integers(len(LOOKS))),
                str(rng.choice(BACKDROPS)))  # fmt: skip


def camera_for(joints: np.ndarray, view: View, size: tuple[int, int]) -> Camera:
    """A static camera that keeps the whole motion in frame, the body at least about a third of the frame high."""
    ground = joints[:, 0, [0, 2]]
    centre = 0.5 * (ground.min(axis=0) + ground.max(axis=0))
    extent = float(np.ptp(ground, axis=0).max())
    half_width = math.tan(math.radians(view.fov_deg) / 2) * size[0] / size[1]
    distance = max(3.5, (0.6 * extent + 0.5) / half_width + 0.5 * extent)
    return orbit_camera((centre[0], 0.9, centre[1]), size, view.yaw_deg, view.pitch_deg, distance, view.fov_deg)


def _photo(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def render_video(joints: np.ndarray, view: View, path: str | Path, fps: float = 30.0,
                 size: tuple[int, int] = (640, 480)) -> Camera:  # fmt: skip
    """Write the figure performing `joints` (T, J, 3) as an H.264 MP4; return the camera."""
    import imageio_ffmpeg

    camera = camera_for(joints, view, size)
    rays = pixel_rays(camera)
    backdrop = _photo(view.backdrop)
    writer = imageio_ffmpeg.write_frames(str(path), size, fps=fps, quality=8, macro_block_size=16,
                                         ffmpeg_log_level="error")  # fmt: skip
    writer.send(None)
    try:
        for pose in joints:
            writer.send(render_figure(pose, camera, LOOKS[view.look], backdrop, rays))
    finally:
        writer.close()
    return camera


def procrustes_mpjpe(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(T, J, 3) x 2 -> (T,) mean joint error after moving each frame's pelvis to the origin and the best rotation."""
    p = predicted - predicted[:, :1]
    g = truth - truth[:, :1]
    u, _, vt = np.linalg.svd(p.transpose(0, 2, 1) @ g)
    sign = np.sign(np.linalg.det(u @ vt))
    u[..., -1] *= sign[:, None]  # a proper rotation: flip the last axis when the best orthogonal map reflects
    rotation = u @ vt
    return np.linalg.norm(p @ rotation - g, axis=-1).mean(axis=-1)


def path_error(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(T, 2) floor paths -> (mean distance after the best rigid alignment, distance travelled), metres."""
    p = predicted - predicted.mean(axis=0)
    g = truth - truth.mean(axis=0)
    u, _, vt = np.linalg.svd(p.T @ g)
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
    aligned = p @ (u @ vt)
    travelled = float(np.linalg.norm(np.diff(truth, axis=0), axis=-1).sum())
    return float(np.linalg.norm(aligned - g, axis=-1).mean()), travelled


def _clip_pairs(task: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks and rendered joints of one clip seen from one view (frames where the person is found)."""
    from motionmill.synth.corpus import make_clip
    from motionmill.video.pose import PoseEstimator

    seed, index, angle, seconds, stride = task
    clip = make_clip(seed, index, captions=False)
    joints = clip.joints[: int(seconds * clip.fps)]
    view = view_for(seed, index, angle)
    camera = camera_for(joints, view, (640, 480))
    rays, backdrop = pixel_rays(camera), _photo(view.backdrop)
    world, truth = [], []
    with PoseEstimator() as estimate:  # tracking, as on a video: every frame goes through, every `stride`-th is kept
        for t, pose_joints in enumerate(joints):
            pose = estimate(render_figure(pose_joints, camera, LOOKS[view.look], backdrop, rays))
            if pose is not None and t % stride == 0:
                world.append(pose.world)
                truth.append(pose_joints)
    return np.array(world).reshape(-1, 33, 3), np.array(truth).reshape(-1, 22, 3)


def landmark_pairs(indices: list[int], views: int = 2, seconds: float = 4.0, stride: int = 2, seed: int = 7,
                   workers: int = 1) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(N, L, 3) MediaPipe landmarks and (N, J, 3) joints of built-in clips `indices`, rendered from `views` angles."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    tasks = [(seed, i, a, seconds, stride) for i in indices for a in range(views)]
    progress = {"total": len(tasks), "unit": "video", "desc": "render + pose"}
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(tqdm(pool.map(_clip_pairs, tasks), **progress))
    else:
        parts = [_clip_pairs(t) for t in tqdm(tasks, **progress)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def split_indices(split: str, count: int, seed: int = 7) -> list[int]:
    """The first `count` clip indices of the built-in corpus (seed `seed`) that belong to `split`."""
    from motionmill.synth.corpus import split_of

    out, index = [], 0
    while len(out) < count:
        if split_of(seed, index) == split:
            out.append(index)
        index += 1
    return out


def caption_agreement(plan, caption, start: int, frames: int, fps: float = 30.0, min_seconds: float = 1.0) -> list:
    """How a caption of recovered frames [start, start + frames) of a video agrees with the plan that was rendered.

    A plan segment is scored when at least `min_seconds` and half of it lie in the recovered frames. The action the
    caption names for it is the action of the caption part that covers most of those frames. Direction (of travel,
    or of a turn within 45 degrees) and count are scored where the plan gives them and the whole segment was
    recovered (a count or a turn cut in half cannot be right).

    Returns:
        One dict per scored segment: "action" (the plan's), "named", and "direction_ok" / "count_ok" / "side_ok"
        (True, False, or None when not scored; the side of a one-sided action is scored on any overlap).
    """
    rows = []
    end = start + frames
    for seg in plan.segments:
        s, e = round(seg.start * fps), round(seg.end * fps)
        lo, hi = max(s, start), min(e, end)
        if hi - lo < max(min_seconds * fps, 0.5 * (e - s)):
            continue
        overlap = [min(hi, start + round(p.end * fps)) - max(lo, start + round(p.start * fps)) for p in caption.parts]
        part = caption.parts[int(np.argmax(overlap))]
        whole = s >= start and e <= end
        direction = seg.modifier("direction")
        turn = seg.modifier("turn")
        reps = seg.modifier("reps")
        side = seg.modifier("side")
        row = {"action": seg.action, "named": part.action, "direction_ok": None, "count_ok": None,
               "side_ok": part.detail("side") == side if side in ("left", "right") else None}  # fmt: skip
        if whole and turn is not None:
            row["direction_ok"] = abs(float(part.detail("turn", 0)) - float(turn)) <= 45
        elif whole and direction is not None:
            row["direction_ok"] = part.detail("direction") == direction
        if whole and reps is not None:
            row["count_ok"] = part.detail("count") == int(reps)
        rows.append(row)
    return rows


def caption_summary(rows: list[dict]) -> dict:
    """`caption_agreement` rows -> {"segments", "action": share, "direction"/"count"/"side": (share, scored)}."""

    def share(key: str) -> tuple[float, int]:
        scored = [r[key] for r in rows if r[key] is not None]
        return (float(np.mean(scored)) if scored else float("nan")), len(scored)

    action = float(np.mean([r["action"] == r["named"] for r in rows])) if rows else float("nan")
    return {"segments": len(rows), "action": action, "direction": share("direction_ok"), "count": share("count_ok"),
            "side": share("side_ok")}  # fmt: skip


def caption_report(rows: list[dict]) -> str:
    """Two lines: the shares of `caption_summary` and the most frequent confusions."""
    from collections import Counter

    s = caption_summary(rows)
    confusions = Counter((r["action"], r["named"]) for r in rows if r["action"] != r["named"])
    return (f"captions on {s['segments']} segments: right action {s['action']:.1%}; right direction or turn "
            f"{s['direction'][0]:.1%} of {s['direction'][1]}; right count {s['count'][0]:.1%} of {s['count'][1]}; "
            f"right side {s['side'][0]:.1%} of {s['side'][1]}\nmost frequent confusions (plan -> caption): "
            + (", ".join(f"{a}->{b} x{n}" for (a, b), n in confusions.most_common(10)) or "none"))  # fmt: skip
