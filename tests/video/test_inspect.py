"""`motionmill video inspect` on a rendered figure: two shots joined by a cut, the first long enough to be kept, the
second a track too short. The side-by-side video has every frame, the landmarks are really drawn over the frames in
the colour of what the frame belongs to, the cut is marked, the kept clip's files read back, and report.json says what
annotate_video found. A zero-byte file is a one-line error."""

import json
import re
from types import SimpleNamespace

import imageio_ffmpeg
import numpy as np
import pytest

from motionmill.cli import main
from motionmill.export.bvh import bvh_to_motion
from motionmill.motion.container import Motion
from motionmill.synth.corpus import make_clip
from motionmill.video import caption
from motionmill.video.annotate import annotate_video
from motionmill.video.closed_loop import View, procrustes_mpjpe, render_video
from motionmill.video.inspect import (
    KEPT,
    MARKER,
    POSE_CONNECTIONS,
    REJECTED,
    caption_part,
    draw_landmarks,
    inspect_video,
)
from motionmill.video.pose import PoseFrame

SIZE = (320, 240)
KEPT_FRAMES, SHORT_FRAMES = 75, 30  # 2.5 s kept; 1 s is below the 2 s a track needs


def read_all(path) -> list[np.ndarray]:
    reader = imageio_ffmpeg.read_frames(str(path))
    w, h = next(reader)["size"]
    return [np.frombuffer(raw, np.uint8).reshape(h, w, 3) for raw in reader]


def fake_caption(joints, fps):
    """A stand-in for the captioner: two halves with their own sentences."""
    half = len(joints) / fps / 2
    parts = (caption.CaptionPart(0.0, half, "cheer", "the person raises both arms"),
             caption.CaptionPart(half, 2 * half, "cheer", "the person lowers both arms"))  # fmt: skip
    return caption.Caption("the person raises both arms, then lowers them", parts, "offline:test")


def no_captioner(joints, fps):
    raise FileNotFoundError("assets/action_classifier: no action classifier here")


@pytest.fixture(scope="module")
def inspected(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inspect")
    truth = make_clip(7, 1, captions=False).joints  # "cheer": arms up and down
    render_video(truth[:KEPT_FRAMES], View(25.0, 10.0, 50.0, 0, "coffee"), folder / "a.mp4", size=SIZE)
    render_video(truth[KEPT_FRAMES : KEPT_FRAMES + SHORT_FRAMES], View(160.0, 10.0, 50.0, 1, "astronaut"),
                 folder / "b.mp4", size=SIZE)  # fmt: skip
    video = folder / "video.mp4"  # the two shots joined by a hard cut
    writer = imageio_ffmpeg.write_frames(str(video), SIZE, fps=30.0, quality=8, macro_block_size=16,
                                         ffmpeg_log_level="error")  # fmt: skip
    writer.send(None)
    for frame in read_all(folder / "a.mp4") + read_all(folder / "b.mp4"):
        writer.send(frame)
    writer.close()
    out = folder / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(caption, "caption_motion", fake_caption, raising=False)
        assert main(["video", "inspect", str(video), "--out", str(out)]) == 0
        patch.setattr(caption, "caption_motion", no_captioner, raising=False)
        uncaptioned = inspect_video(video, folder / "uncaptioned")
    clips, rejections, stats = annotate_video(video, keep_poses=True)
    return SimpleNamespace(video=video, out=out, clips=clips, rejections=rejections, stats=stats,
                           uncaptioned=uncaptioned, frames=read_all(video), shown=read_all(out / "inspect.mp4"),
                           report=json.loads((out / "report.json").read_text()))  # fmt: skip


def test_every_frame_is_shown_beside_the_motion(inspected):
    assert len(inspected.shown) == len(inspected.frames) == KEPT_FRAMES + SHORT_FRAMES
    assert inspected.shown[0].shape == (SIZE[1], 2 * SIZE[0], 3)
    empty = inspected.shown[90][:, SIZE[0] :].reshape(-1, 3)  # no motion on the right: a flat panel with a note
    assert (np.abs(empty.astype(int) - np.median(empty, axis=0)).max(axis=1) < 8).mean() > 0.9
    drawn = inspected.shown[20][:, SIZE[0] :].reshape(-1, 3)  # the kept clip's skeleton on its floor
    assert (np.abs(drawn.astype(int) - np.median(drawn, axis=0)).max(axis=1) > 30).mean() > 0.02


def along(pose: PoseFrame, pairs, steps: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Pixel rows and columns on the lines between landmark pairs (their inner part, away from the dots)."""
    a, b = pose.image[[p for p, _ in pairs]], pose.image[[q for _, q in pairs]]
    points = np.concatenate([a + s * (b - a) for s in np.linspace(0.25, 0.75, steps)])
    return np.round(points[:, 1]).astype(int), np.round(points[:, 0]).astype(int)


@pytest.mark.parametrize(("t", "color"), [(20, KEPT), (90, REJECTED)])
def test_the_landmarks_are_drawn_in_the_colour_of_the_frame(inspected, t, color):
    pose = inspected.stats["poses"][t]
    rows, cols = along(pose, [(11, 13), (12, 14), (23, 25), (24, 26), (11, 12), (23, 24)])
    shown = inspected.shown[t][rows, cols].astype(int)
    original = inspected.frames[t][rows, cols].astype(int)
    assert np.abs(shown - original).max(axis=1).mean() > 40  # the lines are there
    assert np.linalg.norm(shown.mean(axis=0) - color) < np.linalg.norm(original.mean(axis=0) - color) - 40
    corner = (slice(60, 180), slice(260, 315))  # backdrop away from the person and the text
    assert np.abs(inspected.shown[t][corner].astype(int) - inspected.frames[t][corner]).mean() < 6


def test_the_cut_is_marked(inspected):
    edge = (slice(100, 140), slice(0, 2))  # the left border of the video panel

    def magenta(t):
        return np.linalg.norm(inspected.shown[t][edge].reshape(-1, 3).mean(axis=0) - MARKER) < 60

    assert magenta(KEPT_FRAMES) and not magenta(KEPT_FRAMES - 1) and not magenta(KEPT_FRAMES + 2)


def test_the_kept_clip_files_read_back(inspected):
    (clip,) = inspected.clips
    features = np.load(inspected.out / "clip0.npy")
    assert features.shape == (KEPT_FRAMES, 272) and features.dtype == np.float32
    joints = Motion(features, 30.0).joints()
    # the features start at the origin facing +z: the same poses, and the same path turned and moved on the floor
    assert procrustes_mpjpe(joints, clip.joints).max() < 1e-3
    steps = np.linalg.norm(np.diff(joints[:, 0], axis=0), axis=-1)
    assert np.abs(steps - np.linalg.norm(np.diff(clip.joints[:, 0], axis=0), axis=-1)).max() < 1e-3
    from_bvh = bvh_to_motion(inspected.out / "clip0.bvh")
    assert from_bvh.num_frames == KEPT_FRAMES and from_bvh.fps == pytest.approx(30.0)
    assert np.abs(from_bvh.joints() - joints).max() < 5e-3  # angles and offsets as text, rounded
    page = (inspected.out / "clip0.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="motion-data">(.*?)</script>', page, re.S)[1])
    positions = np.array(data["positions"]).reshape(data["n_frames"], data["n_joints"], 3) / data["scale"]
    assert data["n_frames"] == KEPT_FRAMES and np.abs(positions - joints).max() < 1e-3
    assert "the person raises both arms, then lowers them" in page


def test_the_report_says_what_annotate_video_found(inspected):
    report = inspected.report
    assert report["frames"] == report["inspect_frames"] == KEPT_FRAMES + SHORT_FRAMES
    assert [(b["frame"], b["kind"]) for b in report["boundaries"]] == [(KEPT_FRAMES, "cut")]
    assert report["shots"] == [{"start": 0, "end": KEPT_FRAMES}, {"start": KEPT_FRAMES, "end": 105}]
    assert [(c["start"], c["end"]) for c in report["clips"]] == [(c.start, c.end) for c in inspected.clips]
    assert report["clips"][0]["scores"] == pytest.approx(inspected.clips[0].scores)
    assert report["clips"][0]["files"] == ["clip0.npy", "clip0.bvh", "clip0.html"]
    assert [p["text"] for p in report["clips"][0]["caption"]["parts"]] == ["the person raises both arms",
                                                                           "the person lowers both arms"]  # fmt: skip
    expected = [{"start": r.start, "end": r.end, "stage": r.stage, "filter": r.filter, "value": r.value,
                 "reason": r.reason} for r in inspected.rejections]  # fmt: skip
    assert report["rejections"] == expected
    assert [(r["stage"], r["filter"], r["start"]) for r in expected] == [("track", "length", KEPT_FRAMES)]


def test_a_captioner_that_cannot_run_leaves_the_rest(inspected):
    (clip,) = inspected.uncaptioned["clips"]
    assert clip["caption"] is None and "no action classifier" in clip.pop("caption_error")
    clip["caption"] = inspected.report["clips"][0]["caption"]
    assert inspected.uncaptioned == inspected.report  # all the rest is the same
    assert (inspected.video.parent / "uncaptioned" / "clip0.bvh").is_file()


def test_caption_parts_by_time():
    joints = np.zeros((60, 22, 3))
    text = fake_caption(joints, 30.0)
    assert [caption_part(text, s).text for s in (0.0, 0.99, 1.0, 1.99, 5.0)] == [
        "the person raises both arms", "the person raises both arms", "the person lowers both arms",
        "the person lowers both arms", "the person lowers both arms"]  # fmt: skip


def test_draw_landmarks_joins_mediapipes_connections():
    mediapipe = pytest.importorskip("mediapipe")
    assert set(POSE_CONNECTIONS) == set(mediapipe.solutions.pose.POSE_CONNECTIONS)
    image = np.linspace(0, 255, 33 * 2).reshape(33, 2) * [0.9, 0.7] + 20
    pose = PoseFrame(image, np.zeros(33), np.ones(33), np.zeros((33, 3)))
    frame = np.zeros((240, 320, 3), np.uint8)
    drawn = draw_landmarks(frame, pose, KEPT)
    assert frame.max() == 0 and tuple(drawn[int(image[11, 1]), int(image[11, 0])]) == KEPT


def test_a_zero_byte_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "zero.mp4").write_bytes(b"")
    assert main(["video", "inspect", str(tmp_path / "zero.mp4"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"motionmill: error: {tmp_path / 'zero.mp4'}: empty-file: the file has 0 bytes\n"
    assert not (tmp_path / "out").exists()
