"""The offline captioner against the plans of built-in clips: does it name the right action, direction and count?

Two kinds of input:
* `--recovered DIR`: the motions the video pipeline recovered in the closed loop (`python bench/closed_loop.py
  --split S --save DIR`), each compared with the plan of the clip that was rendered;
* `--clean SPLIT`: the built-in clips of a split themselves (what the captioner reaches on perfect joints), and
  with `--disturbed` the same clips with the errors of pose estimation imitated (video/caption_fit.py).
Scoring is `video.closed_loop.caption_agreement`. Options that change the captioner (`--switch-cost`,
`--min-part`, `--classifier`, `--measured-details`) are chosen on val and then run once on test.

Run: `python bench/captioner.py --recovered runs/video/recovered/test` or `python bench/captioner.py --clean test`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from motionmill.synth.corpus import make_clip
from motionmill.video import caption as C
from motionmill.video.closed_loop import caption_agreement, caption_report, split_indices

SEED = 7


def recovered_rows(folder: Path, caption, seconds: float) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.npz")):
        saved = np.load(path)
        plan = make_clip(SEED, int(saved["index"]), captions=False).plan
        fps = float(saved["fps"])
        frames = min(len(saved["joints"]), int(seconds * fps) - int(saved["start"]))
        rows += caption_agreement(plan, caption(saved["joints"], fps), int(saved["start"]), frames, fps)
    return rows


def clean_rows(split: str, clips: int, caption, disturbed: bool) -> list[dict]:
    from motionmill.video.caption_fit import disturb

    rng = np.random.default_rng(0)
    rows = []
    for index in split_indices(split, clips, SEED):
        clip = make_clip(SEED, index, captions=False)
        joints = disturb(clip.joints, rng) if disturbed else clip.joints
        rows += caption_agreement(clip.plan, caption(joints, clip.fps), 0, len(joints), clip.fps)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recovered", type=Path)
    parser.add_argument("--clean", help="a split of the built-in corpus")
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--disturbed", action="store_true")
    parser.add_argument("--seconds", type=float, default=6.0, help="length the closed loop cut its clips to")
    parser.add_argument("--classifier", type=Path, default=C.DEFAULT_CLASSIFIER)
    parser.add_argument("--switch-cost", type=float, default=C.SWITCH_COST)
    parser.add_argument("--min-part", type=float, default=C.MIN_PART_S)
    parser.add_argument("--measured-details", action="store_true", help="counts and sides from the predicates")
    args = parser.parse_args()
    classifier = C.ActionClassifier.load(args.classifier)

    def caption(joints, fps):
        return C.caption_motion(joints, fps, classifier, args.switch_cost, args.min_part, not args.measured_details)

    if args.recovered:
        rows = recovered_rows(args.recovered, caption, args.seconds)
        what = f"closed-loop motions in {args.recovered}"
    else:
        rows = clean_rows(args.clean, args.clips, caption, args.disturbed)
        what = f"{args.clips} {'disturbed' if args.disturbed else 'clean'} built-in {args.clean} clips"
    print(f"{what}: {len(rows)} segments")
    print(caption_report(rows))


if __name__ == "__main__":
    main()
