"""Every physics measure and per-motion metric helper is defined for any motion of 2 to 12 frames: a finite value,
or NaN exactly where the motion is too short for the measure (`physics.too_short`), never an exception."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from motionmill.eval import metrics
from motionmill.motion import physics
from motionmill.motion.skeleton import SMPL22

coordinates = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False, width=32)
frames = st.integers(2, 12)
fps = st.sampled_from([1.0, 7.5, 20.0, 30.0, 60.0, 120.0])


@st.composite
def motions(draw, joints: int = 22):
    t = draw(frames)
    return draw(arrays(np.float64, (t, joints, 3), elements=coordinates))


def _finite_or_marked(report: dict, marked: dict) -> None:
    for name, value in report.items():
        assert isinstance(value, float)
        assert np.isnan(value) == (name in marked), (name, value, marked)
        assert name in marked or np.isfinite(value)


@settings(max_examples=150, deadline=None)
@given(motions(), fps)
def test_physics_report_is_finite_or_marked_too_short(joints, rate):
    report = physics.physics_report(joints, rate)
    _finite_or_marked(report, {k: v for k, v in physics.too_short(len(joints)).items() if k in report})
    assert 0.0 <= report["foot_skating_ratio"] <= 1.0
    assert report["penetration_mm"] >= 0 and report["floating_mm"] >= 0 and report["foot_sliding_mm"] >= 0


@settings(max_examples=150, deadline=None)
@given(motions(), fps, st.lists(st.floats(0.0, 1.0), min_size=1, max_size=3))
def test_transition_measures_are_finite_or_marked_too_short(joints, rate, fractions):
    end = (len(joints) - 1) / rate
    transitions = [f * end for f in fractions]  # anywhere in the clip
    out = physics.transition_jerk(joints, rate, transitions)
    assert set(out) == {"peak_jerk", "area_under_jerk"}
    if len(joints) < 4:
        assert np.isnan(out["peak_jerk"]) and np.isnan(out["area_under_jerk"])
    else:  # NaN only when no jerk sample lies within a window of any transition
        times = (np.arange(len(joints) - 3) + 1.5) / rate
        reached = any((np.abs(times - s) <= 0.25).any() for s in transitions)
        assert np.isfinite(out["peak_jerk"]) == reached == np.isfinite(out["area_under_jerk"])
    report = physics.physics_report(joints, rate, transitions=transitions)
    assert np.isnan(report["peak_jerk"]) == np.isnan(out["peak_jerk"])


@settings(max_examples=150, deadline=None)
@given(motions(), fps)
def test_each_physics_function_is_defined_for_short_motions(joints, rate):
    t = len(joints)
    for value in (physics.foot_skating_ratio(joints, rate), physics.penetration(joints), physics.floating(joints),
                  physics.foot_sliding(joints)):  # fmt: skip
        assert np.isfinite(value)
    assert np.isnan(physics.jitter(joints)) == (t < 3)
    assert physics.jerk(joints, rate).shape == (max(t - 3, 0),) and np.isfinite(physics.jerk(joints, rate)).all()
    drift = physics.bone_length_drift(joints, SMPL22.parents)
    assert drift.shape == (22,) and np.isfinite(drift).all()


@settings(max_examples=150, deadline=None)
@given(st.data(), fps)
def test_per_motion_metric_helpers_are_finite_or_marked_too_short(data, rate):
    pred = data.draw(motions())
    target = data.draw(arrays(np.float64, pred.shape, elements=coordinates))
    assert np.isfinite(metrics.mpjpe(pred, target))
    error = metrics.acceleration_error(pred, target, rate)
    assert np.isnan(error) == (len(pred) < 3) and (len(pred) < 3 or np.isfinite(error))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 12), st.integers(1, 7))
def test_moving_average_keeps_the_length_of_any_signal(length, width):
    x = np.arange(length * 2, dtype=np.float64).reshape(length, 2)
    smooth = physics._moving_average(x, width)
    assert smooth.shape == x.shape
    half = (width - 1) // 2
    for t in range(length):  # the mean of the window shrunk to the signal
        lo, hi = max(t - half, 0), min(t + width // 2 + 1, length)
        assert np.allclose(smooth[t], x[lo:hi].mean(axis=0))
