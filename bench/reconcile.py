"""Reconciliation (`motionmill.motion.reconcile`) on motions of the built-in model: every output before and after.

The motions: the built-in model at its default sampling settings (best of 16, step by step), one per test-split clip
of the built-in corpus (seed 0; the first `--motions` clips that `eval alignment` also uses), from the clip's
whole-clip caption at the clip's duration, clip i with seed i, as `bench/foot_cleanup.py` picks them; their raw
decoded features (`raw=True`) are cached in `--cache`, so a rerun only times and measures the reconciliation.
`--cache runs/foot_cleanup/generated` reuses that bench's cache when it holds raw features of the same motions.

Measures, per method (`--methods`; `ik@0` is `ik` without smoothing the predicted positions):

- worst bone drift (largest change of one bone's length within a clip, over all clips) of each output read back
  from its file: `.joints.npy`, the BVH (read and run through FK), the SMPL export (FK on a default body) and the
  GLB (FK of its nodes, as `tests/export/test_gltf.py` parses it);
- cross-output agreement: the largest distance between a joint of `.joints.npy` and the same joint of another
  output, same frame;
- the mean distance of the reconciled joints to the predicted positions (`reconcile_report`: after the turn about
  Y and the shift that re-encoding applies to the whole motion);
- foot skating (`physics.foot_skating_ratio`) and jerk (`physics.jerk`: mean and peak per clip, averaged);
- the reconciliation's time per motion, as a ratio of the generation time per motion (timed on `--time-motions`
  motions generated fresh in batches of 10, the cache's batch).

`--alignment N` adds predicate accuracy (`motionmill.eval.alignment`, as `motionmill eval alignment` scores it) on N
test and N zero-shot captions (`--alignment-splits`), raw and reconciled: the motions are generated once, raw, at the
defaults (clip i with seed i, cached per split beside `--cache`), and scored as they are and after `reconcile`
(which is what the pipeline returns by default). `--motions-only` skips the 200-motion tables.

The default smoothing was chosen on val: `python bench/reconcile.py --split val --motions 100 --cache
runs/reconcile/val --methods ik@0,ik@0.25,ik@0.4,ik@0.5,ik@0.6,ik@0.75,ik@1 --no-files --time-motions 0`.

Run: `python bench/reconcile.py [--motions 200] [--cache runs/reconcile/generated] [--methods fk,ik]
[--alignment 500]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from motionmill.motion import physics
from motionmill.motion.container import Motion
from motionmill.motion.reconcile import DEFAULT_SMOOTH, METHODS, reconcile, reconcile_report
from motionmill.motion.skeleton import SMPL22

TESTS = Path(__file__).resolve().parents[1] / "tests"
# the tests' helpers and the other benches, imported by their module names
sys.path[:0] = [str(TESTS), str(TESTS / "export"), str(TESTS / "motion"), str(Path(__file__).parent)]
from test_reconcile import output_joints  # noqa: E402  (each output file's joints, read back)

OUTPUTS = ("joints.npy", "bvh", "smpl", "glb")
BATCH = 10


def generated_motions(count: int, cache: Path, model: str = "builtin", split: str = "test") -> list[Motion]:
    """`count` raw motions of the model at its default settings: those of bench/foot_cleanup.py (same clips, seeds
    and cache layout), so the two benches can share one cache."""
    from foot_cleanup import generated_motions as foot_cleanup_motions

    return foot_cleanup_motions(count, cache, model, batch=BATCH, split=split)[0]


def generation_seconds(count: int, model: str = "builtin") -> float:
    """Seconds per motion to generate `count` motions (the first test clips, batches of BATCH), raw."""
    from motionmill.eval.alignment import alignment_clips, whole_caption
    from motionmill.inference.pipeline import TextToMotion

    pipe = TextToMotion.from_pretrained(model)
    clips = alignment_clips("test", count, seed=0)
    pipe([whole_caption(clips[0])], seconds=[1.0], seed=0, raw=True)  # warm-up
    started = time.perf_counter()
    for b in range(0, count, BATCH):
        chunk = list(range(b, min(b + BATCH, count)))
        seconds = [min(clips[i].plan.duration, pipe.max_seconds) for i in chunk]
        pipe([whole_caption(clips[i]) for i in chunk], seconds=seconds, seed=chunk, raw=True)
    return (time.perf_counter() - started) / count


def files_measures(motions: list[Motion]) -> dict[str, float]:
    """Worst bone drift per output and worst disagreement of an output with .joints.npy, over `motions` (m)."""
    drift = dict.fromkeys(OUTPUTS, 0.0)
    apart = dict.fromkeys(OUTPUTS[1:], 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        for motion in motions:
            joints = output_joints(motion, Path(tmp) / "m")
            for name in OUTPUTS:
                drift[name] = max(drift[name], float(physics.bone_length_drift(joints[name], SMPL22.parents).max()))
            for name in OUTPUTS[1:]:
                gap = float(np.linalg.norm(joints[name] - joints["joints.npy"], axis=-1).max())
                apart[name] = max(apart[name], gap)
    return {**{f"drift {k}": v for k, v in drift.items()}, **{f"apart {k}": v for k, v in apart.items()}}


def motion_measures(motions: list[Motion]) -> dict[str, float]:
    jerks = [physics.jerk(m.joints(), m.fps) for m in motions]
    skating = [physics.foot_skating_ratio(m.joints(), m.fps) for m in motions]
    return {"skating": float(np.mean(skating)), "jerk": float(np.mean([j.mean() for j in jerks])),
            "jerk peak": float(np.mean([j.max() for j in jerks]))}  # fmt: skip


def reconciled(motion: Motion, spec: str) -> Motion:
    """`reconcile` by a method spec: `method` (default smoothing) or `method@sigma` (that smoothing, in frames)."""
    method, _, sigma = spec.partition("@")
    return reconcile(motion, method, smooth_frames=float(sigma) if sigma else DEFAULT_SMOOTH)


def run(motions: list[Motion], methods: list[str], gen_seconds: float | None, files: bool = True) -> list[dict]:
    rows = [{"method": "raw (decoded)", **motion_measures(motions), **(files_measures(motions) if files else {})}]
    for method in methods:
        started = time.perf_counter()
        out = [reconciled(m, method) for m in motions]
        seconds = (time.perf_counter() - started) / len(motions)
        reports = [reconcile_report(a, b) for a, b in zip(motions, out, strict=True)]
        rows.append({"method": method, **motion_measures(out), **(files_measures(out) if files else {}),
                     "distance": float(np.mean([r.mean_distance_m for r in reports])),
                     "distance max": float(np.max([r.max_distance_m for r in reports])),
                     "ms": 1000 * seconds,
                     "ratio": seconds / gen_seconds if gen_seconds else float("nan")})  # fmt: skip
    return rows


def table(rows: list[dict], gen_seconds: float | None, command: str) -> str:
    def cm(v):
        return f"{100 * v:.2f}"

    def mm(v):
        return f"{1000 * v:.4f}" if v < 0.1 else f"{1000 * v:.1f}"

    lines = [f"`{command}`", ""]
    if "drift joints.npy" in rows[0]:
        lines += ["| motion | worst bone drift (mm): joints.npy / BVH / SMPL / GLB | largest gap to joints.npy (mm): "
                  "BVH / SMPL / GLB |", "|---|---|---|"]  # fmt: skip
        for r in rows:
            lines.append(f"| {r['method']} | {' / '.join(mm(r['drift ' + k]) for k in OUTPUTS)} | "
                         f"{' / '.join(mm(r['apart ' + k]) for k in OUTPUTS[1:])} |")  # fmt: skip
        lines.append("")
    lines += ["| motion | mean (max) distance to predicted positions (cm) | foot skating | jerk mean / peak (m/s^3) | "
              "time per motion (ms) | time / generation time |", "|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        dist = f"{cm(r['distance'])} ({cm(r['distance max'])})" if "distance" in r else "-"
        time_ = f"{r['ms']:.1f} | {100 * r['ratio']:.1f}%" if "ms" in r else "- | -"
        jerk = f"{r['jerk']:.0f} / {r['jerk peak']:.0f}"
        lines.append(f"| {r['method']} | {dist} | {r['skating']:.4f} | {jerk} | {time_} |")
    if gen_seconds:
        lines.append(f"\ngeneration: {gen_seconds:.2f} s per motion (batches of {BATCH}, default settings)")
    return "\n".join(lines)


def alignment(count: int, methods: list[str], cache: Path, model: str = "builtin",
              splits: tuple[str, ...] = ("test", "zeroshot")) -> str:  # fmt: skip
    """Predicate accuracy on `count` captions of each split, raw and reconciled. The raw motions are cached per
    split under `cache` (as `generated_motions` does), so an interrupted run goes on where it stopped."""
    from foot_cleanup import generated_motions as foot_cleanup_motions

    from motionmill.eval.alignment import score_clips

    lines = ["| split | clips | motion | predicate accuracy | foot skating | ground truth accuracy |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for split in splits:
        raw, clips = foot_cleanup_motions(count, cache / f"alignment-{split}", model, batch=BATCH, split=split)
        for name, motions in [("raw", raw)] + [(m, [reconciled(x, m) for x in raw]) for m in methods]:
            s = score_clips(clips, motions)
            lines.append(f"| {split} | {s['clips']} | {name} | {s['accuracy']:.4f} | {s['foot_skating']:.4f} | "
                         f"{s['ground_truth_accuracy']:.4f} |")  # fmt: skip
            print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--motions", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=Path("runs/reconcile/generated"))
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--split", default="test", help="captions of the tables' motions (val to choose settings)")
    parser.add_argument(
        "--methods",
        default="fk,ik",
        help=f"comma-separated, of {', '.join(METHODS)}; method@S smooths with sigma S frames (default "
        f"{DEFAULT_SMOOTH})",
    )
    parser.add_argument("--time-motions", type=int, default=20, help="motions generated fresh to time generation")
    parser.add_argument("--no-files", action="store_true", help="skip writing and reading back the output files")
    parser.add_argument("--alignment", type=int, default=0, help="also predicate accuracy on N test + N zero-shot")
    parser.add_argument("--alignment-splits", default="test,zeroshot", help="comma-separated splits for --alignment")
    parser.add_argument("--motions-only", action="store_true", help="only --alignment, not the 200-motion tables")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    command = "python bench/reconcile.py " + " ".join(sys.argv[1:])
    if not args.motions_only:
        motions = generated_motions(args.motions, args.cache, args.model, args.split)
        gen = generation_seconds(args.time_motions, args.model) if args.time_motions else None
        print(table(run(motions, methods, gen, files=not args.no_files), gen, command.strip()), flush=True)
    if args.alignment:
        print()
        splits = tuple(s for s in args.alignment_splits.split(",") if s)
        print(alignment(args.alignment, methods, args.cache.parent, args.model, splits))


if __name__ == "__main__":
    main()
