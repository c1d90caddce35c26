"""Quality filters for corpus building: pure functions that measure one property of a clip against a threshold.

MotionMillion filters its video-estimated motion for jitter, foot skating, ground contact and static poses before
training (paper Sec. 3); the released corpus does not record which clips were dropped or why. Here every filter
returns the value it measured, so a rejected clip lands in the corpus quarantine with the filter, the value and a
readable reason, and kept clips carry their scores in the clip table.

Physical quantities follow docs/evaluation.md ("Physical plausibility") through `motionmill.motion.physics`: y up,
metres, 30 fps. The defaults are deliberately loose: they keep clean procedural clips (the built-in corpus) and
real mocap, including fast kicks, jumps and runs, and reject what is broken (NaNs, frozen or empty clips, joint
glitches, teleporting roots, stretching bones, a body buried in or hovering over the floor, missing captions).

Shape legend: T frames, J joints (22), F features (272).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np

__all__ = ["FILTERS", "Check", "ClipView", "QualityConfig", "assess", "view_of"]

CORPUS_FPS = 30.0
"""Length bounds are expressed in frames at this rate, whatever the clip's own rate."""


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the quality filters. A clip fails a filter when its value is outside the bound."""

    min_frames: int = 30
    """Shortest clip kept, in frames at 30 fps (1 s; the built-in corpus starts at about 1.2 s)."""
    max_frames: int = 9000
    """Longest clip kept, in frames at 30 fps (5 min; longer takes are cut into chunks by the sources)."""
    max_acceleration: float = 1000.0
    """Jitter: largest joint acceleration allowed, m/s^2. Fast kicks and punches peak at a few hundred m/s^2 at
    30 fps; a one-frame glitch of 0.6 m reads about 1000."""
    max_foot_skating: float = 0.5
    """Largest foot skating ratio (GMD) allowed; real HumanML3D averages about 0.05."""
    max_penetration_mm: float = 50.0
    """Largest mean ground penetration, mm (canonical clips have their floor at the lowest joint, so 0)."""
    max_floating_mm: float = 250.0
    """Largest mean floating height of the lowest joint, mm; built-in jumping clips reach about 60, while a take
    that stands on a box or stairs for most of its length exceeds it (raise it for such sources)."""
    max_bone_drift: float = 0.05
    """Largest change of any bone length over the clip, metres; rigid skeletons drift below 1 mm."""
    min_range_of_motion: float = 0.01
    """Static clips: the largest per-joint range of motion (max over axes) must reach this, metres."""
    max_root_speed: float = 12.0
    """Root teleports: largest pelvis speed between consecutive frames, m/s (a sprint is about 10)."""
    require_captions: bool = True
    """Reject clips without a non-empty caption (turn off for caption-less mocap such as raw AMASS)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"QualityConfig.{f.name} must be a bool, got {value!r}")
            elif not (isinstance(value, int | float) and np.isfinite(value) and value >= 0):
                raise ValueError(f"QualityConfig.{f.name} must be a finite number >= 0, got {value!r}")
        if self.min_frames < 2:
            raise ValueError(f"QualityConfig.min_frames must be >= 2 (velocities need two frames), got "
                             f"{self.min_frames}")  # fmt: skip
        if self.max_frames < self.min_frames:
            raise ValueError(f"QualityConfig.max_frames ({self.max_frames}) must be >= min_frames "
                             f"({self.min_frames})")  # fmt: skip

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ClipView:
    """What the filters look at, computed once per clip."""

    features: np.ndarray
    """(T, F) features."""
    joints: np.ndarray | None
    """(T, J, 3) joint positions in metres, y up; None when the features are not finite."""
    fps: float
    texts: tuple[dict, ...] = ()
    parents: tuple[int, ...] = ()


@dataclass(frozen=True)
class Check:
    """The outcome of one filter on one clip."""

    filter: str
    value: float
    passed: bool
    reason: str = ""


def view_of(sample) -> ClipView:
    """The ClipView of a `Sample` (joints decoded from its features unless they are non-finite)."""
    motion = sample.motion
    features = np.asarray(motion.features)
    joints = motion.joints() if np.isfinite(features).all() else None
    return ClipView(features, joints, float(motion.fps), tuple(sample.texts), tuple(motion.skeleton.parents))


def _check(name: str, value: float, passed: bool, reason: str) -> Check:
    return Check(name, float(value), bool(passed), "" if passed else reason)


# ---------------------------------------------------------------- filters: (ClipView, QualityConfig) -> Check


def non_finite(clip: ClipView, cfg: QualityConfig) -> Check:
    """Count of NaN or infinite feature values (must be 0)."""
    bad = int((~np.isfinite(clip.features)).sum())
    return _check("non_finite", bad, bad == 0, f"{bad} non-finite feature values")


def length(clip: ClipView, cfg: QualityConfig) -> Check:
    """Clip length in frames at 30 fps, within [min_frames, max_frames]."""
    frames = (len(clip.features) - 1) * CORPUS_FPS / clip.fps + 1
    ok = cfg.min_frames <= round(frames, 6) <= cfg.max_frames
    return _check("length", frames, ok, f"{frames:.0f} frames at 30 fps, outside [{cfg.min_frames}, "
                                        f"{cfg.max_frames}]")  # fmt: skip


def jitter(clip: ClipView, cfg: QualityConfig) -> Check:
    """Largest joint acceleration |x[t+1] - 2x[t] + x[t-1]| * fps^2, m/s^2."""
    j = clip.joints
    acc = float(np.linalg.norm(j[2:] - 2 * j[1:-1] + j[:-2], axis=-1).max() * clip.fps**2) if len(j) >= 3 else 0.0
    return _check("jitter", acc, acc <= cfg.max_acceleration,
                  f"joint acceleration {acc:.0f} m/s^2 > {cfg.max_acceleration:g}")  # fmt: skip


def foot_skating(clip: ClipView, cfg: QualityConfig) -> Check:
    """GMD foot skating ratio (fraction of frame pairs with a sliding foot in contact)."""
    from motionmill.motion.physics import foot_skating_ratio

    ratio = foot_skating_ratio(clip.joints, clip.fps)
    return _check("foot_skating", ratio, ratio <= cfg.max_foot_skating,
                  f"foot skating ratio {ratio:.2f} > {cfg.max_foot_skating:g}")  # fmt: skip


def penetration(clip: ClipView, cfg: QualityConfig) -> Check:
    """Mean ground penetration of the lowest joint, mm."""
    from motionmill.motion.physics import penetration as measure

    mm = measure(clip.joints)
    return _check("penetration", mm, mm <= cfg.max_penetration_mm,
                  f"mean ground penetration {mm:.0f} mm > {cfg.max_penetration_mm:g}")  # fmt: skip


def floating(clip: ClipView, cfg: QualityConfig) -> Check:
    """Mean height of the lowest joint above the floor band, mm."""
    from motionmill.motion.physics import floating as measure

    mm = measure(clip.joints)
    return _check("floating", mm, mm <= cfg.max_floating_mm,
                  f"mean floating height {mm:.0f} mm > {cfg.max_floating_mm:g}")  # fmt: skip


def bone_drift(clip: ClipView, cfg: QualityConfig) -> Check:
    """Largest change of a bone length over the clip, metres."""
    from motionmill.motion.physics import bone_length_drift

    drift = float(bone_length_drift(clip.joints, clip.parents).max())
    return _check("bone_drift", drift, drift <= cfg.max_bone_drift,
                  f"bone length changes by {drift * 100:.1f} cm > {cfg.max_bone_drift * 100:g}")  # fmt: skip


def static(clip: ClipView, cfg: QualityConfig) -> Check:
    """Largest per-joint range of motion (max - min over time, largest axis), metres."""
    rom = float((clip.joints.max(axis=0) - clip.joints.min(axis=0)).max())
    return _check("static", rom, rom >= cfg.min_range_of_motion,
                  f"static: joints move at most {rom * 100:.2f} cm < {cfg.min_range_of_motion * 100:g}")  # fmt: skip


def teleport(clip: ClipView, cfg: QualityConfig) -> Check:
    """Largest pelvis speed between consecutive frames, m/s."""
    speed = float(np.linalg.norm(np.diff(clip.joints[:, 0], axis=0), axis=-1).max() * clip.fps)
    return _check("teleport", speed, speed <= cfg.max_root_speed,
                  f"root moves at {speed:.1f} m/s between frames > {cfg.max_root_speed:g}")  # fmt: skip


def captions(clip: ClipView, cfg: QualityConfig) -> Check:
    """Number of non-empty captions; clips must have one unless `require_captions` is off."""
    texts = [t.get("text") for t in clip.texts]
    good = sum(isinstance(t, str) and bool(t.strip()) for t in texts)
    if not cfg.require_captions:
        return _check("captions", good, True, "")
    if not texts:
        return _check("captions", 0, False, "no captions")
    return _check("captions", good, good == len(texts), f"{len(texts) - good} of {len(texts)} captions are empty")


FILTERS: dict[str, Callable[[ClipView, QualityConfig], Check]] = {
    "length": length,
    "captions": captions,
    "jitter": jitter,
    "foot_skating": foot_skating,
    "penetration": penetration,
    "floating": floating,
    "bone_drift": bone_drift,
    "static": static,
    "teleport": teleport,
}
"""The filters run on finite clips, in this order (cheap first); `non_finite` runs before them all."""


def assess(sample, cfg: QualityConfig) -> tuple[dict[str, float], list[tuple[str, float, str]]]:
    """Run every filter on a sample.

    Args:
        sample: a `Sample` (or a `ClipView`).
        cfg: the thresholds.

    Returns:
        (scores, failures): the value of each filter that ran, and (filter, value, reason) for each failure, in
        filter order. A clip with non-finite features fails `non_finite` and no other filter runs on it.
    """
    clip = sample if isinstance(sample, ClipView) else view_of(sample)
    first = non_finite(clip, cfg)
    checks = [first] if not first.passed else [first] + [fn(clip, cfg) for fn in FILTERS.values()]
    scores = {c.filter: c.value for c in checks}
    return scores, [(c.filter, c.value, c.reason) for c in checks if not c.passed]
