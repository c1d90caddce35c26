"""Tests for the Pillow skeleton renderer and its GIF / MP4 writers: frame counts, timing, framing, colours, errors."""

from __future__ import annotations

import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from motionmill.export.render import (
    LEFT_COLOR,
    RIGHT_COLOR,
    orbit_camera,
    render_frames,
    render_image,
    write_gif,
    write_mp4,
)
from motionmill.motion.rotations import axis_angle_to_matrix
from motionmill.motion.skeleton import SMPL22, forward_kinematics


def walk(frames: int = 30, fps: float = 30.0, distance: float = 0.0) -> np.ndarray:
    """(T, 22, 3) joints: arms down, limbs swinging at 1 Hz, feet on y = 0, root moving `distance` m along +Z."""
    phase = 2 * np.pi * np.arange(frames) / fps
    aa = np.zeros((frames, 22, 3))
    for name, sign in (("L", 1.0), ("R", -1.0)):
        aa[:, SMPL22.index(f"{name}_Hip"), 0] = sign * 0.45 * np.sin(phase)
        aa[:, SMPL22.index(f"{name}_Knee"), 0] = 0.5 * np.clip(sign * np.sin(phase + 1.2), 0, None)
        aa[:, SMPL22.index(f"{name}_Shoulder"), 2] = -sign * 1.2  # arms down from the T-pose
        aa[:, SMPL22.index(f"{name}_Shoulder"), 0] = -sign * 0.4 * np.sin(phase)
    rest = np.asarray(SMPL22.rest_joints)
    root = np.zeros((frames, 3))
    root[:, 1] = rest[0, 1] - rest[:, 1].min()
    root[:, 2] = np.linspace(0.0, distance, frames)
    rotations = torch.from_numpy(axis_angle_to_matrix(aa))
    joints, _ = forward_kinematics(rotations, torch.from_numpy(root), torch.from_numpy(SMPL22.offsets), SMPL22.parents)
    return joints.numpy()


def gif_timing(path) -> tuple[int, list[int], tuple[int, int]]:
    with Image.open(path) as im:
        durations = []
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info["duration"])
        return im.n_frames, durations, im.size


def color_mask(image, color, tol: int = 60) -> np.ndarray:
    """(H, W) pixels within `tol` (per channel) of `color`."""
    return (np.abs(np.asarray(image, dtype=int) - np.array(color)) <= tol).all(axis=-1)


def figure_mask(image) -> np.ndarray:
    """(H, W) saturated pixels: the coloured limbs. Sky, floor, grid and shadow are all near-grey."""
    rgb = np.asarray(image, dtype=int)
    return rgb.max(axis=-1) - rgb.min(axis=-1) > 60


def test_gif_has_every_frame_and_the_motion_duration(tmp_path):
    joints = walk(45, fps=30.0)
    out = write_gif(joints, tmp_path / "walk.gif", fps=30, size=(96, 80), caption="a person walks")
    n_frames, durations, size = gif_timing(out)
    assert (n_frames, size) == (45, (96, 80))
    assert all(d % 10 == 0 for d in durations)  # GIF delays are centiseconds
    assert sum(durations) == pytest.approx(45 / 30 * 1000, rel=0.05)
    assert sorted(set(durations)) == [30, 40]  # 33.3 ms frames, alternating so the total stays right
    assert [p.name for p in tmp_path.iterdir()] == ["walk.gif"]  # the temporary file was renamed away


def test_gif_subsamples_high_frame_rates(tmp_path):
    joints = walk(40, fps=60.0)
    n_frames, durations, _ = gif_timing(write_gif(joints, tmp_path / "fast.gif", fps=60, size=(64, 64)))
    assert n_frames == 20  # every 2nd frame: browsers slow down delays below 20 ms
    assert min(durations) >= 20
    assert sum(durations) == pytest.approx(40 / 60 * 1000, rel=0.05)


def test_frames_differ_between_poses_and_use_the_side_colours():
    joints = walk(16)
    first, later = render_frames(joints, size=(128, 128), indices=[0, 8], counter=False)
    assert first.size == (128, 128) and first.mode == "RGB"
    changed = (np.abs(np.asarray(first, dtype=int) - np.asarray(later, dtype=int)).sum(-1) > 30).sum()
    assert changed > 100
    for image in (first, later):
        assert color_mask(image, LEFT_COLOR).sum() > 30
        assert color_mask(image, RIGHT_COLOR).sum() > 30


def test_left_side_appears_on_the_viewers_right_from_the_front():
    pose = walk(1)[0]
    camera = orbit_camera((0.0, 0.9, 0.0), (128, 128), yaw_deg=0.0, pitch_deg=5.0)  # straight in front, facing us
    image = render_image(pose, camera)
    left_x = np.nonzero(color_mask(image, LEFT_COLOR))[1].mean()
    right_x = np.nonzero(color_mask(image, RIGHT_COLOR))[1].mean()
    assert left_x > 64 > right_x


def test_a_figure_walking_five_metres_stays_in_frame():
    joints = walk(60, distance=5.0)
    frames = render_frames(joints, size=(96, 96), indices=[0, 30, 59], counter=False)
    for image in frames:
        ys, xs = np.nonzero(figure_mask(image))
        assert len(xs) > 40
        assert 24 < xs.mean() < 72 and 16 < ys.mean() < 80  # roughly centred, not drifting off an edge


def test_caption_is_drawn_at_the_top():
    pose = walk(1)
    plain, captioned = (
        np.asarray(render_frames(pose, size=(128, 128), caption=c, counter=False)[0], dtype=int)
        for c in (None, "a person raises both arms above the head and waves")
    )
    assert (np.abs(plain - captioned)[:30].sum(-1) > 60).sum() > 50
    assert np.array_equal(plain[100:], captioned[100:])


def test_mp4_plays_with_the_right_frame_count_and_fps(tmp_path):
    out = write_mp4(walk(20, fps=25.0), tmp_path / "walk.mp4", fps=25, size=(97, 64))
    n_frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert n_frames == 20
    assert seconds == pytest.approx(20 / 25, abs=0.05)
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True)
    info = probe.stderr.decode()
    assert "h264" in info and "yuv420p" in info and "98x64" in info and "25 fps" in info  # odd width made even
    assert [p.name for p in tmp_path.iterdir()] == ["walk.mp4"]


@pytest.mark.parametrize(
    "joints, problem",
    [
        (np.full((4, 22, 3), np.nan), "NaN"),
        (np.zeros((4, 21, 3)), "21 joints"),
        (np.zeros((4, 22)), "shape"),
        (np.zeros((0, 22, 3)), "at least one frame"),
    ],
)
def test_bad_joints_raise_value_error_and_write_nothing(tmp_path, joints, problem):
    with pytest.raises(ValueError, match=problem):
        render_frames(joints)
    with pytest.raises(ValueError, match=problem):
        write_gif(joints, tmp_path / "bad.gif")
    with pytest.raises(ValueError, match=problem):
        write_mp4(joints, tmp_path / "bad.mp4")
    assert list(tmp_path.iterdir()) == []


def test_bad_fps_and_size_raise_value_error():
    with pytest.raises(ValueError, match="fps"):
        render_frames(walk(2), fps=0)
    with pytest.raises(ValueError, match="size"):
        render_frames(walk(2), size=(0, 64))


def test_missing_extras_name_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(ImportError, match=r"motionmill\[render\]"):
        write_mp4(walk(2), tmp_path / "x.mp4")
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"motionmill\[render\]"):
        render_frames(walk(2))
