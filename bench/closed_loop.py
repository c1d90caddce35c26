"""The video pipeline in a closed loop: built-in clips rendered to MP4 from two camera angles each, annotated like any
video, and compared with the motion that was rendered (motionmill.video.closed_loop says how).

Clips are the first `--clips` of the built-in corpus's test split (seed 7), cut to their first `--seconds`.
`--no-motion-filters` keeps every track the motion filters (bone length, jitter, foot skating) would reject and
prints the percentiles of their measures: run on `--split val`, this is how their thresholds are chosen.
Prints the share of frames on which the person is found, the per-frame Procrustes MPJPE of the kept clips, the root
path error of clips that travel at least 1 m as a share of the distance travelled, what was rejected and why, how the
offline captioner's parts agree with the plan (video.closed_loop.caption_agreement), and the
time per frame of rendering and of the pipeline. `--out FILE` writes every clip's figures as JSON; `--save DIR`
keeps each kept clip's recovered joints.

Run: `python bench/closed_loop.py [--clips 40] [--views 2] [--split test] [--workers 2]`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from motionmill.video.closed_loop import caption_report, split_indices

MIN_TRAVEL = 1.0


def run_view(task: tuple) -> dict:
    """Render one clip from one angle, annotate the video, and measure."""
    index, angle, seconds, folder, motion_filters, save = task
    from motionmill.synth.corpus import make_clip
    from motionmill.video.annotate import AnnotateConfig, annotate_video
    from motionmill.video.caption import caption_motion
    from motionmill.video.closed_loop import caption_agreement, path_error, procrustes_mpjpe, render_video, view_for

    clip = make_clip(7, index, captions=False)
    truth = clip.joints[: int(seconds * clip.fps)]
    view = view_for(7, index, angle)
    path = Path(folder) / f"clip{index}-{angle}.mp4"
    start = time.perf_counter()
    render_video(truth, view, path, clip.fps)
    rendered = time.perf_counter()
    config = AnnotateConfig() if motion_filters else \
        AnnotateConfig(max_bone_variation=np.inf, max_acceleration=np.inf, max_foot_skating=np.inf)  # fmt: skip
    clips, rejections, stats = annotate_video(path, config)
    annotated = time.perf_counter()
    row = {"clip": index, "angle": angle, "view": view.__dict__, "frames": len(truth),
           "actions": [s.action for s in clip.plan.segments], "found": stats["detected_frames"] / max(len(truth), 1),
           "rejections": [r.__dict__ for r in rejections], "render_s": rendered - start,
           "pipeline_s": annotated - rendered, "kept_frames": 0, "errors_mm": [], "paths": [],
           "scores": [c.scores for c in clips], "captions": []}  # fmt: skip
    for k, c in enumerate(clips):
        if save:
            np.savez(Path(save) / f"clip{index}-{angle}-{k}.npz", joints=c.joints, start=c.start, fps=c.fps,
                     index=index, angle=angle)  # fmt: skip
        gt = truth[c.start : c.end]
        row["captions"] += caption_agreement(clip.plan, caption_motion(c.joints, c.fps), c.start, len(gt), c.fps)
        row["errors_mm"] += (1000 * procrustes_mpjpe(c.joints, gt)).tolist()
        row["kept_frames"] += len(gt)
        error, travelled = path_error(c.joints[:, 0, [0, 2]], gt[:, 0, [0, 2]])
        row["paths"].append({"error": error, "travelled": travelled})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--split", default="test")
    parser.add_argument("--skip", type=int, default=0, help="start after the first SKIP clips of the split")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-motion-filters", action="store_true", help="keep what the motion filters would reject")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--save", type=Path, help="folder for every kept clip's recovered joints (.npz)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        indices = split_indices(args.split, args.skip + args.clips)[args.skip :]
        filters = not args.no_motion_filters
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
        save = args.save and str(args.save)
        tasks = [(i, a, args.seconds, folder, filters, save) for i in indices for a in range(args.views)]
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(tqdm(pool.map(run_view, tasks), total=len(tasks), unit="video", desc="closed loop"))
    frames = sum(r["frames"] for r in rows)
    found = sum(r["found"] * r["frames"] for r in rows) / frames
    errors = np.concatenate([r["errors_mm"] for r in rows if r["errors_mm"]] or [np.zeros(0)])
    kept = sum(r["kept_frames"] for r in rows)
    paths = [p for r in rows for p in r["paths"] if p["travelled"] >= MIN_TRAVEL]
    reasons = Counter(x["filter"] for r in rows for x in r["rejections"])
    print(f"{len(rows)} videos ({args.clips} {args.split} clips x {args.views} views, {frames} frames)")
    print(f"person found in {found:.1%} of frames; kept {kept} frames ({kept / frames:.1%}) in "
          f"{sum(len(r['paths']) for r in rows)} clips")  # fmt: skip
    if len(errors):
        print(f"Procrustes MPJPE over kept frames: mean {errors.mean():.1f} mm, median {np.median(errors):.1f} mm")
    if paths:
        share = np.array([p["error"] / p["travelled"] for p in paths])
        print(f"root path error on {len(paths)} clips travelling >= {MIN_TRAVEL} m: mean {share.mean():.1%} of the "
              f"distance travelled, median {np.median(share):.1%}")  # fmt: skip
    print("rejections:", dict(reasons) or "none")
    print(caption_report([c for r in rows for c in r["captions"]]))
    scores = [s for r in rows for s in r["scores"]]
    for name in ("bone_variation", "jitter", "foot_skating"):
        values = np.array([s[name] for s in scores])
        if len(values):
            print(f"{name} over {len(values)} kept tracks: " + ", ".join(
                f"p{q} {np.percentile(values, q):.3g}" for q in (50, 90, 95, 98, 100)))  # fmt: skip
    render = sum(r["render_s"] for r in rows) / frames
    pipeline = sum(r["pipeline_s"] for r in rows) / frames
    print(f"time per frame: rendering {1000 * render:.0f} ms, pipeline {1000 * pipeline:.0f} ms "
          f"({1 / pipeline:.1f} frames/s on one core)")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
