"""The video pipeline's geometry against independent constructions: translation from projections, the floor from
foot contacts, background shifts, tracks, rigid bones."""

import math

import numpy as np

from motionmill.motion.skeleton import SMPL22, bone_lengths
from motionmill.synth.corpus import make_clip
from motionmill.video.lift import fix_bone_lengths, smooth
from motionmill.video.pose import PoseFrame
from motionmill.video.track import split_tracks
from motionmill.video.trajectory import background_shift, camera_translation, to_ground_frame


def test_the_translation_that_explains_the_projections_is_recovered():
    rng = np.random.default_rng(0)
    body = rng.normal(scale=0.4, size=(5, 33, 3))  # hip-centred landmarks, camera axes (x right, y down, z forward)
    truth = np.array([[0.3, -0.2, 4.0], [-1.0, 0.1, 6.5], [0.0, 0.0, 3.0], [2.0, 0.5, 9.0], [-0.5, -0.5, 5.0]])
    focal, centre = 500.0, (320.0, 240.0)
    points = body + truth[:, None]
    pixels = focal * points[..., :2] / points[..., 2:] + centre
    found = camera_translation(body, pixels, np.ones((5, 33)), focal, centre)
    np.testing.assert_allclose(found, truth, atol=1e-6)


def _camera_view(joints: np.ndarray, pitch_deg: float, height: float) -> np.ndarray:
    """World joints (y up) as seen by a level-headed camera pitched down: camera axes x right, y down, z forward."""
    p = math.radians(pitch_deg)
    world_to_camera = np.array([[1, 0, 0], [0, -math.cos(p), math.sin(p)], [0, -math.sin(p), -math.cos(p)]])
    # rows: camera right, down and forward in world terms; forward looks along -z and down by the pitch
    return (joints - [0.0, height, 8.0]) @ world_to_camera.T


def test_the_floor_found_from_foot_contacts_puts_the_feet_back_on_it():
    walk = make_clip(7, 0, captions=False).joints  # steps across the floor, feet at y = 0 on contact
    seen = _camera_view(walk, pitch_deg=12.0, height=1.6)
    grounded, info = to_ground_frame(seen, fps=30.0)
    assert info["floor"] == "contacts"
    np.testing.assert_allclose(grounded[..., 1].min(), walk[..., 1].min(), atol=0.03)
    heights = grounded[:, 15, 1] - grounded[:, 0, 1]  # head above pelvis: only right if "up" is recovered
    np.testing.assert_allclose(heights, walk[:, 15, 1] - walk[:, 0, 1], atol=0.03)


def test_a_shifted_background_is_measured_and_the_person_box_ignored():
    rng = np.random.default_rng(1)
    scene = smooth(smooth(rng.random((140, 200)), 2.0).T, 2.0).T.astype(np.float32)  # textured, no sharp noise
    before, after = scene[20:110, 20:180], scene[17:107, 25:185]  # the camera moved: content shifts by (-5, +3)
    dx, dy = background_shift(before, after, None)
    assert abs(dx + 5) < 0.5 and abs(dy - 3) < 0.5
    still = before.copy()
    moved = before.copy()
    moved[30:70, 60:100] = np.roll(before[30:70, 60:100], 9, axis=1)  # only the "person" moved
    assert np.hypot(*background_shift(still, moved, (60, 30, 100, 70))) < 0.5


def _pose(x: float, torso: float = 100.0) -> PoseFrame:
    image = np.zeros((33, 2))
    image[:, 0] = x
    image[[23, 24], 1] = 300.0
    image[[11, 12], 1] = 300.0 - torso
    return PoseFrame(image, np.zeros(33), np.ones(33), np.zeros((33, 3)))


def test_tracks_bridge_short_gaps_and_split_at_long_gaps_and_jumps():
    poses = [_pose(100 + t) for t in range(10)] + [None] * 3 + [_pose(115 + t) for t in range(10)]
    poses += [None] * 20 + [_pose(200)] * 5  # lost for 20 frames: a new track
    poses += [_pose(600)] * 5  # the detector jumps to someone else: a new track
    poses += [_pose(600, torso=200)] * 5  # someone twice the size at the same place: a new track
    tracks = split_tracks(poses, first_frame=50, fps=30.0)
    assert [(t.start, t.end) for t in tracks] == [(50, 73), (93, 98), (98, 103), (103, 108)]
    first = tracks[0]
    assert first.detected.tolist() == [True] * 10 + [False] * 3 + [True] * 10
    np.testing.assert_allclose(first.image[10:13, 0, 0], [110.5, 112.0, 113.5])  # 109 to 115, bridged linearly
    assert (first.visibility[10:13] == 0).all()


def test_bones_get_their_median_length_and_keep_their_direction():
    joints = make_clip(7, 3, captions=False).joints
    noisy = joints * np.random.default_rng(2).uniform(0.9, 1.1, size=(len(joints), 1, 1))
    fixed = fix_bone_lengths(noisy)
    lengths = bone_lengths(fixed, SMPL22.parents)[:, 1:]
    np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], lengths.shape), rtol=1e-9)
    bone = noisy[:, 4] - noisy[:, 1]
    fixed_bone = fixed[:, 4] - fixed[:, 1]
    cosine = (bone * fixed_bone).sum(-1) / np.linalg.norm(bone, axis=-1) / np.linalg.norm(fixed_bone, axis=-1)
    np.testing.assert_allclose(cosine, 1.0, atol=1e-9)


def test_smoothing_leaves_a_straight_line_alone():
    line = np.linspace(0, 3, 50)[:, None] * [1.0, -2.0]
    np.testing.assert_allclose(smooth(line, 3.0)[5:-5], line[5:-5], atol=1e-9)


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_the_landmark_regressor_learns_a_body_frame_map_and_is_view_independent(tmp_path):
    from motionmill.video.lift import LandmarkRegressor

    rng = np.random.default_rng(3)
    world = rng.normal(scale=0.3, size=(400, 33, 3))
    world[:, [23, 24]] = [[0.1, 0, 0], [-0.1, 0, 0]]  # hips on x, shoulders above: the body frame is the world's
    world[:, [11, 12]] = [[0.2, 0.5, 0], [-0.2, 0.5, 0]]
    world[:, [23, 24, 11, 12]] += rng.normal(scale=0.002, size=(400, 4, 3))
    mix = rng.normal(size=(33, 22)) / 33
    joints = np.einsum("nlk,lj->njk", world, mix)  # each joint a fixed mixture of landmarks
    joints[:, 2] = joints[:, 1] - [0.3, 0, 0]  # the right hip to the right of the left one
    joints[:, [16, 17]] = joints[:, [1, 2]] + [0, 0.5, 0]
    model = LandmarkRegressor.fit(world, joints, ridge=1e-6)

    def from_hips(j):  # the regressor places the joints' hip midpoint on the landmarks'
        return j - 0.5 * (j[:, 1:2] + j[:, 2:3])

    np.testing.assert_allclose(from_hips(model(world)), from_hips(joints), atol=0.025)  # the joints are ~0.3 m
    turn = _rotation(4)
    np.testing.assert_allclose(model(world @ turn.T + [1.0, 2.0, 3.0]), model(world) @ turn.T + [1.0, 2.0, 3.0],
                               atol=1e-9)  # fmt: skip
    again = LandmarkRegressor.load(model.save(tmp_path / "regressor"))
    np.testing.assert_allclose(again(world), model(world), atol=1e-5)
    assert again.info["ridge"] == 1e-6 and again.info["pairs"] == 400
