"""Built-in corpus generation speed: 5-second clips per second on one core (target >= 100).

Run: `python bench/synth_speed.py [--clips 300]`. Torch is limited to one thread. Two measures: motion alone for
single-segment plans of exactly 5 s cycling through every action, and whole corpus clips (plan, motion, captions),
converted to five-second equivalents by their total duration.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from motionmill.synth.catalog import ACTIONS
from motionmill.synth.compose import compose
from motionmill.synth.corpus import make_clip
from motionmill.synth.plan import ClipPlan, Segment


def five_second_plans(n: int) -> list[ClipPlan]:
    """n plans of one 5-second segment each, cycling through every action."""
    names = list(ACTIONS)
    return [ClipPlan(0, i, "train", (Segment(names[i % len(names)], 0.0, 5.0),)) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    plans = five_second_plans(args.clips)
    start = time.perf_counter()
    for plan in plans:
        compose(plan, np.random.default_rng([0, plan.index]))
    dt = time.perf_counter() - start
    print(f"motion only, 5 s clips: {args.clips / dt:.1f} clips/s ({1000 * dt / args.clips:.2f} ms per clip)")
    start = time.perf_counter()
    seconds = 0.0
    for i in range(args.clips):
        clip = make_clip(0, i)
        seconds += clip.plan.duration
    dt = time.perf_counter() - start
    print(f"make_clip (plan + motion + captions), corpus mix averaging {seconds / args.clips:.1f} s: "
          f"{args.clips / dt:.1f} clips/s = {seconds / 5 / dt:.1f} five-second clips/s")  # fmt: skip


if __name__ == "__main__":
    main()
