"""MediaPipe's landmarks on real photographs (scikit-image's) and on the rendered figure, checked against boxes
drawn by hand and against the joints the figure was posed with."""

import numpy as np
import pytest
from skimage import data

from motionmill.export.render import orbit_camera
from motionmill.synth.corpus import make_clip
from motionmill.video.figure import LOOKS, render_figure
from motionmill.video.pose import PoseEstimator


def landmarks(image: np.ndarray):
    with PoseEstimator() as estimate:
        pose = estimate(np.ascontiguousarray(image))
    assert pose is not None, "nobody found"
    return pose


def inside(points: np.ndarray, x0, y0, x1, y1) -> bool:
    return bool(((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)).all())


def test_the_astronaut_photograph():
    pose = landmarks(data.astronaut())  # 512 x 512, a head-and-shoulders portrait facing the camera
    assert inside(pose.image[0:11], 170, 80, 290, 175)  # eyes, ears, nose and mouth on her face
    assert inside(pose.image[[12]], 40, 180, 180, 320)  # her right shoulder, on the image's left
    assert inside(pose.image[[11]], 260, 200, 380, 320)


def test_the_cameraman_photograph():
    pose = landmarks(np.repeat(data.camera()[..., None], 3, axis=2))  # a man in profile behind a tripod
    assert inside(pose.image[[0]], 190, 100, 275, 190)  # nose on his face
    assert inside(pose.image[[12]], 60, 140, 170, 260)  # his right shoulder, nearest the viewer
    assert inside(pose.image[[23, 24]], 0, 260, 200, 420)  # hips inside his coat


@pytest.mark.parametrize("yaw", [20.0, 160.0])
def test_the_rendered_figure_is_found_where_it_stands(yaw):
    joints = make_clip(7, 3, captions=False).joints[40]
    camera = orbit_camera((0.0, 0.9, 0.0), (640, 480), yaw_deg=yaw, pitch_deg=10, distance=4.0, fov_deg=50)
    pose = landmarks(render_figure(joints, camera, LOOKS[1]))
    projected, _ = camera.project(joints)  # a crouching body about 130 pixels high
    # MediaPipe (hip, knee, ankle, shoulder, elbow, wrist) against the SMPL joints the figure was built on
    pairs = [(23, 1), (24, 2), (25, 4), (26, 5), (27, 7), (28, 8),
             (11, 16), (12, 17), (13, 18), (14, 19), (15, 20), (16, 21)]  # fmt: skip
    error = np.array([np.linalg.norm(pose.image[m] - projected[s]) for m, s in pairs])
    assert np.median(error) < 10 and error.max() < 40  # pixels; the wrist hidden behind the body is the worst
