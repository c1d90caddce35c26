"""The plan-derived text-alignment score: true motions satisfy their captions' predicates, others do not."""

import numpy as np
import pytest

from motionmill.synth.corpus import make_clip
from motionmill.synth.expectations import expected_predicates, score_motion
from motionmill.synth.plan import ClipPlan, Segment


@pytest.fixture(scope="module")
def clips():
    out = [make_clip(0, i, captions=False) for i in range(150)]
    return [(c.plan, c.motion().joints()) for c in out]


def _fraction(pairs) -> float:
    results = [score_motion(plan, joints, 30.0) for plan, joints in pairs]
    return sum(r["satisfied"] for r in results) / sum(r["total"] for r in results)


def test_true_motions_satisfy_their_captions(clips):
    assert _fraction(clips) >= 0.95


def test_mismatched_motions_do_not(clips):
    shuffled = [(plan, clips[(i + 7) % len(clips)][1]) for i, (plan, _) in enumerate(clips)]
    assert _fraction(shuffled) <= 0.3


def test_segments_are_judged_on_their_share_of_a_slower_motion(clips):
    stretched = []
    for plan, joints in clips[:40]:
        t = np.linspace(0, len(joints) - 1, int(len(joints) * 1.4))  # the same motion played 1.4x slower
        lo = np.floor(t).astype(int)
        hi, w = np.minimum(lo + 1, len(joints) - 1), (t - lo)[:, None, None]
        stretched.append((plan, joints[lo] * (1 - w) + joints[hi] * w))
    assert _fraction(stretched) >= 0.85


def test_rules_follow_the_words():
    plan = ClipPlan(seed=0, index=0, split="test", segments=(
        Segment("walk", 0.0, 3.0, (("direction", "backward"),), layer="wave", layer_modifiers=(("side", "left"),)),
        Segment("jump", 3.0, 5.0, (("reps", 2),)),
        Segment("look_around", 5.0, 7.0),
    ))  # fmt: skip
    expected = {(seg.action, p.name, p.expected) for seg, preds in expected_predicates(plan) for p in preds}
    assert expected == {("walk", "displacement_direction", "backward"), ("walk", "waving_hand", "left"),
                        ("jump", "count_jumps", 2)}  # fmt: skip
