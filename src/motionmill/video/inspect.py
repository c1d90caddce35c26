"""What the video pipeline made of one video, for a person to check by eye (`motionmill video inspect`).

`inspect_video` runs `annotate_video` on a file, captions every kept clip, and writes into a folder:

* `inspect.mp4`: every frame of the video side by side with the recovered motion. Left, the frame with the tracked
  person's MediaPipe landmarks joined by the skeleton's lines, green in a kept clip, red in a rejected track, grey
  elsewhere (between shots, or a detection no track took), faint where MediaPipe thinks a landmark is hidden; the
  frame number and time and the shot on top, a magenta frame with the kind of boundary on the frames where a cut,
  fade or dissolve was found, and at the bottom the kept clip or the rejection's filter and reason. Right, the kept
  clip's 3D joints drawn by `export.render` seen from the video camera's side (the lifted joints keep its heading),
  with the part of the caption that covers the frame.
* per kept clip k: `clip<k>.npy` (272-dim features, as `motionmill convert` writes them), `clip<k>.bvh` and
  `clip<k>.html` (the self-contained player), through `export.formats.write_motion`.
* `report.json`: the shot boundaries and shots, the clips (frames, scores, caption and its parts, files) and the
  rejections (stage, filter, value, reason), in the frame numbers of the video.

Memory stays bounded as in `annotate_video`: the frames are decoded a second time, one at a time, and streamed to
ffmpeg; per frame only the landmarks (a few kilobytes) and a few indices are kept.

Shape legend: T frames, J joints (22), L landmarks (33), H height, W width (of the decoded frames).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from motionmill.export.formats import write_motion
from motionmill.export.render import follow_cameras, font_height, load_font, render_image, wrap_text
from motionmill.motion.container import Motion
from motionmill.utils.io import atomic_path, atomic_write
from motionmill.video.annotate import AnnotateConfig, Rejection, VideoClip, annotate_video
from motionmill.video.decode import VideoError, frames, probe
from motionmill.video.pose import PoseEstimator, PoseFrame

__all__ = ["CLIP_FILES", "POSE_CONNECTIONS", "caption_part", "draw_landmarks", "inspect_video"]

POSE_CONNECTIONS = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),  # face
    (11, 12), (11, 23), (12, 24), (23, 24),  # trunk
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),  # left arm and hand
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),  # right arm and hand
    (23, 25), (25, 27), (27, 29), (29, 31), (27, 31),  # left leg and foot
    (24, 26), (26, 28), (28, 30), (30, 32), (28, 32),  # right leg and foot
)  # fmt: skip
"""MediaPipe Pose's landmark pairs joined by a line (its `POSE_CONNECTIONS`), written out so that drawing needs no
MediaPipe."""

CLIP_FILES = (".npy", ".bvh", ".html")
"""What is written per kept clip, as `clip<k>` plus the suffix."""

KEPT, REJECTED, UNUSED = (60, 210, 90), (235, 70, 50), (190, 190, 190)
"""Landmark colours of a frame in a kept clip, in a rejected track or shot, and in neither."""
MARKER = (230, 40, 200)
"""The frame drawn around a frame where a shot boundary was found."""
_EMPTY = (46, 50, 60)
"""Background of the motion panel where no clip is kept."""
MIN_VISIBILITY = 0.5
"""Landmarks less likely than this to be visible are drawn faint: MediaPipe guesses them."""


def _text(draw, x: float, y: float, lines: list[str], font, color=(255, 255, 255), anchor: str = "top",
          box=(20, 22, 30, 170)) -> None:  # fmt: skip
    """Lines of text on a box (translucent dark by default) whose top (or bottom, `anchor="bottom"`) left corner is
    (x, y)."""
    if not lines:
        return
    pad = max(2, round(font_height(font) / 4))
    line_h = round(1.2 * font_height(font))
    box_h = line_h * len(lines) + 2 * pad
    top = y if anchor == "top" else y - box_h
    box_w = max(font.getlength(line) for line in lines) + 2 * pad
    draw.rectangle([x, top, x + box_w, top + box_h], fill=box)
    for i, line in enumerate(lines):
        draw.text((x + pad, top + pad + i * line_h), line, font=font, fill=color)


def _draw_pose(draw, pose: PoseFrame, color, width: int) -> None:
    """The landmarks as dots joined by `POSE_CONNECTIONS`; the guessed ones (low visibility) half as strong."""
    faint = tuple(round(0.5 * c + 0.5 * g) for c, g in zip(color, (128, 128, 128), strict=True)) + (150,)
    strong = tuple(color) + (255,)
    seen = pose.visibility >= MIN_VISIBILITY
    for a, b in POSE_CONNECTIONS:
        sure = seen[a] and seen[b]
        draw.line([tuple(pose.image[a]), tuple(pose.image[b])], fill=strong if sure else faint,
                  width=width if sure else max(1, width // 2))  # fmt: skip
    radius = max(1.5, 0.8 * width)
    for (x, y), sure in zip(pose.image, seen, strict=True):
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=strong if sure else faint)


def _line_width(height: int) -> int:
    return max(2, round(height / 160))


def draw_landmarks(frame: np.ndarray, pose: PoseFrame, color=KEPT) -> np.ndarray:
    """A copy of the (H, W, 3) uint8 RGB `frame` with `pose`'s landmarks and their connections drawn in `color`."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.ascontiguousarray(frame))
    _draw_pose(ImageDraw.Draw(image, "RGBA"), pose, color, _line_width(frame.shape[0]))
    return np.asarray(image)


def caption_part(caption, seconds: float):
    """The part of a `Caption` whose span covers `seconds` from the clip's start (the last part that has begun when
    the spans leave a gap), or None before the first part."""
    current = None
    for part in caption.parts:
        if part.start <= seconds:
            current = part
        if part.start <= seconds < part.end:
            return part
    return current


def _per_frame(total: int, spans) -> np.ndarray:
    """(T,) index of the span (start, end exclusive) that holds each frame, -1 for none; the first span wins."""
    index = np.full(total, -1, dtype=np.int32)
    for k, (start, end) in reversed(list(enumerate(spans))):
        index[max(start, 0) : min(end, total)] = k
    return index


def _boundary_marks(boundaries: list[dict]) -> dict[int, str]:
    """Frame -> label for every frame of a found boundary: a cut's first frame, a gradual transition's frames."""
    marks = {}
    for b in boundaries:
        label = f"{b['kind'].upper()} (boundary at {b['frame']})"
        for t in range(min(b["start"], b["frame"]), max(b["end"], b["frame"]) + 1):
            marks[t] = label
    return marks


class _Timeline:
    """What each frame belongs to: its shot, kept clip, rejection and boundary."""

    def __init__(self, stats: dict, clips: list[VideoClip], rejections: list[Rejection]):
        total = stats["frames"]
        self.fps = float(stats["fps"])
        self.shots = stats["shot_spans"]
        self.shot = _per_frame(total, [(s["start"], s["end"]) for s in self.shots])
        self.clip = _per_frame(total, [(c.start, c.end) for c in clips])
        self.rejection = _per_frame(total, [(r.start, r.end) for r in rejections])
        self.marks = _boundary_marks(stats["boundaries"])


def _video_panel(frame: np.ndarray, t: int, pose: PoseFrame | None, line: _Timeline, clips, rejections):
    """The frame with the landmarks, the frame number, time and shot, the boundary marker and the status."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image, "RGBA")
    w, h = image.size
    k, r = int(line.clip[t]), int(line.rejection[t])
    if pose is not None:
        _draw_pose(draw, pose, KEPT if k >= 0 else REJECTED if r >= 0 else UNUSED, _line_width(h))
    font = load_font(max(10, round(h / 22)))
    shot = int(line.shot[t])
    where = f"shot {shot + 1}/{len(line.shots)}" if shot >= 0 else "between shots"
    _text(draw, 4, 4, [f"frame {t}   {t / line.fps:.2f} s   {where}"], font)
    if t in line.marks:
        border = max(3, h // 60)
        draw.rectangle([0, 0, w - 1, h - 1], outline=MARKER, width=border)
        label = line.marks[t]
        _text(draw, w - font.getlength(label) - 3 * border, 2 * border + 1.6 * font_height(font), [label], font,
              box=MARKER)  # fmt: skip
    if k >= 0:
        clip = clips[k]
        status, color = f"kept: clip {k}, frames {clip.start}-{clip.end - 1}", KEPT
    elif r >= 0:
        rejection = rejections[r]
        status = f"rejected ({rejection.stage}, {rejection.filter}): {rejection.reason}"
        color = REJECTED
    else:
        status, color = ("no track" if pose is not None else "nobody found"), UNUSED
    _text(draw, 4, h - 4, wrap_text(status, font, w - 16, max_lines=3), font, color, anchor="bottom")
    return image


def _empty_panel(size: tuple[int, int], text: str):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, _EMPTY)
    draw = ImageDraw.Draw(image, "RGBA")
    font = load_font(max(10, round(size[1] / 22)))
    lines = wrap_text(text, font, size[0] - 24, max_lines=3)
    _text(draw, 12, size[1] / 2 - 0.6 * font_height(font) * len(lines), lines, font, (200, 204, 212))
    return image


def _jsonable(value):
    """Numbers, strings, lists and dicts for json.dumps: numpy scalars as Python ones, NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _caption_dict(caption) -> dict:
    parts = [{"start": round(p.start, 3), "end": round(p.end, 3), "action": p.action, "text": p.text}
             for p in caption.parts]  # fmt: skip
    return {"text": caption.text, "captioner": caption.captioner, "parts": parts}


def _caption(clip: VideoClip) -> tuple[object | None, str | None]:
    """The captioner's `Caption` of a clip, or None and why not: a captioner that cannot run (its weights missing,
    say) should not keep a person from checking the landmarks and the motion."""
    from motionmill.video import caption as captioning  # looked up at the call: the captioner is its own module

    try:
        return captioning.caption_motion(clip.joints, clip.fps), None
    except (ImportError, OSError, ValueError) as e:
        return None, str(e)


def _write_clip_files(clip: VideoClip, caption, folder: Path, k: int) -> list[str]:
    motion = Motion.from_joints(clip.joints, clip.fps)
    names = [f"clip{k}{suffix}" for suffix in CLIP_FILES]
    for name in names:
        write_motion(motion, folder / name, title=caption.text if caption else f"clip {k}")
    return names


def _write_video(path: Path, info, poses: list, line: _Timeline, clips, captions, rejections,
                 progress: bool = False) -> int:  # fmt: skip
    """Stream the side-by-side frames to an H.264 MP4; returns how many frames were written."""
    import imageio_ffmpeg

    w, h = info.size
    written, cameras = 0, {}
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(str(tmp), (2 * w, h), fps=info.fps, codec="libx264",
                                             pix_fmt_out="yuv420p", quality=None, macro_block_size=2,
                                             ffmpeg_log_level="error",
                                             output_params=["-crf", "20", "-preset", "veryfast"])  # fmt: skip
        writer.send(None)
        try:
            drawn = tqdm(frames(info), total=len(poses), unit="frame", desc="draw", disable=not progress)
            for t, frame in enumerate(drawn):
                pose = poses[t] if t < len(poses) else None
                left = _video_panel(frame, t, pose, line, clips, rejections)
                k, r = (int(line.clip[t]), int(line.rejection[t])) if t < len(line.clip) else (-1, -1)
                if k >= 0:
                    clip = clips[k]
                    if k not in cameras:  # one clip's cameras at a time: a few bytes per frame of that clip
                        cameras = {k: follow_cameras(clip.joints, clip.fps, (w, h), yaw_deg=0.0)}
                    i = t - clip.start
                    text = "no caption (see report.json)"
                    if captions[k] is not None:
                        part = caption_part(captions[k], i / clip.fps)
                        text = part.text if part else None
                    right = render_image(clip.joints[i], cameras[k][i], caption=text,
                                         corner_text=f"clip {k}   {i / clip.fps:.2f} s")  # fmt: skip
                elif r >= 0:
                    right = _empty_panel((w, h), f"no motion: rejected ({rejections[r].filter})")
                else:
                    right = _empty_panel((w, h), "no motion")
                writer.send(np.ascontiguousarray(np.concatenate([np.asarray(left), np.asarray(right)], axis=1)))
                written += 1
        finally:
            writer.close()
    return written


def inspect_video(path: str | Path, out: str | Path, config: AnnotateConfig | None = None,
                  estimator_factory=PoseEstimator, progress: bool = False) -> dict:  # fmt: skip
    """Annotate one video and write `inspect.mp4`, the kept clips' files and `report.json` into `out`.

    Returns the report. Raises `VideoError` (a ValueError naming the file and the reason) when the video cannot be
    decoded, before anything is written: there is nothing to look at. A clip the captioner fails on has the caption
    None and a `caption_error` in the report. `progress` shows bars of the frames read and drawn.
    """
    config = config or AnnotateConfig()
    info = probe(path, config.max_side)  # a missing, empty or unreadable file fails here, before the slow pass
    clips, rejections, stats = annotate_video(path, config, estimator_factory, keep_poses=True, progress=progress)
    broken = [r for r in rejections if r.stage == "decode" and (r.filter != "too-short" or r.end == 0)]
    if broken:  # e.g. a stream that stops halfway (annotate_video keeps nothing of it), or no frame at all
        raise VideoError(path, broken[0].filter, broken[0].reason)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    captions, entries = [], []
    for k, clip in enumerate(clips):
        caption, error = _caption(clip)
        entry = {"clip": k, "start": clip.start, "end": clip.end, "seconds": len(clip.joints) / clip.fps,
                 "scores": clip.scores, "caption": _caption_dict(caption) if caption else None}  # fmt: skip
        if error:
            entry["caption_error"] = error
        entry["files"] = _write_clip_files(clip, caption, folder, k)
        captions.append(caption)
        entries.append(entry)
    line = _Timeline(stats, clips, rejections)
    written = _write_video(folder / "inspect.mp4", info, stats.pop("poses"), line, clips, captions, rejections,
                           progress)  # fmt: skip
    report = {
        "video": str(path), "frames": stats["frames"], "fps": stats["fps"], "size": stats["size"],
        "detected_frames": stats["detected_frames"], "inspect_frames": written,
        "boundaries": stats["boundaries"], "shots": stats["shot_spans"],
        "clips": entries,
        "rejections": [{"start": r.start, "end": r.end, "stage": r.stage, "filter": r.filter, "value": r.value,
                        "reason": r.reason} for r in rejections],
        "config": stats["config"],
    }  # fmt: skip
    report = _jsonable(report)
    atomic_write(folder / "report.json", json.dumps(report, indent=1) + "\n")
    return report
