"""Every catalogue action: finite, rigid, anatomical, grounded motion whose modifiers do what they say."""

import numpy as np
import pytest

from motionmill.motion.skeleton import SMPL22, bone_lengths
from motionmill.synth.actions import segment_seconds
from motionmill.synth.catalog import ACTIONS
from motionmill.synth.compose import compose_segments
from motionmill.synth.plan import Segment
from motionmill.synth.report import backward_bends

FPS = 30.0
REST_BONES = bone_lengths(np.asarray(SMPL22.rest_joints), SMPL22.parents)


def run(action, seconds=None, seed=0, **modifiers):
    rng = np.random.default_rng(seed)
    mods = tuple(modifiers.items())
    seconds = seconds or segment_seconds(action, mods, rng)
    return compose_segments((Segment(action, 0.0, seconds, mods),), FPS, rng)


def heading(joints):
    """(T,) facing angle in degrees from the hips' across vector (0 = +Z, positive = turned left)."""
    across = joints[:, 2] - joints[:, 1]  # right hip minus left hip
    forward = np.stack((-across[:, 2], across[:, 0]), axis=-1)  # (x, z) = Y x across
    return np.degrees(np.unwrap(np.arctan2(forward[:, 0], forward[:, 1])))


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_action_is_finite_rigid_anatomical_and_grounded(action):
    k = run(action)
    j = k.joints
    assert np.isfinite(j).all() and np.isfinite(k.rotations).all()
    assert np.abs(bone_lengths(j, SMPL22.parents) - REST_BONES).max() < 1e-6
    assert backward_bends(k.rotations) == 0
    grounded = k.air <= 0
    low = j[grounded][..., 1].min(axis=1)
    assert np.abs(low).max() < 1e-9  # the lowest joint is on the floor, neither under nor above it
    feet = j[grounded][:, [7, 8, 10, 11], 1].min(axis=1)
    assert feet.max() < 1e-9  # ...and that joint is a foot
    assert (k.air > 0).any() == (action in ("jump", "hop", "skip", "jumping_jack"))


@pytest.mark.parametrize(("action", "direction", "axis", "sign"), [
    ("walk", "forward", 2, 1), ("walk", "backward", 2, -1), ("walk", "left", 0, 1), ("walk", "right", 0, -1),
    ("jog", "forward", 2, 1), ("march", "backward", 2, -1), ("sneak", "right", 0, -1),
    ("side_step", "left", 0, 1), ("side_step", "right", 0, -1), ("jump", "forward", 2, 1), ("jump", "right", 0, -1),
])  # fmt: skip
def test_travel_follows_direction(action, direction, axis, sign):
    j = run(action, direction=direction).joints
    travel = j[-1, 0, [0, 2]] - j[0, 0, [0, 2]]
    main = travel[0 if axis == 0 else 1] * sign
    assert main > 0.3 and main > 3 * abs(travel[1 if axis == 0 else 0])


@pytest.mark.parametrize("action", ["walk", "jog", "run", "turn_in_place", "spin"])
@pytest.mark.parametrize("turn", [-180, -90, 90, 180])
def test_turn_changes_heading(action, turn):
    h = heading(run(action, turn=turn).joints)
    assert h[-1] - h[0] == pytest.approx(turn, abs=12)


def test_unturned_walk_keeps_heading_and_does_not_slide():
    from motionmill.motion.physics import foot_skating_ratio

    j = run("walk", seconds=5.0).joints
    assert abs(heading(j)[-1] - heading(j)[0]) < 3
    assert foot_skating_ratio(j, FPS) < 0.12


def count_dips(y, depth):
    """Number of separate excursions of y more than `depth` below its first value."""
    low = y < y[0] - depth
    return int(low[0]) + int((low[1:] & ~low[:-1]).sum())


@pytest.mark.parametrize("reps", [1, 2, 3, 4])
def test_reps_count(reps):
    assert count_dips(run("squat", reps=reps).joints[:, 0, 1], 0.2) == reps
    k = run("jump", reps=reps)
    flying = k.air > 0
    assert int(flying[0]) + int((flying[1:] & ~flying[:-1]).sum()) == reps
    j = run("punch", side="right", reps=reps).joints
    reach = j[:, 21, 2] - j[:, 0, 2]  # right wrist ahead of the pelvis
    assert count_dips(reach.max() - reach, reach.max() - 0.15) == reps  # runs within 15 cm of full extension


def test_side_chooses_the_limb():
    for side, limb, other in (("left", 10, 11), ("right", 11, 10)):
        j = run("kick", side=side).joints
        assert j[:, limb, 1].max() > 0.5 > j[:, other, 1].max()
        j = run("wave", side=side).joints
        assert j[:, limb + 10, 1].max() > j[:, 15, 1].max() > j[:, other + 10, 1].max()


def test_speed_amplitude_and_style_show():
    def speed(**m):
        j = run("walk", seconds=5.0, **m).joints
        return np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]]) / 5.0

    assert speed(speed="fast") > 1.4 * speed() > 1.4**2 * speed(speed="slow")
    assert (
        run("squat", reps=2, amplitude="big").joints[:, 0, 1].min()
        < run("squat", reps=2, amplitude="small").joints[:, 0, 1].min() - 0.15
    )
    normal, tired = run("walk", seconds=4.0).joints, run("walk", seconds=4.0, style="tired").joints
    assert tired[60:, 15, 1].mean() < normal[60:, 15, 1].mean() - 0.03  # slumped: the head hangs lower
    cautious = run("walk", seconds=4.0, style="cautious").joints
    assert cautious[60:, 0, 1].mean() < normal[60:, 0, 1].mean() - 0.04  # crouched
    assert speed(style="cautious") < 0.6 * speed()
    assert speed(style="energetic") > 1.2 * speed()


def test_different_rng_gives_different_motion():
    assert not np.allclose(run("walk", seconds=3.0, seed=0).joints, run("walk", seconds=3.0, seed=1).joints)


def test_knees_and_elbows_bend_only_forward_in_corpus_clips():
    import torch

    from motionmill.motion.skeleton import forward_kinematics
    from motionmill.synth.corpus import make_clip

    for i in range(60):
        clip = make_clip(2, i, captions=False)
        assert backward_bends(clip.rotations) == 0
        R = torch.from_numpy(clip.rotations)
        pos, glob = forward_kinematics(R, torch.zeros(len(R), 3, dtype=R.dtype),
                                       torch.from_numpy(SMPL22.offsets), SMPL22.parents)  # fmt: skip
        pos, glob = pos.numpy(), glob.numpy()
        # (joint, child, parent, flexion axis column of the joint's frame, axis sign)
        for joint, child, parent, col, sign in ((4, 7, 1, 0, 1), (5, 8, 2, 0, 1), (18, 20, 16, 1, -1),
                                                (19, 21, 17, 1, 1)):  # fmt: skip
            upper = pos[:, joint] - pos[:, parent]
            lower = pos[:, child] - pos[:, joint]
            bend = np.einsum("ti,ti->t", np.cross(upper, lower), sign * glob[:, parent, :, col])
            assert bend.min() > -1e-9, (i, joint)
