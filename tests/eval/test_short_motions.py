"""What the suites compute per motion is defined for motions of 2 to 12 frames: the prompts suite's row (evaluator
distance and physics), the zero-shot suite's predicates and foot skating, and the evaluator embedding the protocol
uses: finite values, or None with the documented too-short reason."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motionmill.eval import benchmark
from motionmill.eval.alignment import alignment_clips, score_motion
from motionmill.motion.container import Motion

pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")


@pytest.fixture(scope="module")
def ground_truth():
    from motionmill.inference.evaluator import evaluator_from_spec

    clips = alignment_clips("test", 3, 0)
    return clips, [Motion.from_rotations(c.rotations, c.joints, c.plan.fps) for c in clips], \
        evaluator_from_spec("builtin")  # fmt: skip


class OneMotion:
    """A pipeline that returns a given motion."""

    name = "fixed"

    def __init__(self, motion):
        self.motion = motion

    def __call__(self, prompts, **kwargs):
        return [self.motion for _ in prompts]


short_crops = st.tuples(st.integers(0, 2), st.integers(0, 40), st.integers(2, 12))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(short_crops)
def test_a_prompt_row_of_a_short_motion_is_finite_or_marked(ground_truth, tmp_path, crop):
    clips, motions, evaluator = ground_truth
    which, start, length = crop
    start %= motions[which].num_frames - length + 1
    motion = motions[which].crop(start, start + length)
    row = benchmark._prompt_record(OneMotion(motion), evaluator, "a person walks", "000_a_person_walks", 0, None,
                                   tmp_path, None)  # fmt: skip
    assert row["status"] == "ok" and row["errors"] == {} and row["frames"] == length
    marked = row.get("too_short", {})
    assert set(marked) == ({"jitter_mm", "mean_jerk"} if length < 3 else {"mean_jerk"} if length < 4 else set())
    for name in ("text_motion_distance", "foot_skating_ratio", "penetration_mm", "floating_mm", "foot_sliding_mm",
                 "jitter_mm", "bone_length_drift_m", "mean_jerk", "duration"):  # fmt: skip
        value = row[name]
        assert (value is None) == (name in marked), (name, value)
        assert value is None or np.isfinite(value)
    clip = clips[which]
    scored = score_motion(clip.plan, motion.joints(), motion.fps)  # the zero-shot suite's predicates
    assert 0 <= scored["satisfied"] <= scored["total"]
    assert np.isfinite(evaluator.motion_embeddings([motion])).all()  # the protocol's per-motion embedding
