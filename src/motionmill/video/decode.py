"""Streaming video decoding with bounded memory.

Frames come from the ffmpeg binary shipped inside imageio-ffmpeg (the `render` extra), one at a time, as RGB uint8
arrays. Large videos are scaled down by ffmpeg before they reach Python, so a 4K file costs no more memory than the
working size: the pose model and the shot detector never need more than `max_side` pixels on the longer side.

Every way a file can be unusable raises `VideoError` with a short `reason` code, which the corpus build records in
its quarantine: "missing", "empty-file", "no-video-stream", "unreadable", "truncated", "too-short".

Shape legend: H height, W width (after scaling).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_MAX_SIDE", "VideoError", "VideoInfo", "frames", "probe"]

DEFAULT_MAX_SIDE = 640
"""Longer side of decoded frames, in pixels. MediaPipe's pose model works at 256 px; shots need far less."""


class VideoError(ValueError):
    """A video that cannot be used, with a reason code for the quarantine."""

    def __init__(self, path, reason: str, detail: str):
        super().__init__(f"{path}: {reason}: {detail}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg reports about a file, and the size frames are decoded at."""

    path: str
    source_size: tuple[int, int]
    """(width, height) stored in the file."""
    size: tuple[int, int]
    """(width, height) of decoded frames (`source_size` scaled down to `max_side`, even numbers)."""
    fps: float
    duration: float
    """Seconds, as the container states it (0 when unknown)."""

    @property
    def expected_frames(self) -> int:
        return int(round(self.duration * self.fps))


def _scaled_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    # even sizes: yuv420 sources and some ffmpeg scalers round odd sizes, which would break the byte count per frame
    return max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2))


def _open_failure(ffmpeg_text: str, head: bytes) -> str:
    """The reason code for ffmpeg's complaint when it cannot open a file that starts with the bytes `head`."""
    text = ffmpeg_text.lower()
    if "moov atom not found" in text and head[4:8] == b"ftyp":  # a real MP4/MOV header, its index cut off
        return "truncated"
    if "does not contain any stream" in text or "matches no streams" in text or "no video stream" in text:
        return "no-video-stream"  # e.g. an audio file
    return "unreadable"


def probe(path: str | os.PathLike, max_side: int = DEFAULT_MAX_SIDE) -> VideoInfo:
    """Read a video's size, rate and duration without decoding its frames.

    Raises:
        VideoError: when the file is missing, empty, has no video stream or is not a video ffmpeg can open.
    """
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise VideoError(path, "missing", "no such file")
    if path.stat().st_size == 0:
        raise VideoError(path, "empty-file", "the file has 0 bytes")
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as e:
        text = str(e).strip()
        with open(path, "rb") as f:
            head = f.read(16)
        raise VideoError(path, _open_failure(text, head), text.splitlines()[-1] if text else type(e).__name__) from None
    finally:
        reader.close()
    width, height = (int(v) for v in meta["source_size"])
    fps = float(meta.get("fps") or 0.0)
    if width <= 0 or height <= 0 or not math.isfinite(fps) or fps <= 0:
        raise VideoError(path, "no-video-stream", f"size {width}x{height} at {fps} fps")
    duration = float(meta.get("duration") or 0.0)
    return VideoInfo(str(path), (width, height), _scaled_size(width, height, max_side), fps,
                     duration if math.isfinite(duration) else 0.0)  # fmt: skip


def frames(info: VideoInfo) -> Iterator[np.ndarray]:
    """Decode a probed video frame by frame: (H, W, 3) uint8 RGB arrays at `info.size`.

    Only one frame is held at a time. Raises `VideoError("truncated")` after the last good frame when ffmpeg stops
    on a damaged stream, so callers keep what they already used and record the rest.
    """
    import imageio_ffmpeg

    logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)  # it warns that frames are scaled, which we asked
    width, height = info.size
    scale = [] if info.size == info.source_size else ["-vf", f"scale={width}:{height}:flags=area"]
    reader = imageio_ffmpeg.read_frames(info.path, output_params=scale or None)
    count = 0
    try:
        next(reader)  # the metadata, already read by probe
        for raw in reader:
            if len(raw) != width * height * 3:
                raise VideoError(info.path, "truncated", f"frame {count} has {len(raw)} bytes")
            count += 1
            yield np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
        # a file cut off after its index (e.g. an MP4 written for streaming) decodes without error but short
        if count < 0.9 * info.expected_frames - 2:
            raise VideoError(info.path, "truncated", f"{count} frames decoded, {info.expected_frames} stated")
    except (OSError, RuntimeError) as e:
        raise VideoError(
            info.path, "truncated", f"decoding stopped after {count} frames: {str(e).strip()[-200:]}"
        ) from None
    finally:
        reader.close()
