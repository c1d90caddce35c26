"""Twins of built-in clips: one named detail changed per segment, everything else kept, judged by the predicates."""

import numpy as np

from motionmill.motion.container import Motion
from motionmill.synth.catalog import ACTIONS
from motionmill.synth.corpus import make_clip, plan_clip
from motionmill.synth.expectations import score_motion
from motionmill.synth.holdout import heldout_rules
from motionmill.synth.plan import ClipPlan, Segment
from motionmill.synth.twins import segment_frames, twin_motion, twin_plan

CLIPS = range(120)


def _details(seg: Segment) -> dict:
    return {**{f"a.{k}": v for k, v in seg.modifiers}, "layer": seg.layer,
            **{f"l.{k}": v for k, v in seg.layer_modifiers}}  # fmt: skip


def test_one_named_detail_changes_per_segment_and_nothing_else():
    seen = set()
    for i in CLIPS:
        plan = plan_clip(0, i)
        twin, changed = twin_plan(plan)
        assert twin_plan(plan) == (twin, changed)  # deterministic
        assert (twin.seed, twin.index, twin.split, twin.holdout) == (plan.seed, plan.index, plan.split, plan.holdout)
        if not changed:  # nothing to change, or a twin that would break a held-out rule
            assert twin == plan
            continue
        for k, (old, new) in enumerate(zip(plan.segments, twin.segments, strict=True)):
            assert new.action == old.action
            before, after = _details(old), _details(new)
            diff = {key for key in before if before[key] != after.get(key)}
            if k not in changed:
                assert not diff and abs(new.duration - old.duration) < 1e-3
                assert not old.modifiers or all(len(ACTIONS[old.action].values(m)) == 1 for m, _ in old.modifiers)
                continue
            if new.layer is None and old.layer is not None:  # the layered action was dropped
                assert diff == {"layer"} | {key for key in before if key.startswith("l.")}
                continue
            assert len(diff) == 1 and set(after) == set(before)  # one value changed, no modifier added or removed
            key = diff.pop()
            seen.add(key.split(".")[1])
            if key.endswith("turn"):  # same side, the other size
                assert np.sign(after[key]) == np.sign(before[key]) and {abs(after[key]), abs(before[key])} == {90, 180}
        starts = [s.start for s in twin.segments]
        assert starts[0] == 0 and np.allclose(starts[1:], [s.end for s in twin.segments[:-1]], atol=1e-4)
    assert {"reps", "side", "speed"} <= seen


def test_a_plan_without_named_details_has_no_twin():
    plan = ClipPlan(0, 0, "train", (Segment("stand", 0.0, 2.0), Segment("walk", 2.0, 5.0)))
    assert twin_plan(plan) == (plan, ())


def test_more_repetitions_take_longer():
    longer = shorter = 0
    for i in range(200):
        plan = plan_clip(0, i)
        twin, changed = twin_plan(plan)
        for k in changed:
            old, new = plan.segments[k].modifier("reps"), twin.segments[k].modifier("reps")
            if old != new and ACTIONS[plan.segments[k].action].category != "locomotion":
                grows = twin.segments[k].duration > plan.segments[k].duration
                longer += grows == (new > old)
                shorter += grows != (new > old)
    assert longer >= 5 and shorter == 0


def test_twin_motion_fits_its_plan_and_not_the_clips():
    own, on_clip_plan = np.zeros(2), np.zeros(2)  # predicates satisfied, predicates judged
    for i in CLIPS:
        twin = twin_motion(0, i)
        plan = plan_clip(0, i)
        if twin is None:
            assert not twin_plan(plan)[1]
            continue
        clip = make_clip(0, i, captions=False)
        new_plan, changed = twin_plan(plan)
        assert twin.clip_bounds[-1] == len(clip.joints) and twin.twin_bounds[-1] == len(twin.features)
        np.testing.assert_array_equal(twin.clip_bounds, segment_frames(plan))
        for k in range(len(plan.segments)):  # the window of a segment maps onto the same segment of the twin
            window = twin.window(twin.clip_bounds[k], twin.clip_bounds[k + 1])
            assert window == (twin.twin_bounds[k], twin.twin_bounds[k + 1])
            assert twin.changed[slice(*window)].all() == (k in changed)
        joints = Motion(twin.features).joints()
        mine, theirs = score_motion(new_plan, joints, 30.0), score_motion(plan, joints, 30.0)
        own += [mine["satisfied"], mine["total"]]
        on_clip_plan += [theirs["satisfied"], theirs["total"]]
    assert own[1] > 40 and own[0] / own[1] > 0.95
    assert on_clip_plan[0] / on_clip_plan[1] < 0.8  # the twin breaks claims of the clip's captions


def test_a_twin_that_would_break_a_heldout_rule_is_not_made():
    """A walk turning 90 degrees right has one detail to change; its twin would turn 180 degrees right, a
    combination held out for the zero-shot split, so training never sees it."""
    plan = ClipPlan(0, 0, "train", (Segment("walk", 0.0, 4.0, (("turn", -90),)),))
    assert heldout_rules([Segment("walk", 0.0, 4.0, (("turn", -180),))])
    assert twin_plan(plan) == (plan, ())
    left = ClipPlan(0, 0, "train", (Segment("walk", 0.0, 4.0, (("turn", 90),)),))
    assert twin_plan(left)[0].segments[0].modifiers == (("turn", 180),)
