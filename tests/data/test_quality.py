"""Quality filters: a smooth FK motion passes every filter, and one broken motion per filter fails exactly there."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from motion_factory import random_motion
from motionmill.data.quality import FILTERS, ClipView, QualityConfig, assess, view_of
from motionmill.data.sources import Sample
from motionmill.motion.container import Motion
from motionmill.motion.skeleton import SMPL22

CAPTION = ({"text": "a person walks and turns", "start": 0.0, "end": 0.0},)
CFG = QualityConfig()


@pytest.fixture(scope="module")
def good() -> ClipView:
    rotations, joints = random_motion(0, frames=60, turns=0.25)
    return view_of(Sample("test/good", Motion.from_rotations(rotations, joints), list(CAPTION)))


def edited(clip: ClipView, **changes) -> ClipView:
    return dataclasses.replace(clip, **changes)


def failed(clip: ClipView, cfg: QualityConfig = CFG) -> set[str]:
    return {name for name, _, _ in assess(clip, cfg)[1]}


def test_good_motion_passes_every_filter(good):
    scores, failures = assess(good, CFG)
    assert failures == []
    assert set(scores) == {"non_finite", *FILTERS}


def test_sample_and_view_give_the_same_scores(good):
    sample = Sample("test/good", Motion(good.features), list(CAPTION))
    assert assess(sample, CFG)[0] == assess(good, CFG)[0]


def test_non_finite_features_fail_alone(good):
    features = good.features.copy()
    features[5, 10] = np.nan
    scores, failures = assess(edited(good, features=features, joints=None), CFG)
    assert [f[:2] for f in failures] == [("non_finite", 1.0)]
    assert set(scores) == {"non_finite"}


@pytest.mark.parametrize("frames, fps, ok", [(20, 30.0, False), (30, 30.0, True), (59, 60.0, True), (40, 60.0, False)])
def test_length_in_frames_at_30_fps(good, frames, fps, ok):
    clip = edited(good, features=good.features[:frames], joints=good.joints[:frames], fps=fps)
    assert ("length" not in failed(clip)) == ok


def test_length_upper_bound(good):
    assert "length" in failed(good, dataclasses.replace(CFG, max_frames=50))


def test_jitter_catches_a_one_frame_glitch(good):
    joints = good.joints.copy()
    joints[30, 20] += [0.0, 0.8, 0.0]  # the left wrist jumps 80 cm for one frame (which also stretches a bone)
    scores, failures = assess(edited(good, joints=joints), CFG)
    assert failures[0][0] == "jitter"
    assert scores["jitter"] == pytest.approx(2 * 0.8 * 30**2, rel=0.05)


def test_foot_skating_catches_sliding_feet(good):
    joints = good.joints.copy()
    t = np.arange(len(joints)) / good.fps
    joints[:, 10:12, 1] = 0.0  # both feet on the floor ...
    joints[:, 10:12, 0] = 2.0 * t[:, None]  # ... sliding at 2 m/s
    assert "foot_skating" in failed(edited(good, joints=joints))


def test_penetration_and_floating(good):
    sunk, lifted = good.joints - [0.0, 0.2, 0.0], good.joints + [0.0, 0.5, 0.0]
    assert "penetration" in failed(edited(good, joints=sunk))  # (sunk feet are also in contact, so skate)
    assert failed(edited(good, joints=lifted)) == {"floating"}


def test_bone_drift_catches_a_stretching_forearm(good):
    joints = good.joints.copy()
    stretch = np.linspace(1.0, 1.5, len(joints))[:, None]
    joints[:, 21] = joints[:, 19] + (joints[:, 21] - joints[:, 19]) * stretch
    scores, failures = assess(edited(good, joints=joints), CFG)
    assert {f[0] for f in failures} == {"bone_drift"}
    forearm = np.linalg.norm(SMPL22.offsets[21])
    assert scores["bone_drift"] == pytest.approx(0.5 * forearm, rel=0.05)


def test_static_clip(good):
    frozen = np.repeat(good.joints[:1], len(good.joints), axis=0)
    assert failed(edited(good, joints=frozen)) == {"static"}


def test_root_teleport(good):
    joints = good.joints.copy()
    joints[30:] += [1.0, 0.0, 0.0]  # the whole body jumps 1 m sideways between two frames
    scores, failures = assess(edited(good, joints=joints), CFG)
    assert "teleport" in {f[0] for f in failures}
    assert scores["teleport"] > 25


@pytest.mark.parametrize("texts", [(), ({"text": "  ", "start": 0.0, "end": 0.0},), CAPTION + ({"text": ""},)])
def test_missing_or_empty_captions(good, texts):
    clip = edited(good, texts=texts)
    assert failed(clip) == {"captions"}
    assert failed(clip, dataclasses.replace(CFG, require_captions=False)) == set()


def test_failures_carry_value_and_reason(good):
    _, failures = assess(edited(good, texts=()), CFG)
    assert failures == [("captions", 0.0, "no captions")]


BAD_CONFIGS = [("max_acceleration", -1.0), ("min_range_of_motion", float("nan")), ("min_frames", 1),
               ("max_frames", 10), ("require_captions", "yes")]  # fmt: skip


@pytest.mark.parametrize("field, value", BAD_CONFIGS)
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        QualityConfig(**{field: value})
