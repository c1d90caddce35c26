"""One video in, motion clips and recorded rejections out: decode, shots, pose, tracks, lifting, path, filters.

The video is read once, frame by frame (bounded memory: a few kilobytes per frame are kept, never the frames). Per
frame: the shot detector's thumbnail, MediaPipe's landmarks of the tracked person, and the background's shift
against the previous frame. After the last frame the shots are cut, each shot's detections are split into tracks,
and each track is lifted to SMPL-22 joints on the ground, then filtered. Every track or video that is not kept is
returned as a `Rejection` with the stage, the filter, the measured value and a sentence; nothing is dropped silently.

Shape legend: T frames, J joints (22).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from motionmill.motion.physics import foot_skating_ratio
from motionmill.video.decode import DEFAULT_MAX_SIDE, VideoError, frames, probe
from motionmill.video.lift import LandmarkRegressor, lift_track, smooth
from motionmill.video.pose import FaceCounter, PoseEstimator
from motionmill.video.shots import ShotDetector
from motionmill.video.track import Track, TrackConfig, split_tracks
from motionmill.video.trajectory import background_shift, camera_translation, focal_length, to_ground_frame

__all__ = ["AnnotateConfig", "Rejection", "VideoClip", "annotate_video"]

BODY = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
"""MediaPipe landmarks of the limbs and trunk (the face and fingers are not needed for the body's motion)."""
LIMBS = np.array([(11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26), (26, 28)])
"""The long bones, as MediaPipe landmark pairs: their lengths are what a body cannot change."""


@dataclass(frozen=True)
class AnnotateConfig:
    max_side: int = DEFAULT_MAX_SIDE
    lifter: str = "learned"
    """"learned" (the shipped LandmarkRegressor), "geometric", or the folder of another fitted regressor."""
    hfov_deg: float = 60.0
    """Assumed horizontal field of view of the camera (the path's scale depends on it; trajectory.py)."""
    smooth_s: float = 0.05
    path_smooth_s: float = 0.15
    """The body's translation is noisier than its pose (it comes from the 2D size), so it is smoothed more."""
    min_track_s: float = 2.0
    min_detected: float = 0.8
    """Fraction of a track's frames with a detection (the rest are bridged)."""
    min_visibility: float = 0.5
    """Mean visibility of the body's landmarks over the detected frames."""
    face_every: int = 5
    """Faces are counted on every this-many-th frame."""
    max_crowded: float = 0.3
    """Largest share of a track's counted frames that show two faces or more."""
    max_camera_shift: float = 0.004
    """Median background shift per frame, as a fraction of the frame width; above it the camera moved."""
    max_bone_variation: float = 0.37
    """Largest coefficient of variation of a long bone's length (upper arm, forearm, thigh, shin) over the detected
    frames, before the lengths are fixed."""
    max_acceleration: float = 150.0
    """Jitter: 99th percentile of joint accelerations, m/s^2, after smoothing."""
    max_foot_skating: float = 0.61
    """Share of frames in which a foot in contact with the floor slides (motion.physics.foot_skating_ratio)."""
    track: TrackConfig = field(default_factory=TrackConfig)
    # The three motion bounds above sit at the 95th percentile (rounded up) of their measures over the tracks of
    # clean rendered video of val clips (`python bench/closed_loop.py --split val --clips 20 --no-motion-filters`):
    # they reject what is worse than nearly all correct estimates of this pipeline, not what is merely imperfect.


@dataclass
class VideoClip:
    video: str
    start: int
    """First video frame."""
    fps: float
    joints: np.ndarray
    """(T, J, 3) metres, y up, floor at 0, x to the camera's right, z towards it."""
    scores: dict
    """The filters' measured values."""

    @property
    def end(self) -> int:
        return self.start + len(self.joints)


@dataclass(frozen=True)
class Rejection:
    video: str
    start: int
    end: int
    stage: str
    """"decode", "shots", "track" or "motion"."""
    filter: str
    value: float
    reason: str


@dataclass
class _Pass:
    """What one decoding pass keeps per frame."""

    poses: list = field(default_factory=list)
    shifts: list = field(default_factory=list)
    faces: list = field(default_factory=list)
    """Faces on the frame, -1 where they were not counted."""
    detector: ShotDetector = field(default_factory=ShotDetector)


def _read(info, estimator_factory, face_every: int, progress: bool = False) -> _Pass:
    import cv2
    from tqdm.auto import tqdm

    seen = _Pass()
    previous_grey = None
    count_faces = FaceCounter()
    with estimator_factory() as estimate:
        bar = tqdm(frames(info), total=info.expected_frames, unit="frame", desc="pose", disable=not progress)
        for t, frame in enumerate(bar):
            seen.detector.push(frame)
            pose = estimate(frame)
            seen.poses.append(pose)
            seen.faces.append(count_faces(frame) if t % face_every == 0 else -1)
            grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (160, 160 * frame.shape[0] // frame.shape[1]))
            scale = 160 / frame.shape[1]
            box = None if pose is None else tuple(v * scale for v in pose.box)
            shift = (0.0, 0.0) if previous_grey is None else background_shift(previous_grey, grey, box)
            seen.shifts.append(np.hypot(*shift) / 160)  # fraction of the frame width
            previous_grey = grey
    count_faces.close()
    return seen


def _first_failure(video: str, track: Track, stage: str, checks) -> Rejection | None:
    """checks: (filter, value, passes, reason) in order; the first that does not pass, as a Rejection."""
    for name, value, passes, reason in checks:
        if not passes:
            return Rejection(video, track.start, track.end, stage, name, float(value), reason)
    return None


@functools.cache
def _regressor(lifter: str) -> LandmarkRegressor | None:
    """Loaded once per process, and only when a track is lifted."""
    if lifter == "geometric":
        return None
    return LandmarkRegressor.load() if lifter == "learned" else LandmarkRegressor.load(lifter)


def _lift(track: Track, size, fps, config: AnnotateConfig) -> tuple[np.ndarray, dict]:
    """A track's joints on the ground (T, J, 3) and the measurements the motion filters need."""
    limbs = track.world[:, LIMBS[:, 1]] - track.world[:, LIMBS[:, 0]]
    lengths = np.linalg.norm(limbs[track.detected], axis=-1)  # (T, 8): upper arms, forearms, thighs, shins
    variation = float((lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-6)).max())
    body = lift_track(track.world, fps, config.smooth_s, _regressor(config.lifter))
    translation = camera_translation(smooth(track.world, config.smooth_s * fps), track.image, track.visibility,
                                     focal_length(size[0], config.hfov_deg), (size[0] / 2, size[1] / 2))  # fmt: skip
    translation = smooth(translation, config.path_smooth_s * fps)
    joints, floor = to_ground_frame(body + translation[:, None], fps)
    return joints, {"bone_variation": variation, **floor}


def _check_track(video: str, track: Track, seen: _Pass, fps: float, c: AnnotateConfig) -> Rejection | None:
    """The first filter a track fails before lifting, or None."""
    seconds = track.frames / fps
    if seconds < c.min_track_s:
        return _first_failure(video, track, "track", [("length", seconds, False,
                              f"track of {seconds:.2f} s is shorter than {c.min_track_s} s")])  # fmt: skip
    camera = float(np.median(seen.shifts[track.start : track.end]))
    faces = np.asarray(seen.faces[track.start : track.end])
    crowded = float((faces[faces >= 0] >= 2).mean()) if (faces >= 0).any() else 0.0
    detected = float(track.detected.mean())
    visibility = float(track.visibility[track.detected][:, BODY].mean())
    return _first_failure(video, track, "track", [
        ("camera-motion", camera, camera <= c.max_camera_shift, f"the background moves {camera:.2%} of the frame "
         f"width per frame (> {c.max_camera_shift:.2%}): the camera moved"),
        ("several-people", crowded, crowded <= c.max_crowded,
         f"two or more faces on {crowded:.0%} of the frames (> {c.max_crowded:.0%})"),
        ("detection", detected, detected >= c.min_detected,
         f"the person is found in {detected:.0%} of the frames (< {c.min_detected:.0%})"),
        ("visibility", visibility, visibility >= c.min_visibility,
         f"mean landmark visibility {visibility:.2f} < {c.min_visibility}"),
    ])  # fmt: skip


def _motion_scores(joints: np.ndarray, fps: float) -> dict:
    acceleration = np.linalg.norm(np.diff(joints, n=2, axis=0), axis=-1) * fps * fps
    return {"jitter": float(np.percentile(acceleration, 99)) if acceleration.size else 0.0,
            "foot_skating": foot_skating_ratio(joints, fps)}  # fmt: skip


def _check_motion(video: str, track: Track, scores: dict, c: AnnotateConfig) -> Rejection | None:
    bones, jitter, skating = scores["bone_variation"], scores["jitter"], scores["foot_skating"]
    return _first_failure(video, track, "motion", [
        ("bone-length", bones, bones <= c.max_bone_variation,
         f"a long bone's length varies by {bones:.0%} (> {c.max_bone_variation:.0%})"),
        ("jitter", jitter, jitter <= c.max_acceleration,
         f"99th percentile joint acceleration {jitter:.0f} m/s^2 > {c.max_acceleration:.0f}"),
        ("foot-skating", skating, skating <= c.max_foot_skating,
         f"a foot on the floor slides in {skating:.0%} of the frames (> {c.max_foot_skating:.0%})"),
    ])  # fmt: skip


def annotate_video(
    path: str | Path,
    config: AnnotateConfig | None = None,
    estimator_factory=PoseEstimator,
    keep_poses: bool = False,
    progress: bool = False,
) -> tuple[list[VideoClip], list[Rejection], dict]:
    """The motion clips of one video file, the rejections with their reasons, and counts of what was seen.

    The stats also hold the shot detector's `boundaries` and `shot_spans` (dicts of frame numbers), and with
    `keep_poses` the `poses`: every frame's `PoseFrame` of the tracked person, or None (for drawing them, as
    `video.inspect` does; a few kilobytes per frame). `progress` shows a bar of the frames read (a corpus build has
    its own bar per video). Never raises for a bad video: an unusable file is one rejection at stage "decode".
    """
    config = config or AnnotateConfig()
    video = str(path)
    try:
        info = probe(path, config.max_side)
        seen = _read(info, estimator_factory, config.face_every, progress)
    except VideoError as e:
        return [], [Rejection(video, 0, 0, "decode", e.reason, float("nan"), e.detail)], {"frames": 0}
    total = len(seen.poses)
    shots = seen.detector.shots()
    stats = {"frames": total, "fps": info.fps, "size": list(info.size), "shots": len(shots),
             "detected_frames": int(sum(p is not None for p in seen.poses)), "config": asdict(config),
             "boundaries": [asdict(b) for b in seen.detector.boundaries()],
             "shot_spans": [asdict(s) for s in shots]}  # fmt: skip
    if keep_poses:
        stats["poses"] = seen.poses
    clips, rejections = [], []
    for shot in shots:
        tracks = split_tracks(seen.poses[shot.start : shot.end], shot.start, info.fps, config.track)
        if not tracks:
            rejections.append(Rejection(video, shot.start, shot.end, "shots", "no-person", 0.0,
                                        f"nobody found in frames {shot.start}-{shot.end}"))  # fmt: skip
        for track in tracks:
            rejection = _check_track(video, track, seen, info.fps, config)
            if rejection is None:
                joints, lifted = _lift(track, info.size, info.fps, config)
                camera = float(np.median(seen.shifts[track.start : track.end]))
                scores = {"detected": float(track.detected.mean()), "camera_shift": camera, **lifted,
                          **_motion_scores(joints, info.fps)}  # fmt: skip
                rejection = _check_motion(video, track, scores, config)
            if rejection is not None:
                rejections.append(rejection)
                continue
            clips.append(VideoClip(video, track.start, info.fps, joints, scores))
    if total <= 1:
        rejections = [Rejection(video, 0, total, "decode", "too-short", float(total), f"{total} frame(s)")]
    return clips, rejections, stats
