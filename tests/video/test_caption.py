"""The offline captioner: invariant features, part segmentation, measured details, and captions of known plans."""

import numpy as np
import pytest

from motionmill.synth.actions import segment_seconds
from motionmill.synth.compose import compose
from motionmill.synth.corpus import make_clip
from motionmill.synth.plan import ClipPlan, Segment
from motionmill.video import caption as C
from motionmill.video.caption_fit import ACTION_LABELS, FitConfig, disturb, fit_action_classifier, recovered_clips
from motionmill.video.closed_loop import caption_agreement, split_indices


def planned(action: str, modifiers=(), seed=0) -> np.ndarray:
    """Joints of a one-segment clip of `action`, as long as the built-in corpus makes it."""
    rng = np.random.default_rng(seed)
    plan = ClipPlan(seed, 0, "test", (Segment(action, 0, segment_seconds(action, modifiers, rng), modifiers),))
    return compose(plan, rng).joints


def test_features_do_not_change_when_the_motion_is_turned_and_moved():
    joints = make_clip(7, 11, captions=False).joints
    a = np.radians(70)
    turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    moved = joints @ turn.T + np.array([3.0, 0.0, -2.0])
    np.testing.assert_allclose(C.motion_features(moved, 30), C.motion_features(joints, 30), atol=2e-4)


def test_features_name_the_bad_shape():
    with pytest.raises(ValueError, match=r"\(T>=2, 22, 3\)"):
        C.motion_features(np.zeros((10, 24, 3)), 30)


def test_a_flicker_is_merged_and_a_real_change_is_kept():
    probs = np.full((90, 3), 0.05)
    probs[:, 0] = 0.9
    probs[40:43] = [0.05, 0.9, 0.05]  # 0.1 s of another action: noise
    probs[60:, :] = [0.05, 0.05, 0.9]  # a real change at frame 60
    assert C.parts_from_probabilities(probs, 30) == [(0, 60, 0), (60, 90, 2)]
    # the Viterbi path is the exact optimum: a brute-force check over every single change point
    cost = C.SWITCH_COST
    logp = np.log(probs)
    best = max(range(1, 90), key=lambda k: logp[:k, 0].sum() + logp[k:, 2].sum() - cost)
    assert best == 60


def test_short_parts_go_to_the_neighbour_they_resemble():
    probs = np.full((60, 3), 0.01)
    probs[:30, 0] = 0.98
    probs[30:45, 1] = 0.6  # half a second of action 1, which also looks like action 2 that follows
    probs[30:45, 2] = 0.39
    probs[45:, 2] = 0.98
    assert C.parts_from_probabilities(probs, 30, switch_cost=0.1) == [(0, 30, 0), (30, 60, 2)]


def test_measured_details_of_known_plans():
    details = C.measure_part("walk", planned("walk", (("direction", "backward"),)), 30)
    assert details["direction"] == "backward" and details["distance"] > 1 and details["speed"] > 0.2
    assert C.measure_part("jump", planned("jump", (("reps", 3),)), 30)["count"] == 3
    assert C.measure_part("turn_in_place", planned("turn_in_place", (("turn", -90),)), 30)["turn"] == -90
    kick = C.measure_part("kick", planned("kick", (("side", "left"), ("reps", 2))), 30)
    assert kick["count"] == 2 and kick["side"] == "left"
    assert "count" not in C.measure_part("nod", planned("nod", (("reps", 3),)), 30)  # not counted reliably


def test_sentences_say_what_was_measured():
    text = C.phrase("walk", {"direction": "backward", "distance": 2.1, "speed": 0.8, "layer": "wave"})
    assert text == "walks backward about 2.1 m at 0.8 m/s, and waves at the same time"
    assert C.phrase("jump", {"count": 2, "period": 0.9}) == "jumps twice (one every 0.9 s)"
    assert C.phrase("turn_in_place", {"turn": 90}) == "turns on the spot about 90 degrees to the left"
    assert C.phrase("punch", {"side": "right", "count": 1, "period": 2}) == "punches with the right hand once"
    hops = "hops on the left foot three times (one every 0.6 s)"
    assert C.phrase("hop", {"side": "left", "count": 3, "period": 0.6}) == hops
    assert C.phrase("lunge", {"side": "left"}) == "lunges with the left leg"
    assert C.phrase("raise_arms", {"side": "both"}) == "raises both arms"


def test_the_shipped_captioner_on_clean_test_clips():
    rows, caption = [], None
    for index in split_indices("test", 25):
        clip = make_clip(7, index, captions=False)
        caption = C.caption_motion(clip.joints, clip.fps)
        rows += caption_agreement(clip.plan, caption, 0, len(clip.joints))
        assert caption.parts[0].start == 0 and caption.parts[-1].end == pytest.approx(len(clip.joints) / 30, abs=0.04)
        assert all(a.end == b.start for a, b in zip(caption.parts, caption.parts[1:], strict=False))
    assert np.mean([r["action"] == r["named"] for r in rows]) >= 0.75
    assert caption.captioner.startswith("offline:builtin:")
    texts = caption.texts()
    assert texts[0] == {"text": caption.text, "start": 0.0, "end": 0.0} and len(texts) == len(caption.parts) + 1
    assert caption.text.startswith("a person ") and all(p.text.startswith("a person ") for p in caption.parts)


def save_recovered(folder, index, start, frames):
    """A stand-in for a motion the closed loop recovered: the rendered clip's frames, disturbed, in its file format."""
    joints = disturb(make_clip(7, index, captions=False).joints[start : start + frames], np.random.default_rng(index))
    np.savez(folder / f"clip{index}-0-0.npz", joints=joints, start=start, fps=30.0, index=index, angle=0)


def test_recovered_clips_are_train_clips_labelled_from_their_first_frame(tmp_path):
    train, val = split_indices("train", 2), split_indices("val", 1)
    save_recovered(tmp_path, train[0], 10, 50)
    save_recovered(tmp_path, train[1], 0, 40)
    [(joints, truth, labels), _] = recovered_clips(tmp_path)
    clip = make_clip(7, train[0], captions=False)
    assert joints.shape == truth.shape == (50, 22, 3) and np.allclose(truth, clip.joints[10:60], atol=1e-6)
    first = next(s for s in clip.plan.segments if s.start <= 10 / 30 < s.end)
    assert labels.shape == (50, 4) and ACTION_LABELS[int(labels[0, 0])] == first.action
    reps = first.modifier("reps")
    assert np.isnan(labels[0, 2]) if reps is None else labels[0, 2] == pytest.approx(reps / first.duration)
    save_recovered(tmp_path, val[0], 0, 40)
    with pytest.raises(ValueError, match="val split, not train"):
        recovered_clips(tmp_path)


def test_fitting_learns_and_the_saved_classifier_gives_the_same_answers(tmp_path):
    for index in split_indices("train", 3):
        save_recovered(tmp_path, index, 0, 90)
    config = FitConfig(train_clips=120, val_clips=20, steps=60, eval_every=10, width=32, recovered=str(tmp_path))
    classifier = fit_action_classifier(config, progress=False)
    history = classifier.info["history"]
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]  # learning (the val accuracy of so short a fit is noise)
    loaded = C.ActionClassifier.load(classifier.save(tmp_path / "clf"))
    joints = disturb(make_clip(7, 5, captions=False).joints, np.random.default_rng(0))
    a, b = classifier.estimate(joints, 30), loaded.estimate(joints, 30)
    for field in ("actions", "layers", "rate", "sides"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), atol=1e-6)
    assert a.actions.shape == (len(joints), 47) and a.sides.shape == (len(joints), 3) and (a.rate >= 0).all()
    assert loaded.info["recipe"]["steps"] == 60


def test_a_missing_classifier_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no action classifier"):
        C.ActionClassifier.load(tmp_path)
