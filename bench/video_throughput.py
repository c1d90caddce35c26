"""Video pipeline throughput on one core: frames/s of each stage and end to end, peak memory, and the cost of a corpus.

What: for the annotation pipeline from video (motionmill.video, docs/video.md), the frames one core gets through per
second in each stage: decode (probe + decode.frames, ffmpeg's own CPU included), shot detection (ShotDetector.push on
every frame, then shots() and boundaries() as annotate calls them), pose (a PoseEstimator per video, called on every
frame), face counting (a FaceCounter per video, on every fifth frame as annotate does: per counted frame and amortised
per video frame), background shift (the grey thumbnail and trajectory.background_shift, as annotate's pass does them),
the steps after the pass (tracks, lifting, path, floor and filters), inverse kinematics to the 272-dim representation
(Motion.from_joints, then the joints the captioner reads), captioning (caption_motion) and end to end
(annotate_video, then IK and captioning of every kept clip: what the `video:` corpus source does per video). Then
the peak resident memory of the end-to-end run on one video and on a video three times as long, each in a fresh
process, and what `--hours` of video would cost on a cluster of `--cores` cores at `--price-per-core-hour`.

How: the process is pinned to one CPU (sched_setaffinity; ffmpeg and MediaPipe's threads inherit it) and torch,
OpenCV and the BLAS libraries run one thread. Times are CPU seconds of this process plus its finished children
(ffmpeg decodes in a child process), so other jobs on the machine slow the wall clock (also printed, end to end) more
than the figures. The per-frame stages are timed inside one pass over each video that does what annotate's pass
does, in the same order; the steps after the pass are timed by annotate_video itself, handed that pass's record.
Models are loaded before timing (a corpus worker loads them once); building the pose and face graphs, which annotate
does per video, is counted. Peak memory is the peak RSS (VmHWM) of a fresh process per video, and that of its
ffmpeg children sampled every 0.1 s (psutil): the pass keeps a few kilobytes per frame, never the frames. The
projection assumes source video at `--source-fps` (30) with every frame processed, at the measured end-to-end
frames/s per core, and perfect scaling (no scheduling, transfer or straggler overhead); decode cost grows with the
source's resolution (`--size`).

Inputs: `--clips` built-in clips of the test split lasting at least `--seconds`, cut to it, performed by the figure
of the closed loop (video/closed_loop.py) and rendered to MP4 at `--size`; the longer video of the memory check is the
first three of them joined. `--video PATH` measures a file of your own instead (it is the long video of the memory
check and its first third, cut without re-encoding, the short one).
The captioner is the shipped classifier unless `--classifier DIR` names another. `--out FILE` writes every figure as
JSON.

Run: `python bench/video_throughput.py [--clips 4] [--seconds 6] [--video PATH] [--cores 512]
[--price-per-core-hour 0.04] [--classifier DIR] [--out FILE]`. The default takes about two minutes on two quiet cores.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_name] = "1"  # before numpy is imported: its BLAS reads these once, at load

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from multiprocessing import get_context  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402

FPS = 30.0
"""Rate of the corpus's motion (the `video:` source resamples to it)."""
STAGES = ("decode", "shots", "pose", "faces", "background", "after pass", "ik", "caption")
LABELS = {
    "decode": "decode (probe + frames)",
    "shots": "shot detection",
    "pose": "pose (MediaPipe)",
    "faces": "faces (every 5th frame)",
    "background": "background shift",
    "after pass": "tracks, lifting, path, filters",
    "ik": "IK to 272 (Motion.from_joints)",
    "caption": "captioning",
}


def one_core(core: int | None = None) -> int | None:
    """Run on one CPU with one thread per library; returns the CPU pinned to (None where affinity is unsupported)."""
    import cv2
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # torch allows it once, before any inter-op work; already one thread then
        pass
    cv2.setNumThreads(1)
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = min(os.sched_getaffinity(0)) if core is None else core
    # sched_setaffinity(0) pins only the calling thread; threads that already exist are pinned one by one
    for task in Path("/proc/self/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), {core})
        except OSError:  # a thread that ended meanwhile
            pass
    return core


def cpu() -> float:
    """CPU seconds of this process (all threads) and of its children already waited for (ffmpeg)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _max_rss_mb(who: int) -> float:
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS
    return resource.getrusage(who).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)


def load_classifier(folder: str | None):
    from motionmill.video.caption import ActionClassifier

    return ActionClassifier.load() if folder is None else ActionClassifier.load(folder)


def warm_up(path: str, classifier) -> None:
    """Load every model once, as a corpus worker does before its first video, so no stage pays a first-use cost."""
    from motionmill.motion.container import Motion
    from motionmill.synth.corpus import make_clip
    from motionmill.video.annotate import AnnotateConfig, _regressor
    from motionmill.video.caption import caption_motion
    from motionmill.video.decode import frames, probe
    from motionmill.video.pose import FaceCounter, PoseEstimator

    reader = frames(probe(path))
    frame = next(reader)
    reader.close()
    with PoseEstimator() as estimate:
        estimate(frame)
    faces = FaceCounter()
    faces(frame)
    faces.close()
    _regressor(AnnotateConfig().lifter)
    joints = make_clip(7, 0, captions=False).joints[:90]
    motion = Motion.from_joints(joints, FPS)
    caption_motion(motion.joints(), motion.fps, classifier=classifier)


def timed_pass(path: str):
    """annotate's pass over one video (video/annotate.py, `_read`), step for step, with each step's CPU time.

    Returns the video's info, the pass record annotate_video would have made, CPU seconds per stage, the number of
    frames whose faces were counted, and the seconds of cutting the shots at the end (part of shot detection).
    """
    import cv2

    from motionmill.video.annotate import AnnotateConfig, _Pass
    from motionmill.video.decode import frames, probe
    from motionmill.video.pose import FaceCounter, PoseEstimator
    from motionmill.video.trajectory import background_shift

    every = AnnotateConfig().face_every
    spent = dict.fromkeys(("decode", "shots", "pose", "faces", "background"), 0.0)
    counted = 0
    start = cpu()
    info = probe(path)
    seen = _Pass()
    spent["decode"] += cpu() - start
    start = cpu()
    count_faces = FaceCounter()
    spent["faces"] += cpu() - start
    start = cpu()
    estimate = PoseEstimator()
    spent["pose"] += cpu() - start
    previous_grey = None
    reader = frames(info)
    t = 0
    while True:
        # the last next() also waits for ffmpeg, so its CPU time lands in decode
        a = cpu()
        frame = next(reader, None)
        b = cpu()
        spent["decode"] += b - a
        if frame is None:
            break
        seen.detector.push(frame)
        c = cpu()
        pose = estimate(frame)
        seen.poses.append(pose)
        d = cpu()
        if t % every == 0:
            seen.faces.append(count_faces(frame))
            counted += 1
        else:
            seen.faces.append(-1)
        e = cpu()
        grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (160, 160 * frame.shape[0] // frame.shape[1]))
        scale = 160 / frame.shape[1]
        box = None if pose is None else tuple(v * scale for v in pose.box)
        shift = (0.0, 0.0) if previous_grey is None else background_shift(previous_grey, grey, box)
        seen.shifts.append(np.hypot(*shift) / 160)
        previous_grey = grey
        f = cpu()
        spent["shots"] += c - b
        spent["pose"] += d - c
        spent["faces"] += e - d
        spent["background"] += f - e
        t += 1
    a = cpu()
    estimate.close()
    b = cpu()
    count_faces.close()
    c = cpu()
    seen.detector.shots()  # annotate cuts the shots and lists the boundaries once the pass is over
    seen.detector.boundaries()
    d = cpu()
    spent["pose"] += b - a
    spent["faces"] += c - b
    spent["shots"] += d - c
    return info, seen, spent, counted, d - c


def after_pass(path: str, info, seen, shots_seconds: float):
    """annotate_video from the pass record on: (clips, rejections, CPU seconds).

    annotate_video is run as it is, with its probe and pass replaced by what `timed_pass` already did, so this is
    the code the corpus build runs. It cuts the shots again, which is shot detection's time: that is taken off.
    """
    from motionmill.video.annotate import annotate_video

    with given_pass(info, seen):
        start = cpu()
        clips, rejections, _ = annotate_video(path)
        seconds = cpu() - start
    return clips, rejections, max(0.0, seconds - shots_seconds)


@contextlib.contextmanager
def given_pass(info, seen):
    """annotate_video without its own probe and pass: it takes these (the names annotate.py calls them by)."""
    from motionmill.video import annotate

    with mock.patch.object(annotate, "probe", lambda *_: info), mock.patch.object(annotate, "_read", lambda *_: seen):
        yield


def ik_and_caption(clips, classifier):
    """What the `video:` corpus source does with each kept clip (data/sources/video.py): inverse kinematics to the
    272-dim representation, resampled to 30 fps when the video runs at another rate, then the caption of that
    motion. Returns the clip frames and the CPU seconds of each step."""
    from motionmill.motion.container import Motion
    from motionmill.video.caption import caption_motion

    frames, ik, caption = 0, 0.0, 0.0
    for clip in clips:
        a = cpu()
        motion = Motion.from_joints(clip.joints, clip.fps)
        if motion.fps != FPS:
            motion = motion.resample(FPS)
        joints = motion.joints()
        b = cpu()
        caption_motion(joints, motion.fps, classifier=classifier)
        c = cpu()
        frames += motion.num_frames
        ik += b - a
        caption += c - b
    return frames, ik, caption


def end_to_end(path: str, classifier) -> tuple[int, list]:
    """One video as the `video:` corpus source handles it: annotate_video, then IK and captions of each kept clip.
    Returns the video's frames and the kept clips' (start, end)."""
    from motionmill.video.annotate import annotate_video

    clips, _, stats = annotate_video(path)
    ik_and_caption(clips, classifier)
    return stats["frames"], [(c.start, c.end) for c in clips]


class ChildMemory:
    """Peak RSS of this process's children (ffmpeg), sampled every `every` seconds in a background thread (psutil,
    when installed). getrusage cannot tell it: a child's maximum there includes the parent's pages at the fork that
    started it, so it reports the Python process again."""

    def __init__(self, every: float = 0.1):
        self.peak_mb, self.every, self._stop = float("nan"), every, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        me, self.peak_mb = psutil.Process(), 0.0
        while not self._stop.wait(self.every):
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:  # it ended meanwhile
                    pass
            self.peak_mb = max(self.peak_mb, total / 2**20)

    def __enter__(self) -> ChildMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _status_mb(key: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux; NaN elsewhere): VmRSS now, VmHWM its peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 2**10
    except OSError:
        pass
    return float("nan")


def _peak_rss_mb() -> float:
    """This process's peak resident memory. getrusage's maximum would do but for a child started from a larger
    process: it keeps the parent's resident size at the fork (before the exec), so the VmHWM of the process's own
    address space is read where there is one."""
    peak = _status_mb("VmHWM")
    return _max_rss_mb(resource.RUSAGE_SELF) if np.isnan(peak) else peak


def memory_run(path: str, classifier_dir: str | None, core: int | None) -> dict:
    """In a fresh process, the lifter and captioner loaded: resident memory before the video, the peak of one end-to-end
    run on it (this process's peak RSS) and the peak of its ffmpeg children (sampled)."""
    one_core(core)
    from motionmill.video.annotate import AnnotateConfig, _regressor
    from motionmill.video.pose import require_mediapipe

    require_mediapipe()
    classifier = load_classifier(classifier_dir)
    _regressor(AnnotateConfig().lifter)
    before = _status_mb("VmRSS")
    start = cpu()
    with ChildMemory() as children:
        frames, _ = end_to_end(path, classifier)
    return {
        "video": Path(path).name,
        "frames": frames,
        "cpu_s": cpu() - start,
        "before_mb": before,
        "peak_mb": _peak_rss_mb(),
        "ffmpeg_peak_mb": children.peak_mb,
    }


def length_growth(path: str) -> dict:
    """Memory that grows with a video's length, by tracemalloc (Python objects and numpy arrays; MediaPipe's buffers
    do not depend on the length): what annotate's pass keeps per frame, as the slope of the traced memory once the
    shot detector's window of recent thumbnails is full, and the peak of the steps after the pass per frame (they
    hold one shot's tracks at a time, so this grows with the longest shot). Untimed: tracemalloc slows allocation."""
    import tracemalloc

    from motionmill.video import annotate
    from motionmill.video.pose import PoseEstimator

    traced = []

    class Sampled(PoseEstimator):
        def __call__(self, frame):
            traced.append(tracemalloc.get_traced_memory()[0])  # at the same point of every frame
            return super().__call__(frame)

    info = annotate.probe(path)
    tracemalloc.start()
    try:
        seen = annotate._read(info, Sampled, annotate.AnnotateConfig().face_every)
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        with given_pass(info, seen):
            _, _, stats = annotate.annotate_video(path)
        after = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    first = 2 * max(annotate.ShotDetector().config.dissolve_halves) + 10  # the detector keeps this many thumbnails
    slope = (traced[-1] - traced[first]) / (len(traced) - 1 - first) if len(traced) > first + 30 else float("nan")
    shot = max((x["end"] - x["start"] for x in stats.get("shot_spans", [])), default=len(traced))
    return {"video": Path(path).name, "frames": len(traced), "longest_shot": shot, "pass_bytes_per_frame": slope,
            "after_pass_peak_bytes_per_frame": after / max(shot, 1)}  # fmt: skip


def render_clip(task: tuple) -> str:
    """Render one built-in clip, cut to `seconds`, from its first closed-loop view."""
    from motionmill.synth.corpus import make_clip
    from motionmill.video.closed_loop import render_video, view_for

    index, seconds, size, path = task
    clip = make_clip(7, index, captions=False)
    render_video(clip.joints[: int(round(seconds * clip.fps))], view_for(7, index, 0), path, clip.fps, size)
    return path


def long_clip_indices(count: int, seconds: float) -> list[int]:
    """The first `count` clip indices of the test split whose clips last at least `seconds`."""
    from motionmill.synth.corpus import make_clip, split_of

    out, index = [], 0
    while len(out) < count:
        if split_of(7, index) == "test" and len(make_clip(7, index, captions=False).joints) >= seconds * FPS:
            out.append(index)
        index += 1
    return out


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def joined(paths: list[str], out: Path) -> str:
    """The videos one after the other in one file (ffmpeg's concat demuxer; they share codec, size and rate)."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in paths))
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out))
    return str(out)


def first_third(path: str, out: Path) -> str:
    """The first third of a video, its video stream copied (no re-encoding, so it decodes as the original does)."""
    from motionmill.video.decode import probe

    duration = probe(path).duration
    if duration <= 0:
        raise SystemExit(f"{path}: its duration is unknown, so its first third cannot be cut for the memory check")
    ffmpeg("-i", path, "-t", f"{duration / 3:.3f}", "-map", "0:v:0", "-c", "copy", str(out))
    return str(out)


def _size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="built-in clips rendered and measured")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each rendered clip")
    parser.add_argument("--size", type=_size, default=(640, 480), help="rendered video size, WxH")
    parser.add_argument("--video", type=Path, help="measure this file instead of rendered clips")
    parser.add_argument("--classifier", help="action classifier folder (default: the shipped one)")
    parser.add_argument("--core", type=int, default=None, help="CPU to pin to (default: the first one allowed)")
    parser.add_argument("--render-workers", type=int, default=2, help="processes rendering the clips (not timed)")
    parser.add_argument("--hours", type=float, default=2000.0, help="hours of video in the projection")
    parser.add_argument("--source-fps", type=float, default=30.0, help="assumed frame rate of the source video")
    parser.add_argument("--cores", type=int, default=512, help="cores of the example cluster")
    parser.add_argument("--price-per-core-hour", type=float, default=0.04,
                        help="USD; about the on-demand price of one cloud vCPU")  # fmt: skip
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    try:
        classifier = load_classifier(args.classifier)
    except FileNotFoundError as e:
        parser.error(f"{e}; fit one (motionmill video fit-captioner, or video/caption_fit.py) and pass --classifier")
    with tempfile.TemporaryDirectory() as folder:
        if args.video:
            from motionmill.video.decode import VideoError, probe

            try:
                probe(args.video)
            except VideoError as e:
                parser.error(str(e))
            videos = [str(args.video)]
            long = videos[0]
            short = first_third(long, Path(folder) / f"short{args.video.suffix}")
        else:
            indices = long_clip_indices(args.clips, args.seconds)
            tasks = [(i, args.seconds, args.size, str(Path(folder) / f"clip{i}.mp4")) for i in indices]
            print(f"rendering {len(tasks)} clips of {args.seconds:g} s at {args.size[0]}x{args.size[1]} (not timed)",
                  flush=True)  # fmt: skip
            with ProcessPoolExecutor(args.render_workers, mp_context=get_context("spawn")) as pool:
                videos = list(pool.map(render_clip, tasks))
            short = videos[0]
            long = joined([videos[k % len(videos)] for k in range(3)], Path(folder) / "long.mp4")
        report = measure(videos, short, long, classifier, args)
    print_report(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


def measure(videos: list[str], short: str, long: str, classifier, args) -> dict:
    """Every measurement, pinned to one core: stages, end to end, then memory in fresh processes."""
    core = one_core(args.core)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"measuring on CPU {core} (load average {load:.1f} on {os.cpu_count()} CPUs)", flush=True)
    warm_up(videos[0], classifier)
    spent = dict.fromkeys(STAGES, 0.0)
    frames, counted, clip_frames, rows = 0, 0, 0, []
    for path in videos:
        info, seen, pass_spent, faces, shots_seconds = timed_pass(path)
        clips, rejections, after = after_pass(path, info, seen, shots_seconds)
        kept, ik, caption = ik_and_caption(clips, classifier)
        for name, value in [*pass_spent.items(), ("after pass", after), ("ik", ik), ("caption", caption)]:
            spent[name] += value
        frames += len(seen.poses)
        counted += faces
        clip_frames += kept
        spans = [(c.start, c.end) for c in clips]
        rows.append({"video": Path(path).name, "frames": len(seen.poses), "fps": info.fps, "size": list(info.size),
                     "clips": spans, "rejections": [r.filter for r in rejections]})  # fmt: skip
        print(f"  stages: {Path(path).name}, {len(seen.poses)} frames, {len(clips)} clips kept", flush=True)
    e2e_cpu = e2e_wall = 0.0
    for path, row in zip(videos, rows, strict=True):
        start, wall = cpu(), time.perf_counter()
        _, kept = end_to_end(path, classifier)
        e2e_cpu += cpu() - start
        e2e_wall += time.perf_counter() - wall
        # the stages' pass is a copy of annotate's: if they kept different clips, the copy is out of date
        row["same_clips_end_to_end"] = kept == row["clips"]
        print(f"  end to end: {row['video']}", flush=True)
    memory = {}
    for name, path in (("short", short), ("long", long)):
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:  # fresh: a peak spans a process's life
            memory[name] = pool.submit(memory_run, path, args.classifier, core).result()
        print(f"  memory: {name} video", flush=True)
    memory["growth"] = length_growth(short)
    processed = {"decode": frames, "shots": frames, "pose": frames, "faces": counted, "background": frames,
                 "after pass": frames, "ik": clip_frames, "caption": clip_frames}  # fmt: skip
    e2e_fps = frames / e2e_cpu
    total = args.hours * 3600 * args.source_fps
    core_hours = total / e2e_fps / 3600
    return {
        "machine": {
            "cpu": _cpu_name(),
            "cpus": os.cpu_count(),
            "pinned_to": core,
            "load_average": load,
            "python": platform.python_version(),
        },  # fmt: skip
        "videos": rows,
        "frames": frames,
        "stages": {name: {"frames": processed[name], "cpu_s": spent[name]} for name in STAGES},
        "end_to_end": {"frames": frames, "cpu_s": e2e_cpu, "wall_s": e2e_wall, "fps_per_core": e2e_fps},
        "memory": memory,
        "projection": {
            "hours": args.hours,
            "source_fps": args.source_fps,
            "frames": total,
            "core_hours": core_hours,
            "cores": args.cores,
            "wall_hours": core_hours / args.cores,
            "price_per_core_hour": args.price_per_core_hour,
            "cost_usd": core_hours * args.price_per_core_hour,
        },  # fmt: skip
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _per_second(count: float, seconds: float) -> float:
    return count / seconds if count and seconds > 0 else float("nan")


def print_report(r: dict) -> None:
    frames, stages, m, e, p = r["frames"], r["stages"], r["machine"], r["end_to_end"], r["projection"]
    whole = sum(s["cpu_s"] for s in stages.values())
    sizes = sorted({"x".join(map(str, v["size"])) for v in r["videos"]})
    print(f"\n{len(r['videos'])} videos, {frames} frames decoded at {', '.join(sizes)}; {m['cpu']}")
    print(f"pinned to CPU {m['pinned_to']}, one thread per library; load average {m['load_average']:.1f} on "
          f"{m['cpus']} CPUs")  # fmt: skip
    print("times: CPU seconds of this process and of ffmpeg; frames/s per core = frames / CPU seconds\n")
    print(f"{'stage':<32}{'frames':>8}{'frames/s':>10}{'video fr/s':>12}{'ms/video fr':>13}{'share':>8}")
    rows = [(LABELS[n], stages[n]["frames"], stages[n]["cpu_s"]) for n in STAGES]
    rows += [("sum of the stages", frames, whole), ("end to end", frames, e["cpu_s"])]
    for label, count, seconds in rows:
        print(f"{label:<32}{count:>8}{_per_second(count, seconds):>10.1f}{_per_second(frames, seconds):>12.1f}"
              f"{1000 * seconds / frames:>13.2f}{seconds / whole:>8.1%}")  # fmt: skip
    print("frames/s: of the frames the stage handles (faces: the counted frames; IK and captioning: the kept clips'")
    print("frames at 30 fps); video fr/s, ms/video fr: per frame of video; share: of the sum of the stages")
    top = max(STAGES, key=lambda n: stages[n]["cpu_s"])
    print(f"bottleneck: {LABELS[top]}, {stages[top]['cpu_s'] / whole:.0%} of the time")
    print(f"end to end wall clock: {frames / e['wall_s']:.1f} frames/s (CPU time {e['cpu_s'] / e['wall_s']:.0%} of "
          f"the wall clock; below 100% when other jobs share the CPU)")  # fmt: skip
    if not all(v["same_clips_end_to_end"] for v in r["videos"]):
        print("warning: the stages' copy of annotate's pass kept other clips than annotate_video: update it")
    print("\npeak memory of one end-to-end run, each in a fresh process (Python: peak RSS, VmHWM; the lifter and")
    print("captioner loaded before the video, MediaPipe's graphs built by annotate; ffmpeg: sampled every 0.1 s)")
    for name in ("short", "long"):
        x = r["memory"][name]
        print(f"  {name:<5} video, {x['frames']:>5} frames: Python {x['peak_mb']:.0f} MB at peak "
              f"({x['before_mb']:.0f} MB before the video), ffmpeg {x['ffmpeg_peak_mb']:.0f} MB; "
              f"{x['frames'] / x['cpu_s']:.1f} frames/s per core")  # fmt: skip
    short, long = r["memory"]["short"], r["memory"]["long"]
    grew, ffmpeg_grew = long["peak_mb"] - short["peak_mb"], long["ffmpeg_peak_mb"] - short["ffmpeg_peak_mb"]
    print(f"  {long['frames'] / short['frames']:.1f}x the frames: Python's peak {grew:+.0f} MB, "
          f"ffmpeg's {ffmpeg_grew:+.0f} MB")  # fmt: skip
    g = r["memory"]["growth"]
    hour = 3600 * r["projection"]["source_fps"] / 2**20  # frames per hour, bytes to MB
    print(f"  what grows with length (tracemalloc, {g['video']}): the pass keeps {g['pass_bytes_per_frame'] / 1024:.1f}"
          f" KB per frame, {g['pass_bytes_per_frame'] * hour:,.0f} MB per hour of video;")  # fmt: skip
    print(f"  the steps after the pass peak at {g['after_pass_peak_bytes_per_frame'] / 1024:.1f} KB per frame of the "
          f"longest shot, {g['after_pass_peak_bytes_per_frame'] * hour:,.0f} MB for a shot of an hour")  # fmt: skip
    print(f"\nprojection: {p['hours']:,.0f} h of video at {p['source_fps']:g} fps, every frame processed: "
          f"{p['frames'] / 1e6:,.0f} M frames")  # fmt: skip
    print(f"  at {e['fps_per_core']:.1f} frames/s per core (end to end, measured): {p['core_hours']:,.0f} core-hours")
    print(f"  on {p['cores']} cores: {p['wall_hours']:,.1f} h wall clock; {p['cost_usd']:,.0f} USD at "
          f"{p['price_per_core_hour']:.3f} USD per core-hour")  # fmt: skip
    worker = long["peak_mb"] + np.nan_to_num(long["ffmpeg_peak_mb"])
    print(f"  memory: about {worker:.0f} MB per worker (one video at a time), {p['cores'] * worker / 1024:,.0f} GB "
          f"for {p['cores']} workers, plus the growth above for long videos")  # fmt: skip
    print(f"  assumptions: source video at {p['source_fps']:g} fps (--source-fps), every frame decoded and posed;")
    print(f"  an example cluster of {p['cores']} cores (--cores) at {p['price_per_core_hour']:.3f} USD per core-hour")
    print("  (--price-per-core-hour; about a cloud vCPU on demand, not a quote);")
    print("  perfect scaling: Ray scheduling, data transfer, stragglers and model loading not counted;")
    print(f"  decode measured on {', '.join(sizes)} sources: larger ones cost more to decode before ffmpeg scales them")


if __name__ == "__main__":
    main()
