"""What a tokenizer lets a text-to-motion model reach: predicate accuracy of built-in clips after an encode/decode
round trip, for one tokenizer or two on the same clips (same run).

A generator that emitted exactly the codes of the ground truth would score this, so it bounds the model's
`motionmill eval alignment` figure. The predicates that fail most often after the round trip but not on the clip
itself show what the decoder loses (a strike decoded as a feint, a turn decoded as no turn...).

Run: `python bench/tokenizer_ceiling.py [--tokenizer builtin] [--baseline OTHER] [--split test] [--clips 500]`: by
default the built-in model's tokenizer alone; `--baseline` adds another one (a run folder, or a pipeline's
`tokenizer/` folder such as a previous built-in model's) and the predicates each loses.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from motionmill.checkpoints.tokenizer import load_tokenizer
from motionmill.eval.alignment import alignment_clips
from motionmill.motion.container import Motion
from motionmill.synth.expectations import expected_predicates, score_motion
from motionmill.training.tokenizer import reconstruct


def load(spec: str):
    if spec == "builtin":
        from motionmill.inference.pipeline import BUILTIN_MODEL

        spec = str(BUILTIN_MODEL / "tokenizer")
    return load_tokenizer(spec)


def ceiling(model, stats, clips, motions, batch_size: int = 50) -> tuple[float, Counter]:
    """Predicates satisfied by the clips' motions decoded from their own codes (cut to whole tokens)."""
    decoded = []
    for b in range(0, len(motions), batch_size):
        decoded += reconstruct(model, stats, [m.features for m in motions[b : b + batch_size]])[0]
    satisfied, total, failed = 0, 0, Counter()
    for clip, features in zip(clips, decoded, strict=True):
        result = score_motion(clip.plan, Motion(features.astype(np.float64), clip.fps).joints(), clip.fps)
        satisfied, total = satisfied + result["satisfied"], total + result["total"]
        failed.update(result["failed"])
    return satisfied / total, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", default="builtin", help="tokenizer run or folder, or builtin (the default)")
    parser.add_argument("--baseline", help="another tokenizer to compare with (optional)")
    parser.add_argument("--split", default="test", choices=["test", "zeroshot", "val", "train"])
    parser.add_argument("--clips", type=int, default=500)
    args = parser.parse_args()
    clips = alignment_clips(args.split, args.clips)
    motions = [clip.motion() for clip in clips]
    scored = [score_motion(c.plan, c.joints, c.fps) for c in clips]
    truth = sum(s["satisfied"] for s in scored) / sum(s["total"] for s in scored)
    ours, ours_failed = ceiling(*load(args.tokenizer), clips, motions)
    print(f"{args.clips} {args.split} clips; predicates satisfied: ground truth {truth:.1%}, "
          f"{args.tokenizer} round trip {ours:.1%}")  # fmt: skip
    checked = Counter(p.name for c in clips for _, preds in expected_predicates(c.plan) for p in preds)
    if not args.baseline:
        for name, count in ours_failed.most_common(12):
            print(f"{name:<26} failed {count:>4} of {checked[name]}")
        return
    base, base_failed = ceiling(*load(args.baseline), clips, motions)
    print(f"{args.baseline} round trip {base:.1%}")
    lost_base, lost_ours = sum(base_failed.values()), sum(ours_failed.values())
    fewer = lost_base / max(lost_ours, 1)
    print(f"predicates failed after the round trip: {lost_base} -> {lost_ours} ({fewer:.2f}x fewer)")
    print(f"{'predicate':<26}{'checked':>8}{'failed: baseline':>18}{'ours':>6}")
    for name, _ in (base_failed + ours_failed).most_common(12):
        print(f"{name:<26}{checked[name]:>8}{base_failed[name]:>18}{ours_failed[name]:>6}")


if __name__ == "__main__":
    main()
