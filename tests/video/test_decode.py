"""Decoding: frames stream at a bounded size, and every unusable file raises VideoError with its reason."""

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from motionmill.video.decode import VideoError, frames, probe


def write_video(path, count: int, size=(160, 96), fps: float = 30.0):
    writer = imageio_ffmpeg.write_frames(str(path), size, fps=fps, macro_block_size=16, ffmpeg_log_level="error")
    writer.send(None)
    for i in range(count):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[:, : (i * 7) % size[0]] = 220  # a moving edge, so frames differ
        writer.send(frame)
    writer.close()
    return path


def ffmpeg(*args):
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", *args], check=True)


def reason(path) -> str:
    with pytest.raises(VideoError) as caught:
        info = probe(path)
        for _ in frames(info):
            pass
    assert str(path) in str(caught.value)
    return caught.value.reason


def test_a_video_decodes_every_frame_at_its_size(tmp_path):
    info = probe(write_video(tmp_path / "v.mp4", 45))
    assert info.size == info.source_size == (160, 96) and info.fps == 30.0
    decoded = list(frames(info))
    assert len(decoded) == 45 and decoded[0].shape == (96, 160, 3) and decoded[0].dtype == np.uint8
    assert decoded[10][:, :60].mean() > 150 and decoded[10][:, 80:].mean() < 30  # the edge is where it was drawn


def test_a_4k_video_is_scaled_down_before_it_reaches_python(tmp_path):
    path = tmp_path / "k4.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=3840x2160:rate=30:duration=0.4", "-pix_fmt", "yuv420p", str(path))
    info = probe(path, max_side=640)
    assert info.source_size == (3840, 2160) and info.size == (640, 360)
    assert [f.shape for f in frames(info)] == [(360, 640, 3)] * 12


def test_a_one_frame_video_has_one_frame(tmp_path):
    assert len(list(frames(probe(write_video(tmp_path / "one.mp4", 1))))) == 1


def test_unusable_files_name_their_reason(tmp_path):
    good = write_video(tmp_path / "good.mp4", 60).read_bytes()
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "cut.mp4").write_bytes(good[: len(good) // 2])  # the MP4 index comes last: nothing can be read
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(tmp_path / "audio.m4a"))
    assert reason(tmp_path / "zero.mp4") == "empty-file"
    assert reason(tmp_path / "missing.mp4") == "missing"
    assert reason(tmp_path / "cut.mp4") == "truncated"
    assert reason(tmp_path / "audio.m4a") == "no-video-stream"
    assert reason(tmp_path / "noise.mp4") == "unreadable"


def test_a_stream_cut_short_after_its_index_is_truncated(tmp_path):
    whole = tmp_path / "whole.mp4"
    write_video(whole, 90)
    streamable = tmp_path / "streamable.mp4"
    ffmpeg("-i", str(whole), "-c", "copy", "-movflags", "+faststart", str(streamable))
    data = streamable.read_bytes()
    (tmp_path / "short.mp4").write_bytes(data[: len(data) // 2])  # the index survives, half the frames do not
    assert reason(tmp_path / "short.mp4") == "truncated"
