"""One person per track: a shot's per-frame detections cut wherever the person is lost or someone else takes over.

MediaPipe follows one person from frame to frame. When it loses them for longer than `max_gap_s` the track ends;
shorter gaps are bridged by linear interpolation (and marked as not detected). When the detected body jumps across
the image, or its size changes abruptly, between two consecutive frames, the detector has most likely switched to
another person, and a new track starts there.

Shape legend: T frames, L landmarks (33).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motionmill.video.pose import PoseFrame

__all__ = ["Track", "TrackConfig", "split_tracks"]


@dataclass(frozen=True)
class TrackConfig:
    max_gap_s: float = 0.2
    """Longest run of missed frames bridged inside a track."""
    max_jump: float = 0.6
    """Largest move of the hips between consecutive detections, in torso lengths, for the same person."""
    max_size_change: float = 0.35
    """Largest relative change of the torso's image length between consecutive detections."""


@dataclass
class Track:
    start: int
    """Video frame of the first pose."""
    image: np.ndarray
    """(T, L, 2) pixels."""
    visibility: np.ndarray
    """(T, L); 0 on bridged frames."""
    world: np.ndarray
    """(T, L, 3) metres around the hips, MediaPipe's axes (x right, y down, z away from the camera)."""
    detected: np.ndarray
    """(T,) bool: a pose was found on this frame (False: bridged)."""

    @property
    def frames(self) -> int:
        return len(self.detected)

    @property
    def end(self) -> int:
        return self.start + self.frames


def _torso(pose: PoseFrame) -> tuple[np.ndarray, float]:
    """Hips' midpoint (pixels) and hips-to-shoulders length (pixels)."""
    hips = 0.5 * (pose.image[23] + pose.image[24])
    shoulders = 0.5 * (pose.image[11] + pose.image[12])
    return hips, float(np.linalg.norm(shoulders - hips))


def _same_person(a: PoseFrame, b: PoseFrame, config: TrackConfig) -> bool:
    (hips_a, torso_a), (hips_b, torso_b) = _torso(a), _torso(b)
    scale = max(torso_a, torso_b, 1.0)
    jump = float(np.linalg.norm(hips_b - hips_a)) / scale
    return jump <= config.max_jump and abs(torso_b - torso_a) / scale <= config.max_size_change


def _build(start: int, poses: list[PoseFrame | None]) -> Track:
    """A track from its poses (first and last present), bridging the missing ones linearly."""
    present = np.array([p is not None for p in poses])
    index = np.flatnonzero(present)
    t = np.arange(len(poses))

    def filled(get) -> np.ndarray:
        values = np.stack([get(poses[i]) for i in index])  # (N, ...)
        flat = values.reshape(len(index), -1)
        out = np.stack([np.interp(t, index, flat[:, k]) for k in range(flat.shape[1])], axis=1)
        return out.reshape((len(poses),) + values.shape[1:])

    visibility = filled(lambda p: p.visibility)
    visibility[~present] = 0.0
    return Track(start, filled(lambda p: p.image), visibility, filled(lambda p: p.world), present)


def split_tracks(poses: list[PoseFrame | None], first_frame: int, fps: float,
                 config: TrackConfig | None = None) -> list[Track]:  # fmt: skip
    """Tracks in one shot whose frame `first_frame + i` has pose `poses[i]` (None: nobody found)."""
    config = config or TrackConfig()
    max_gap = max(1, int(round(config.max_gap_s * fps)))
    tracks, current, current_start, last, missed = [], [], 0, None, 0
    for i, pose in enumerate(poses):
        if pose is None:
            missed += 1
            continue
        if current and (missed > max_gap or not _same_person(last, pose, config)):
            tracks.append(_build(current_start, current))
            current = []
        if not current:
            current_start, missed = first_frame + i, 0
        current.extend([None] * missed + [pose])
        last, missed = pose, 0
    if current:
        tracks.append(_build(current_start, current))
    return tracks
