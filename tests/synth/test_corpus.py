"""The built-in corpus: determinism, splits, the zero-shot hold-out, and physical plausibility on a sample."""

import collections

import numpy as np
import pytest

from motionmill.motion.skeleton import SMPL22
from motionmill.synth.catalog import ACTIONS
from motionmill.synth.corpus import SPLITS, make_clip, plan_clip, split_of
from motionmill.synth.holdout import HELDOUT_LAYERINGS, HELDOUT_PAIRS, HELDOUT_SEQUENCES, heldout_rules
from motionmill.synth.report import TARGETS, plausibility


def test_same_seed_and_index_give_identical_bytes():
    a, b = make_clip(5, 17), make_clip(5, 17)
    assert a.plan == b.plan
    assert a.joints.tobytes() == b.joints.tobytes() and a.rotations.tobytes() == b.rotations.tobytes()
    assert [c.text for c in a.captions] == [c.text for c in b.captions]
    c = make_clip(5, 18)
    assert c.plan != a.plan
    d = make_clip(6, 17)
    assert d.plan != a.plan or d.joints.tobytes() != a.joints.tobytes()


def test_clip_shapes_and_motion_features():
    clip = make_clip(0, 3)
    T = len(clip.joints)
    assert clip.joints.shape == (T, 22, 3) and clip.rotations.shape == (T, 22, 3, 3) and clip.air.shape == (T,)
    assert abs(T - clip.plan.duration * clip.fps) <= len(clip.plan.segments)
    motion = clip.motion()
    assert motion.features.shape == (T, 272)
    assert np.allclose(motion.joints()[:, :, 1], clip.joints[:, :, 1], atol=1e-5)  # heights survive the encoding


def test_splits_are_pure_and_proportioned():
    counts = collections.Counter(split_of(1, i) for i in range(4000))
    for name, p in SPLITS.items():
        assert counts[name] / 4000 == pytest.approx(p, abs=0.02)
    assert all(plan_clip(1, i).split == split_of(1, i) for i in range(50))


def _pairs(seg):
    yield from ((seg.action, m) for m in seg.modifiers)
    if seg.layer:
        yield from ((seg.layer, m) for m in seg.layer_modifiers)


def test_train_never_sees_a_held_out_combination_but_sees_everything_else():
    seen = set()
    n = 0
    for i in range(4000):
        plan = plan_clip(0, i)
        if plan.split == "zeroshot":
            continue
        n += plan.split == "train"
        assert plan.holdout == ()
        for seg in plan.segments:
            assert (seg.action, seg.layer) not in HELDOUT_LAYERINGS
            for pair in _pairs(seg):
                assert pair not in HELDOUT_PAIRS
                seen.add(pair) if plan.split == "train" else None
        for a, b in zip(plan.segments, plan.segments[1:], strict=False):
            assert (a.action, b.action) not in HELDOUT_SEQUENCES
    assert n > 3000
    expected = {(a.name, (k, v)) for a in ACTIONS.values() for k in a.modifiers for v in a.values(k)}
    assert expected - seen == set(HELDOUT_PAIRS)


def test_zeroshot_plans_break_at_least_one_rule():
    rules = collections.Counter()
    for i in range(3000):
        plan = plan_clip(0, i)
        if plan.split != "zeroshot":
            continue
        assert plan.holdout, plan
        found = heldout_rules(plan.segments)
        assert set(found) <= set(plan.holdout) and (found or plan.holdout == ("phrasing",))
        rules.update(plan.holdout)
    assert set(rules) == {"action_modifier", "composition", "layering", "phrasing"}


def test_plausibility_on_a_sample_meets_the_targets():
    result = plausibility(seed=3, clips=100)
    for name, target in TARGETS.items():
        value = result[name]["max"] if name in ("bone_length_drift_m", "backward_bends") else result[name]["mean"]
        assert value <= target, (name, value)
    assert len(SMPL22.parents) == 22


def test_report_and_contact_sheet_commands(tmp_path, capsys):
    from PIL import Image

    from motionmill.cli import main

    assert main(["synth", "report", "--clips", "4", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "foot_skating_ratio" in out and "backward_bends" in out
    path = tmp_path / "sheet.png"
    assert main(["synth", "contact-sheet", str(path), "--clips", "2"]) == 0
    with Image.open(path) as image:
        assert image.size[0] > 1000 and image.size[1] > 200
