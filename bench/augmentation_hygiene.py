"""How many augmentations of the built-in corpus's train clips the held-out rules refuse (same run, plans only).

Mirror images, captions with one changed detail and twins of train clips are extra training data for the
evaluators (`configs/evaluator/reranker.yaml`). A mirror image of "lunges with the right leg" is "lunges with the
left leg"; a twin of a walk that turns 90 degrees right walks and turns 180 degrees right: both combinations are held
out for the zero-shot split (`synth.holdout`), so training refuses them. Prints, for the first N clips of a corpus
seed, the train clips whose mirror image, changed details or twin would break a held-out rule, and which rules.

Run: `python bench/augmentation_hygiene.py [--clips 20000] [--seed 0]`.
"""

from __future__ import annotations

import argparse
from collections import Counter

from motionmill.synth.corpus import plan_clip
from motionmill.synth.holdout import detail_changes, heldout_rules, mirrored
from motionmill.synth.twins import changeable, twin_plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train = [p for p in (plan_clip(args.seed, i) for i in range(args.clips)) if p.split == "train"]
    refused = {"mirror image": Counter(), "changed detail": Counter()}
    for plan in train:
        refused["mirror image"].update(heldout_rules(mirrored(plan.segments)))
        refused["changed detail"].update({r for c in detail_changes(plan.segments) for r in heldout_rules(c)})
    mirror = sum(bool(heldout_rules(mirrored(p.segments))) for p in train)
    details = sum(any(heldout_rules(c) for c in detail_changes(p.segments)) for p in train)
    twins = sum(not twin_plan(p)[1] and any(map(changeable, p.segments)) for p in train)
    print(f"{len(train)} train clips of builtin:{args.clips}:{args.seed}")
    print(f"mirror image refused: {mirror} clips (rules {dict(refused['mirror image'])})")
    print(f"changed details refused: {details} clips (rules {dict(refused['changed detail'])})")
    print(f"twin refused: {twins} clips")


if __name__ == "__main__":
    main()
