"""Video folder reader: `**/*.mp4` (and other video files), each turned into motion clips by the video pipeline.

Format origin: any video ffmpeg decodes; `motionmill.video.annotate.annotate_video` finds the shots, tracks the
person in each, lifts every track to SMPL-22 joints on the ground and filters it (docs/video.md). Each kept track
becomes one clip: its joints go through inverse kinematics to the 272-dim representation
(`Motion.from_joints`), are resampled to 30 fps when the video runs at another rate, and are captioned by
`motionmill.video.caption.caption_motion`. A video gives as many samples as it has kept tracks plus rejections.

Every rejection of the video pipeline (a file that does not decode, a shot with nobody in it, a track that is too
short, crowded, filmed by a moving camera, jittery...) is returned as a rejection sample (`Sample.rejected`) with
the pipeline's stage ("decode", "shots", "track", "motion"), filter, measured value and reason, so it lands in the
corpus quarantine; nothing is dropped silently. A clip that fails inverse kinematics or the captioner is
quarantined the same way (stage "featurise" or "caption").

With `caption_url` and `caption_model`, a language model restates each clip's offline caption from it and one key
frame per part (video/caption_llm.py); when it fails, the offline caption is kept and `meta["caption_error"]` says
why. `meta["captioner"]` names the writer either way.

Ids: `video/<relative path>#<start>-<end>`, the track's first and one-past-last video frames (0-0 for a file that
does not decode). Videos are slow (seconds each), so build with a small `--shard-size` to resume after a crash
without redoing finished videos (docs/video.md, "Corpus from a folder of videos").
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from motionmill.data.sources import Sample
from motionmill.motion.container import Motion
from motionmill.utils.spec import parse_spec
from motionmill.video.annotate import AnnotateConfig, Rejection, VideoClip, annotate_video
from motionmill.video.caption import ActionClassifier, Caption, caption_motion
from motionmill.video.caption_llm import key_frames, llm_caption
from motionmill.video.decode import DEFAULT_MAX_SIDE

__all__ = ["EXTENSIONS", "VideoSource"]

FPS = 30.0
EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg"})
"""File suffixes listed as videos, compared in lower case."""
LIFTERS = ("learned", "geometric")
"""Named lifters of `AnnotateConfig.lifter`; any other value is the folder of a fitted regressor."""


@dataclass(frozen=True)
class VideoSource:
    """A folder tree of video files at `root`."""

    root: str
    """Folder searched recursively for video files (`EXTENSIONS`, any letter case)."""
    lifter: str = "learned"
    """Landmark-to-joint lifter: "learned" (the shipped regressor), "geometric", or a regressor folder made by
    `motionmill video fit-lifter`."""
    max_side: int = DEFAULT_MAX_SIDE
    """Longer side of the decoded frames, pixels; larger videos are scaled down by ffmpeg."""
    min_track_s: float = AnnotateConfig.min_track_s
    """Shortest track kept, seconds."""
    licence: str = "unknown (videos; check the terms of their source)"
    """Licence recorded on every clip; pass the collection's own with the `licence=` option."""
    caption_url: str = ""
    """An OpenAI-compatible chat endpoint that restates the offline captions from them and the clip's key frames
    (video/caption_llm.py); empty: offline captions only. On any failure the offline caption is kept."""
    caption_model: str = ""
    """The model name the endpoint expects (required with `caption_url`)."""
    caption_key_env: str = ""
    """Name of the environment variable holding the endpoint's API key (the key itself never enters the corpus)."""
    caption_timeout: float = 30.0
    """Seconds per read of the endpoint's answer (the whole exchange: twice this)."""

    name: ClassVar[str] = "video"

    @classmethod
    def from_spec(cls, arg: str) -> VideoSource:
        """`DIR[,lifter=learned|geometric|DIR][,max_side=640][,min_track_s=2][,licence=TEXT][,caption_url=URL,
        caption_model=NAME[,caption_key_env=VAR][,caption_timeout=S]]`."""
        root, options = parse_spec(arg, {"lifter": str, "max_side": int, "min_track_s": float, "licence": str,
                                         "caption_url": str, "caption_model": str, "caption_key_env": str,
                                         "caption_timeout": float})  # fmt: skip
        return cls(root, **options)

    def __post_init__(self) -> None:
        if not (isinstance(self.max_side, int) and self.max_side >= 16):
            raise ValueError(f"max_side must be an integer >= 16 pixels, got {self.max_side!r}")
        if not (math.isfinite(self.min_track_s) and self.min_track_s > 0):
            raise ValueError(f"min_track_s must be a positive number of seconds, got {self.min_track_s!r}")
        if not self.lifter:
            raise ValueError(f"lifter must be one of {LIFTERS} or a regressor folder, got {self.lifter!r}")
        if bool(self.caption_url) != bool(self.caption_model):
            raise ValueError("caption_url and caption_model go together: give both or neither")
        if not (math.isfinite(self.caption_timeout) and self.caption_timeout > 0):
            raise ValueError(f"caption_timeout must be a positive number of seconds, got {self.caption_timeout!r}")

    @property
    def config(self) -> AnnotateConfig:
        """The video pipeline's settings: its defaults, with this source's options."""
        return AnnotateConfig(max_side=self.max_side, lifter=self.lifter, min_track_s=self.min_track_s)

    def items(self) -> list[str]:
        """Relative paths of every video file, sorted.

        Also checks, once, in the process that plans the build, that the video pipeline can run here (MediaPipe,
        the captioner's network, the lifter's folder): without them every video would end up in the quarantine
        with the same error, an empty corpus instead of a failed build.
        """
        root = Path(self.root)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
        _check_runnable(self.lifter)
        files = (p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
        return sorted(p.relative_to(root).as_posix() for p in files)

    def load(self, key: str) -> list[Sample]:
        """The clips of one video, then its rejections, each in the video pipeline's order (by frame)."""
        clips, rejections, _ = annotate_video(Path(self.root) / key, self.config)
        return [self._clip(key, clip) for clip in clips] + [self._rejection(key, r) for r in rejections]

    def _clip(self, key: str, clip: VideoClip) -> Sample:
        """One kept track as a 30 fps clip with captions; a rejection sample if IK or the captioner fails."""
        sid = f"{self.name}/{key}#{clip.start}-{clip.end}"
        try:
            motion = Motion.from_joints(clip.joints, clip.fps)
            if motion.fps != FPS:
                motion = motion.resample(FPS)
        except Exception as e:  # one bad track must not cost the video's other clips
            return Sample.rejected(sid, "featurise", "ik", math.nan, f"{type(e).__name__}: {e}")
        try:
            # the stored motion is captioned (after IK and resampling), so the spans are in the clip's own time
            caption = caption_motion(motion.joints(), motion.fps)
            caption, llm_error = self._restate(key, clip, caption) if self.caption_url else (caption, None)
        except Exception as e:
            return Sample.rejected(sid, "caption", "error", math.nan, f"{type(e).__name__}: {e}")
        meta = {"path": key, "start": clip.start, "end": clip.end, "source_fps": clip.fps,
                "scores": dict(clip.scores), "captioner": caption.captioner}  # fmt: skip
        if llm_error:
            meta["caption_error"] = llm_error  # the offline caption was kept; this says why
        return Sample(sid, motion, caption.texts(), licence=self.licence, meta=meta)

    def _restate(self, key: str, clip: VideoClip, offline: Caption) -> tuple[Caption, str | None]:
        """The language model's captions from the offline ones and one key frame per part (its middle frame)."""
        middles = [clip.start + min(len(clip.joints) - 1, round((p.start + p.end) / 2 * clip.fps))
                   for p in offline.parts]  # fmt: skip
        frames = key_frames(Path(self.root) / key, middles)
        api_key = os.environ.get(self.caption_key_env) if self.caption_key_env else None
        return llm_caption(offline, self.caption_url, self.caption_model, frames, self.caption_timeout, api_key)

    def _rejection(self, key: str, r: Rejection) -> Sample:
        return Sample.rejected(f"{self.name}/{key}#{r.start}-{r.end}", r.stage, r.filter, r.value, r.reason)


def _check_runnable(lifter: str) -> None:
    """Raise ImportError or FileNotFoundError when the video pipeline cannot run in this environment."""
    from motionmill.video.pose import require_mediapipe

    require_mediapipe()
    ActionClassifier.load()  # the captioner's fitted network (raises FileNotFoundError naming its folder)
    if lifter not in LIFTERS and not (Path(lifter) / "weights.safetensors").is_file():
        raise FileNotFoundError(f"lifter {lifter!r} is neither {' nor '.join(LIFTERS)} nor a regressor folder "
                                f"(no weights.safetensors in it)")  # fmt: skip
