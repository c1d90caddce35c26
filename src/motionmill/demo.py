"""`make demo`: the main end-to-end job on the built-in default.

Until the text-to-motion generator ships, the demo builds clips of the built-in corpus from written plans, captions
them with the corpus grammar, and writes every output format a user would take away: 272 features, joints, BVH,
SMPL parameters, an animated GIF, an MP4 and the self-contained HTML player.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionmill.export.formats import write_motion
from motionmill.motion.container import Motion
from motionmill.synth.captions import captions_for
from motionmill.synth.compose import compose
from motionmill.synth.plan import ClipPlan, Segment

__all__ = ["DEMO_PLANS", "run_demo"]

DEMO_PLANS = {
    "walk_wave_jump": (
        Segment("walk", 0.0, 4.0, (("direction", "forward"),), layer="wave", layer_modifiers=(("side", "right"),)),
        Segment("jump", 4.0, 6.5, (("reps", 2),)),
    ),
    "squat_then_punch": (
        Segment("squat", 0.0, 4.0, (("reps", 2),)),
        Segment("punch", 4.0, 6.5, (("side", "left"), ("reps", 3))),
    ),
    "jog_turn": (Segment("jog", 0.0, 5.0, (("turn", 180),)),),
}
OUTPUTS = (".npy", ".joints.npy", ".bvh", ".smpl.npz", ".gif", ".mp4", ".html")


def demo_motion(name: str, seed: int = 0) -> tuple[Motion, str]:
    """The motion and a caption of one demo plan."""
    plan = ClipPlan(seed=seed, index=list(DEMO_PLANS).index(name), split="demo", segments=DEMO_PLANS[name])
    kinematics = compose(plan, np.random.default_rng([seed, plan.index]))
    caption = captions_for(plan, np.random.default_rng([seed, plan.index, 1]), n=1)[0].text
    return Motion.from_rotations(kinematics.rotations, kinematics.joints, plan.fps), caption


def run_demo(out: Path) -> list[Path]:
    """Write every output format of each demo clip into `out` and print where they are."""
    print("motionmill demo: the text-to-motion generator is not available yet, so this demo renders clips of the "
          "built-in procedural corpus with their captions.")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DEMO_PLANS:
        motion, caption = demo_motion(name)
        print(f"  {name}: \"{caption}\" ({motion.duration:.1f} s)")
        for suffix in OUTPUTS:
            path = out / f"{name}{suffix}"
            write_motion(motion, path, title=caption)
            written.append(path)
    print(f"wrote {len(written)} files to {out.resolve()}/ (open the .html files in a browser to orbit and scrub)")
    return written
