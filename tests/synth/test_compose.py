"""Composition: smooth transitions with the heading carried over, and upper-body layering on gaits."""

import numpy as np

from motionmill.synth.compose import compose_segments
from motionmill.synth.corpus import make_clip
from motionmill.synth.plan import Segment
from motionmill.synth.pose import UPPER, channel

FPS = 30.0


def test_transitions_have_no_pops():
    checked = 0
    for i in range(150):
        clip = make_clip(11, i, captions=False)
        if len(clip.plan.segments) < 2:
            continue
        step = np.linalg.norm(np.diff(clip.joints, axis=0), axis=-1)  # (T-1, J) metres per frame
        assert step[:, 0].max() < 0.25  # root under 7.5 m/s (a fast run while turning)
        for seg in clip.plan.segments[1:]:
            b = round(seg.start * FPS)
            near = step[max(0, b - 3) : b + 3]  # the frames around the boundary
            before = step[max(0, b - 30) : max(1, b - 3)]
            assert near.max() <= max(before.max() * 1.5, 0.05), (i, seg.action)  # no spike at the join
            checked += 1
    assert checked > 50


def test_next_segment_starts_where_and_facing_where_the_previous_ended():
    segs = (Segment("walk", 0.0, 3.0, (("turn", 90),)), Segment("walk", 3.0, 6.0))
    k = compose_segments(segs, FPS, np.random.default_rng(0))
    yaw = k.params[:, channel("yaw")]
    assert abs(yaw[89] - 90) < 1 and abs(yaw[-1] - 90) < 1  # second walk keeps the new heading
    travel = k.root[-1] - k.root[90]
    assert travel[0] > 0.8 and abs(travel[2]) < 0.3  # ...so it walks towards +X (the character's new front)
    rate = np.abs(np.diff(k.params, axis=0)).max(axis=1)  # (T-1,) degrees per frame
    assert rate[80:100].max() <= rate.max()  # the boundary is no faster than the gait itself
    assert np.abs(k.root[91] - 2 * k.root[90] + k.root[89]).max() < 0.01  # nor is the root


def test_layer_replaces_arms_and_keeps_legs():
    walk = Segment("walk", 0.0, 4.0)
    waving = Segment("walk", 0.0, 4.0, layer="wave", layer_modifiers=(("side", "right"),))
    a = compose_segments((walk,), FPS, np.random.default_rng(3))
    b = compose_segments((waving,), FPS, np.random.default_rng(3))
    assert np.array_equal(a.params[:, ~UPPER], b.params[:, ~UPPER])  # gait untouched
    mid = slice(30, 90)
    assert (b.joints[mid, 21, 1] > b.joints[mid, 15, 1] - 0.1).all()  # right hand up by the head
    assert (a.joints[mid, 21, 1] < a.joints[mid, 0, 1]).all()  # hand hanging while just walking
    assert np.allclose(a.root, b.root, atol=1e-9)  # same feet, same path
