"""Physical plausibility report of the built-in corpus: `motionmill synth report --clips 2000`.

Measures generated clips with eval.physics (docs/evaluation.md, "Physical plausibility") against the corpus targets:
foot skating ratio at 30 fps <= 0.05, mean penetration <= 5 mm, mean floating <= 20 mm, bone lengths constant within
1e-6 m, and no knee or elbow bent backwards. Floating is measured over grounded frames only: the flight phase of a
jump or hop is airborne by definition (Clip.air > 0 marks it), every other frame counts.
"""

from __future__ import annotations

import time

import numpy as np

from motionmill.motion import physics
from motionmill.motion.skeleton import SMPL22
from motionmill.synth.corpus import Clip, make_clip

__all__ = ["TARGETS", "backward_bends", "clip_metrics", "plausibility", "print_table"]

# metric -> (target, "max" if the value must stay below it)
TARGETS = {
    "foot_skating_ratio": 0.05,
    "penetration_mm": 5.0,
    "floating_mm": 20.0,
    "bone_length_drift_m": 1e-6,
    "backward_bends": 0.0,
}
_KNEES, _ELBOWS = (4, 5), (18, 19)


def backward_bends(rotations: np.ndarray, tol: float = 1e-9) -> int:
    """Number of (frame, joint) cases where a knee or an elbow bends against its anatomical direction.

    Knees flex about their +x axis (sin term R[2, 1] >= 0); the left elbow flexes about -y (R[0, 2] <= 0) and the
    right elbow about +y (R[0, 2] >= 0). A rotation with any other axis also counts as wrong.
    """
    knee = rotations[:, _KNEES]  # (T, 2, 3, 3)
    bad = (knee[..., 2, 1] < -tol) | (np.abs(knee[..., 0, 0] - 1) > 1e-6)
    sign = np.array([-1.0, 1.0])
    elbow = rotations[:, _ELBOWS]
    bad_e = (sign * elbow[..., 0, 2] < -tol) | (np.abs(elbow[..., 1, 1] - 1) > 1e-6)
    return int(bad.sum() + bad_e.sum())


def clip_metrics(clip: Clip) -> dict[str, float]:
    """Plausibility numbers of one clip (see the module docstring for what floating covers)."""
    j, grounded = clip.joints, clip.air <= 0
    return {
        "foot_skating_ratio": physics.foot_skating_ratio(j, clip.fps),
        "penetration_mm": physics.penetration(j),
        "floating_mm": physics.floating(j[grounded]) if grounded.any() else 0.0,
        "bone_length_drift_m": float(physics.bone_length_drift(j, SMPL22.parents).max()),
        "backward_bends": float(backward_bends(clip.rotations)),
        "foot_sliding_mm": physics.foot_sliding(j),
        "jitter_mm": physics.jitter(j) * 1000,
    }


def plausibility(seed: int = 0, clips: int = 2000) -> dict[str, dict[str, float]]:
    """Mean and worst value of each metric over clips 0 .. clips-1 of corpus `seed`."""
    rows = [clip_metrics(make_clip(seed, i, captions=False)) for i in range(clips)]
    return {k: {"mean": float(np.mean([r[k] for r in rows])), "max": float(np.max([r[k] for r in rows]))}
            for k in rows[0]}  # fmt: skip


def print_table(result: dict[str, dict[str, float]]) -> None:
    """Print metric | mean | worst clip | target | ok (the mean meets the target; drift and bends: the worst)."""
    print(f"{'metric':<22}{'mean':>12}{'worst clip':>14}{'target':>10}  ok")
    for name, v in result.items():
        target = TARGETS.get(name)
        value = v["max"] if name in ("bone_length_drift_m", "backward_bends") else v["mean"]
        ok = "-" if target is None else ("yes" if value <= target else "NO")
        shown = "-" if target is None else f"{target:g}"
        print(f"{name:<22}{v['mean']:>12.4g}{v['max']:>14.4g}{shown:>10}  {ok}")


def report(clips: int = 2000, seed: int = 0) -> dict:
    """Measure and print the plausibility table of `clips` built-in clips."""
    start = time.perf_counter()
    result = plausibility(seed, clips)
    print(f"{clips} clips of corpus seed {seed} at 30 fps ({time.perf_counter() - start:.1f} s)")
    print_table(result)
    return result
