"""Shot boundary detection on generated edits: ours against PySceneDetect, on the same MP4 files, in one run.

Each edit (motionmill.video.edits, seeds from 0; the detector's thresholds were chosen on seeds from 1000) is six
camera moves over scikit-image photographs joined by hard cuts and fades through black or white, written to an MP4
and decoded again, so both detectors see compressed frames. A boundary counts as found when one is reported within
2 frames of it. A second pass adds dissolves (cross-fades) to the joins. PySceneDetect runs its ContentDetector
(cuts) and ThresholdDetector (fades) together, at their defaults.

Run: `python bench/shot_detection.py [--videos 40]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from motionmill.video.decode import frames, probe
from motionmill.video.edits import make_edit
from motionmill.video.shots import ShotDetector

CUTS_AND_FADES = ("cut", "cut", "fade-black", "fade-white")
WITH_DISSOLVES = ("cut", "cut", "fade-black", "fade-white", "dissolve")


def write_mp4(edit, path: Path) -> Path:
    writer = imageio_ffmpeg.write_frames(str(path), edit.size, fps=30, quality=8, macro_block_size=4,
                                         ffmpeg_log_level="error")  # fmt: skip
    writer.send(None)
    for frame in edit.render():
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path


def ours(path: Path) -> list[int]:
    detector = ShotDetector()
    for frame in frames(probe(path)):
        detector.push(frame)
    return [b.frame for b in detector.boundaries()]


def pyscenedetect(path: Path) -> list[int]:
    from scenedetect import ContentDetector, SceneManager, ThresholdDetector, open_video

    manager = SceneManager()
    manager.add_detector(ContentDetector())
    manager.add_detector(ThresholdDetector())
    manager.detect_scenes(open_video(str(path)))
    return [start.frame_num for start, _ in manager.get_scene_list()[1:]]


def matched(found: list[int], truth: list[int], tolerance: int = 2) -> int:
    """Boundaries of `truth` matched one to one by a found boundary within `tolerance` frames."""
    free, hits = list(truth), 0
    for f in found:
        near = [t for t in free if abs(t - f) <= tolerance]
        if near:
            free.remove(min(near, key=lambda t: abs(t - f)))
            hits += 1
    return hits


def measure(videos: int, joins: tuple[str, ...], folder: Path) -> dict:
    totals = {name: {"hits": 0, "found": 0, "seconds": 0.0} for name in ("ours", "pyscenedetect")}
    truth_count, frame_count = 0, 0
    for seed in range(videos):
        edit = make_edit(seed, joins=joins)
        path = write_mp4(edit, folder / f"edit-{seed}.mp4")
        truth_count += len(edit.boundaries)
        frame_count += edit.frames
        for name, detect in (("ours", ours), ("pyscenedetect", pyscenedetect)):
            start = time.perf_counter()
            found = detect(path)
            totals[name]["seconds"] += time.perf_counter() - start
            totals[name]["hits"] += matched(found, list(edit.boundaries))
            totals[name]["found"] += len(found)
    for t in totals.values():
        precision, recall = t["hits"] / max(t["found"], 1), t["hits"] / max(truth_count, 1)
        t.update(precision=precision, recall=recall, f1=2 * precision * recall / max(precision + recall, 1e-9),
                 fps=frame_count / t["seconds"])  # fmt: skip
    return {"boundaries": truth_count, "frames": frame_count, **totals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for label, joins in (("cuts and fades", CUTS_AND_FADES), ("with dissolves", WITH_DISSOLVES)):
            r = measure(args.videos, joins, Path(folder))
            print(f"{label}: {args.videos} videos, {r['boundaries']} boundaries, {r['frames']} frames (320x180)")
            for name in ("ours", "pyscenedetect"):
                t = r[name]
                print(f"  {name:14s} F1 {t['f1']:.3f}  precision {t['precision']:.3f}  recall {t['recall']:.3f}  "
                      f"{t['fps']:.0f} frames/s (decoding included)")  # fmt: skip
            print(f"  ratio ours / pyscenedetect: F1 {r['ours']['f1'] / max(r['pyscenedetect']['f1'], 1e-9):.2f}x, "
                  f"speed {r['ours']['fps'] / r['pyscenedetect']['fps']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
