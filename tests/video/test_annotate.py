"""One video through the whole pipeline: bad files are rejected with their reason, a panned photograph is camera
motion, and a rendered figure comes back as a motion close to the one it performed."""

import imageio_ffmpeg
import numpy as np
import pytest
from skimage import data
from test_decode import ffmpeg, write_video

from motionmill.synth.corpus import make_clip
from motionmill.video.annotate import annotate_video
from motionmill.video.closed_loop import View, procrustes_mpjpe, render_video


def write(path, frames, fps=30.0):
    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, macro_block_size=16, ffmpeg_log_level="error")
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path


def only_rejection(path) -> tuple[str, str]:
    clips, rejections, _ = annotate_video(path)
    assert clips == [] and len(rejections) >= 1
    assert all(r.video == str(path) for r in rejections)
    return rejections[0].stage, rejections[0].filter


def test_bad_files_are_rejected_with_their_reason(tmp_path):
    good = write_video(tmp_path / "good.mp4", 60).read_bytes()
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "cut.mp4").write_bytes(good[: len(good) // 2])
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(tmp_path / "audio.m4a"))
    assert only_rejection(tmp_path / "zero.mp4") == ("decode", "empty-file")
    assert only_rejection(tmp_path / "cut.mp4") == ("decode", "truncated")
    assert only_rejection(tmp_path / "audio.m4a") == ("decode", "no-video-stream")
    assert only_rejection(write_video(tmp_path / "one.mp4", 1)) == ("decode", "too-short")


def test_a_video_without_a_person_and_a_4k_video(tmp_path):
    coffee = data.coffee()[:384, :576]
    still = [np.clip(coffee.astype(int) + np.random.default_rng(i).integers(-3, 4, coffee.shape), 0, 255).astype(
        np.uint8) for i in range(45)]  # fmt: skip
    assert only_rejection(write(tmp_path / "nobody.mp4", still)) == ("shots", "no-person")
    path = tmp_path / "k4.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=3840x2160:rate=30:duration=0.5", "-pix_fmt", "yuv420p", str(path))
    clips, rejections, stats = annotate_video(path)
    assert stats["size"] == [640, 360] and [(r.stage, r.filter) for r in rejections] == [("shots", "no-person")]


def test_a_photograph_panned_by_the_camera_is_camera_motion_not_a_walk(tmp_path):
    photo = data.astronaut()  # 512 x 512: the camera slides 4 pixels a frame across a 320 x 320 window
    frames = [photo[96:416, 8 + 4 * t : 328 + 4 * t] for t in range(45)] + [photo[96:416, 184 - 4 * t : 504 - 4 * t]
                                                                           for t in range(45)]  # fmt: skip
    clips, rejections, _ = annotate_video(write(tmp_path / "pan.mp4", frames))
    assert clips == [] and [(r.stage, r.filter) for r in rejections] == [("track", "camera-motion")]


def test_two_people_side_by_side_are_several_people(tmp_path):
    photo = data.astronaut()
    pair = np.concatenate([photo, photo[:, ::-1]], axis=1)[::2, ::2]  # the astronaut and her mirror image
    frames = [np.clip(pair.astype(int) + np.random.default_rng(i).integers(-2, 3, pair.shape), 0, 255).astype(
        np.uint8) for i in range(75)]  # fmt: skip
    clips, rejections, _ = annotate_video(write(tmp_path / "two.mp4", frames))
    assert clips == [] and [(r.stage, r.filter) for r in rejections] == [("track", "several-people")]


@pytest.mark.parametrize("yaw", [25.0])
def test_a_rendered_figure_comes_back_as_its_motion(tmp_path, yaw):
    truth = make_clip(7, 1, captions=False).joints[:75]  # 2.5 s of "cheer" (arms up and down)
    path = tmp_path / "figure.mp4"
    render_video(truth, View(yaw, 10.0, 50.0, 0, "coffee"), path)
    clips, rejections, stats = annotate_video(path)
    assert rejections == [] and len(clips) == 1
    clip = clips[0]
    assert clip.start == 0 and clip.end == 75 and clip.joints.shape == (75, 22, 3)
    assert np.median(1000 * procrustes_mpjpe(clip.joints, truth)) < 70
    feet = clip.joints[:, [7, 8, 10, 11], 1].min(axis=1)
    assert np.abs(np.median(feet)) < 0.05  # standing on the recovered floor
    height = np.median(clip.joints[:, 15, 1] - feet)
    assert 1.2 < height < 1.9  # head above the feet, metres
