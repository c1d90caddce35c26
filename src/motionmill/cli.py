"""The `motionmill` command line: a table of plain functions, one per subcommand.

Every command turns bad input into a one-line `motionmill: error: ...` message and exit status 2, never a
traceback; `--debug` shows the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from motionmill.inference.settings import DEFAULTS, SamplingSettings

__all__ = ["main"]


def convert(src: str, dst: str, fps: float | None = None, out_fps: float | None = None, title: str = "",
            units: str = "auto", up: str = "auto", bvh_units: str = "m", rig: str = "smpl",
            skeleton: str | None = None, cleanup: bool = False) -> None:  # fmt: skip
    """Convert a motion between formats chosen by file name (features .npy, .joints.npy, .bvh of any common rig,
    .smpl.npz, CMU's .amc in; the first four plus .glb, .gif, .mp4, .html out)."""
    from motionmill.export.formats import read_motion, write_motion

    motion = read_motion(src, fps, units=units, up=up, skeleton=skeleton)
    if synthesised := motion.meta.get("synthesised_joints"):
        print(f"{src}: {motion.meta['rig']} rig; joints it lacks, synthesised: {', '.join(synthesised)}")
    if out_fps:
        motion = motion.resample(out_fps)
    if cleanup:
        motion = _clean_feet(motion, src)
    write_motion(motion, dst, title=title or Path(src).name, bvh_units=bvh_units, rig=rig)
    print(f"{dst}: {motion.num_frames} frames, {motion.duration:.2f} s at {motion.fps:g} fps")


def _clean_feet(motion, name: str):
    """`motion` after the foot-contact clean-up, with one line saying what it did."""
    from motionmill.motion.cleanup import clean_feet

    cleaned, report = clean_feet(motion)
    frames = ", ".join(f"{foot} {n}" for foot, n in report.frames_in_contact.items())
    if report.changed:
        print(f"{name}: feet cleaned up (frames in contact: {frames}; mean correction "
              f"{report.mean_correction_m * 100:.1f} cm)")  # fmt: skip
    else:
        print(f"{name}: feet unchanged ({report.reason})")
    return cleaned


def demo(out: str = "outputs", model: str = "builtin") -> None:
    """Generate motions for a few prompts with the built-in model and write every output format to `out`."""
    from motionmill.demo import run_demo

    run_demo(Path(out), model)


def corpus_build(sources: list[str], out: str, engine: str = "local", workers: int | None = None,
                 shard_size: int = 1000, ray_address: str | None = None, fps: float = 30.0,
                 allow_uncaptioned: bool = False) -> None:  # fmt: skip
    """Build (or resume) a corpus from sources such as builtin:1000, humanml3d:DIR, amass:DIR, bvh:DIR."""
    from motionmill.data.pipeline import BuildConfig, build_corpus
    from motionmill.data.quality import QualityConfig

    cfg = BuildConfig(shard_size=shard_size, workers=workers, engine=engine, ray_address=ray_address, fps=fps,
                      quality=QualityConfig(require_captions=not allow_uncaptioned))  # fmt: skip
    s = build_corpus(sources, Path(out), cfg)
    print(f"{out}: {s['clips']} clips ({s['hours']:.2f} h), {s['quarantined']} quarantined, {s['shards']} shards "
          f"({s['reused']} reused) in {s['seconds']:.1f} s")  # fmt: skip


def corpus_info(corpus: str) -> None:
    """Print a corpus's counts per source and split, hours of motion and rejections per filter."""
    from motionmill.data.pipeline import describe

    print(describe(corpus))


def _convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="input: *.npy (T,272 features), *.joints.npy, *.bvh, *.smpl.npz or *.amc")
    p.add_argument("dst", help="output: *.npy, *.joints.npy, *.bvh, *.smpl.npz, *.glb, *.gif, *.mp4 or *.html")
    p.add_argument("--fps", type=float, default=None, help="frame rate of .npy and .amc inputs (default 30 and 120)")
    p.add_argument("--skeleton", default=None, help="ASF skeleton of an .amc input (default: NAME.asf or the "
                   "subject's NN.asf beside it)")  # fmt: skip
    p.add_argument("--out-fps", type=float, default=None, help="resample the output to this frame rate")
    p.add_argument("--title", default="", help="caption drawn on videos and the HTML page (default: input name)")
    p.add_argument("--units", default="auto", help="length unit of a BVH input: m, cm, mm, in or cmu (CMU's 1/0.45 "
                   "inch) (default: found from its skeleton)")  # fmt: skip
    p.add_argument("--up", default="auto", help="up axis of a BVH input: y or z (default: found from its skeleton)")
    p.add_argument("--bvh-units", default="m", help="length unit of a BVH output: m (default, as MotionMillion and "
                   "Blender), cm, mm, in or cmu")  # fmt: skip
    p.add_argument("--rig", default="smpl", help="joint names of a BVH output: smpl (default) or mixamo (drives a "
                   "Mixamo character)")  # fmt: skip
    p.add_argument("--cleanup", action="store_true", help="lock planted feet (foot-contact clean-up) first")


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="outputs", help="output folder (default: outputs)")
    p.add_argument("--model", default="builtin", help="pipeline folder (default: the built-in model)")


def _corpus_build_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="source specs: builtin:N[:SEED], humanml3d:DIR, "
                   "motionmillion:DIR, amass:DIR, bvh:DIR")  # fmt: skip
    p.add_argument("--out", required=True, help="corpus folder (a rerun resumes: complete shards are kept)")
    p.add_argument("--engine", choices=("local", "ray"), default="local", help="local process pool or Ray tasks")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores; 1 = in-process)")
    p.add_argument("--shard-size", type=int, default=1000, help="items per shard (default 1000)")
    p.add_argument("--ray-address", default=None, help="address of a running Ray cluster (default: start locally)")
    p.add_argument("--fps", type=float, default=30.0, help="corpus frame rate (default 30)")
    p.add_argument("--allow-uncaptioned", action="store_true", help="keep clips without captions (e.g. AMASS)")


def _corpus_info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("corpus", help="a corpus folder written by corpus build")


def train_tokenizer(config: str | None, corpus: str, out: str, steps: int | None = None,
                    init: str | None = None) -> None:  # fmt: skip
    """Train the FSQ tokenizer on a corpus, from fresh weights or another tokenizer's; reruns resume exactly."""
    from motionmill.training.tokenizer import train_tokenizer as run

    run(config, corpus, out, steps=steps, init=init)


def tokenize(tokenizer: str, corpus: str, out: str | None = None) -> None:
    """Write the token ids of every corpus clip (resumable, shard by shard)."""
    from motionmill.training.tokenizer import tokenize_corpus

    tokenize_corpus(tokenizer, corpus, out)


def eval_tokenizer(tokenizer: str, corpus: str, split: str = "test", max_clips: int = 0) -> None:
    """Reconstruction MPJPE (mm), acceleration error, codebook usage and perplexity of a tokenizer."""
    from motionmill.training.tokenizer import eval_tokenizer as run

    run(tokenizer, corpus, split, max_clips)


def _train_tokenizer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="recipe YAML, e.g. configs/tokenizer/tiny.yaml (new runs)")
    p.add_argument("--corpus", required=True, help="corpus folder (motionmill corpus build)")
    p.add_argument("--out", required=True, help="run folder; an existing run resumes with its own config.yaml")
    p.add_argument("--steps", type=int, default=None, help="override train.steps of the recipe")
    p.add_argument("--init", default=None, help="tokenizer run or folder to start from (overrides init.tokenizer); "
                   "with init.train: decoder its codes are kept")  # fmt: skip


def _tokenize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", required=True, help="tokenizer folder or training run folder")
    p.add_argument("--corpus", required=True, help="corpus folder")
    p.add_argument("--out", default=None, help="token folder (default CORPUS/tokens/<tokenizer name>)")


def _eval_tokenizer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", required=True, help="tokenizer folder or training run folder")
    p.add_argument("--corpus", required=True, help="corpus folder")
    p.add_argument("--split", default="test", help="split to evaluate (default test)")
    p.add_argument("--max-clips", type=int, default=0, help="evaluate at most this many clips (0: all)")


def train_generator(config: str | None, corpus: str, tokenizer: str, out: str, steps: int | None = None) -> None:
    """Train the text-conditioned generator on a corpus tokenised by --tokenizer; reruns resume exactly."""
    from motionmill.training.generator import train_generator as run

    run(config, corpus, tokenizer, out, steps=steps)


def _train_generator_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="recipe YAML, e.g. configs/generator/tiny.yaml (new runs)")
    p.add_argument("--corpus", required=True, help="corpus folder (motionmill corpus build)")
    p.add_argument("--tokenizer", required=True, help="tokenizer folder or run; the corpus is tokenised if needed")
    p.add_argument("--out", required=True, help="run folder; an existing run resumes with its own config.yaml")
    p.add_argument("--steps", type=int, default=None, help="override train.steps of the recipe")


def train_evaluator(config: str | None, corpus: str, out: str, steps: int | None = None) -> None:
    """Train the text-motion evaluator (contrastive, TMR-style) on a corpus; reruns resume exactly."""
    from motionmill.training.evaluator import train_evaluator as run

    run(config, corpus, out, steps=steps)


def _train_evaluator_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="recipe YAML, e.g. configs/evaluator/builtin.yaml (new runs)")
    p.add_argument("--corpus", required=True, help="corpus folder (motionmill corpus build)")
    p.add_argument("--out", required=True, help="run folder; an existing run resumes with its own config.yaml")
    p.add_argument("--steps", type=int, default=None, help="override train.steps of the recipe")


def generate(prompts: list[str], out: str, prompts_file: str | None = None, seconds: float | None = None,
             seed: int = 0, model: str = "builtin", rewrite_url: str | None = None, rewrite_model: str | None = None,
             sampling: SamplingSettings | None = None, cleanup: bool = False, raw: bool = False) -> None:  # fmt: skip
    """Generate motion from text: per prompt a .npy, .joints.npy, .bvh, .glb, .gif, .html and a .json record."""
    from motionmill.inference.generate import read_prompts_file, run_generate

    prompts = list(prompts) + (read_prompts_file(prompts_file) if prompts_file else [])
    if not prompts:
        raise ValueError("give at least one prompt, or --prompts-file")
    run_generate(prompts, out, model=model, seconds=seconds, seed=seed, rewrite_url=rewrite_url,
                 rewrite_model=rewrite_model, sampling=sampling, cleanup=cleanup, raw=raw)  # fmt: skip


def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompts", nargs="*", help="text prompts (quote each one)")
    p.add_argument("--prompts-file", default=None, help="a UTF-8 file with one prompt per line")
    p.add_argument("--out", default="outputs/generate", help="output folder (default outputs/generate)")
    p.add_argument("--seconds", type=float, default=None, help="target duration (length control), e.g. 4")
    p.add_argument("--seed", type=int, default=0, help="seed of the first prompt; prompt i uses seed + i")
    _sampling_args(p)
    p.add_argument("--model", default="builtin", help="pipeline folder (default: the built-in model)")
    p.add_argument("--rewrite-url", default=None, help="OpenAI-compatible endpoint to rewrite prompts first")
    p.add_argument("--rewrite-model", default=None, help="model name for --rewrite-url")
    p.add_argument("--cleanup", action="store_true", help="lock planted feet (foot-contact clean-up) in every output")
    p.add_argument(
        "--raw",
        action="store_true",
        help="write the decoded features as predicted, without reconciling them into one rigid motion",
    )


def _sampling_args(p: argparse.ArgumentParser, unset: str = "the model's default") -> None:
    """One option per `SamplingSettings` field, with the field's help; an option left out is `unset`."""
    for f in fields(SamplingSettings):
        flag, kind = "--" + f.name.replace("_", "-"), type(getattr(DEFAULTS, f.name))
        help_text = f"{f.metadata['help']} (unset: {unset})"
        if kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            p.add_argument(flag, type=kind, default=None, metavar=f.name.upper(), help=help_text)


def export_pipeline(tokenizer: str, generator: str, out: str, text_encoder: str = "minilm",
                    reranker: str | None = None, sampling: SamplingSettings | None = None) -> None:  # fmt: skip
    """Assemble a text-to-motion pipeline folder (for --model) from a tokenizer run and a generator run; the sampling
    options given become the pipeline's defaults."""
    from motionmill.inference.pipeline import assemble_pipeline

    folder = assemble_pipeline(tokenizer, generator, out, text_encoder, sampling=sampling, reranker=reranker)
    print(f"pipeline written to {folder}")


def _export_pipeline_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", required=True, help="tokenizer run or folder")
    p.add_argument("--generator", required=True, help="generator run or folder")
    p.add_argument("--out", required=True, help="pipeline folder to write")
    p.add_argument("--text-encoder", default="minilm", help="text encoder the generator was trained with")
    _sampling_args(p, unset="plain sampling: temperature 1, every code, no guidance, 1 candidate, whole prompts")
    p.add_argument("--reranker", default=None, help="evaluator that ranks best-of-N candidates: builtin (the "
                   "shipped one) or an evaluator run or folder, copied into the pipeline; several joined by + "
                   "rank by their mean similarity")  # fmt: skip


def import_motionmillion(tokenizer: str, generator: str, stats: str, text_encoder: str, out: str,
                         levels: str | None = None, n_head: int | None = None) -> None:  # fmt: skip
    """Make a pipeline folder (for --model) from MotionMillion's released tokenizer, generator, mean/std and a local
    flan-t5 folder; the generator is converted without holding two copies of it in memory."""
    from motionmill.inference.pipeline import import_motionmillion as run

    if levels and not all(v.strip().isdigit() for v in levels.split(",")):
        raise ValueError(f"--levels must be comma-separated integers such as 8,8,8,5,5,5, got {levels!r}")
    codes = [int(v) for v in levels.split(",")] if levels else None
    print(f"pipeline written to {run(tokenizer, generator, stats, text_encoder, out, codes, n_head)}")


def _import_motionmillion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", required=True, help="their FSQ tokenizer, e.g. fsq_net_6000000.pth")
    p.add_argument("--generator", required=True, help="their generator, e.g. motionmillion_7B_all.pth")
    p.add_argument("--stats", required=True, help="their mean_std/vector_272 folder (mean.npy, std.npy)")
    p.add_argument("--text-encoder", required=True, help="t5:DIR, a local flan-t5-xl folder (kept by path)")
    p.add_argument("--out", required=True, help="pipeline folder to write")
    p.add_argument("--levels", default=None, help="FSQ levels, e.g. 8,8,8,6,5 (default: from the weights; needed "
                   "only for level sets the number of dims leaves ambiguous)")  # fmt: skip
    p.add_argument("--n-head", type=int, default=None, help="attention heads (default: from their size table by "
                   "depth and width)")  # fmt: skip


def export_evaluator(run: str, out: str) -> None:
    """Copy a trained evaluator's weights, stats and settings (no optimizer state) into a folder for --evaluator."""
    from motionmill.checkpoints.evaluator import load_evaluator, save_evaluator
    from motionmill.utils.provenance import copy_provenance

    model, stats, info = load_evaluator(run)
    print(f"evaluator written to {save_evaluator(model, out, stats, info)}")
    copy_provenance(run, out)


def _export_evaluator_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="evaluator training run or folder")
    p.add_argument("--out", required=True, help="folder to write")


def export_checkpoint(run: str, out: str) -> None:
    """One model folder (config, extras, model.safetensors) from a training run, also from the sharded checkpoint
    of a multi-process run; it loads wherever a tokenizer, generator or evaluator folder is expected."""
    from motionmill.training.state import export_checkpoint as run_export
    from motionmill.utils.provenance import copy_provenance

    print(f"model folder written to {run_export(run, out)}")
    copy_provenance(run, out)


def _export_checkpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="training run (or its checkpoint/ folder)")
    p.add_argument("--out", required=True, help="folder to write")


def synth_report(clips: int = 2000, seed: int = 0) -> None:
    """Plausibility of the built-in corpus: foot skating, penetration, floating, bone lengths, joint limits."""
    from motionmill.synth.report import report

    report(clips, seed)


def synth_contact_sheet(out: str, clips: int = 24, seed: int = 0, start: int = 0) -> None:
    """A PNG with key frames of built-in clips and their captions, to judge the motions at a glance."""
    from motionmill.synth.contact_sheet import write_contact_sheet

    write_contact_sheet(out, seed, n=clips, start=start)
    print(f"contact sheet of {clips} clips written to {out}")


def _synth_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clips", type=int, default=2000, help="clips to measure (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")


def _synth_contact_sheet_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="PNG file to write")
    p.add_argument("--clips", type=int, default=24, help="clips on the sheet (default 24)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    p.add_argument("--start", type=int, default=0, help="index of the first clip (default 0)")


def eval_alignment(model: str, split: str = "test", clips: int = 500, out: str | None = None,
                   sampling: SamplingSettings | None = None) -> None:  # fmt: skip
    """Predicate accuracy of a text-to-motion model on built-in captions (and of the ground truth)."""
    from motionmill.eval.alignment import eval_alignment as run

    run(model, split, clips, out, sampling)


def _eval_alignment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="builtin", help="pipeline folder (default: the built-in model)")
    p.add_argument(
        "--split",
        default="test",
        choices=("test", "zeroshot", "val", "train", "freeform", "freeform_dev"),
        help="corpus split, or freeform / freeform_dev: the free-form evaluation / development prompts "
        "(motionmill.eval.freeform)",
    )
    p.add_argument("--clips", type=int, default=500, help="captions to evaluate (default 500; freeform has fewer)")
    p.add_argument("--out", default=None, help="write the JSON result here too")
    _sampling_args(p)


def eval_serve(report_dir: str, port: int = 8000, db: str | None = None, host: str = "127.0.0.1") -> None:
    """Serve a prompts report for human rating: its forms store ratings in REPORT_DIR/ratings.sqlite (or --db)."""
    from motionmill.serve.ratings import serve_report

    server = serve_report(report_dir, host=host, port=port, db=db)
    print(f"open {server.url} to rate; ratings go to {server.store.path} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def serve(
    model: str = "builtin",
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    store: str | None = None,
) -> None:
    """Serve text to motion over HTTP: the API (POST /v1/motions), a web page at /, /healthz and /metrics."""
    from motionmill.serve.api import ServeSettings, run_server

    run_server(ServeSettings(model=model, host=host, port=port, token=token, store=store))


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="builtin", help="pipeline folder (default: the built-in model)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1); others need --token")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--token", default=None, help="bearer token every API request must send (or MOTIONMILL_TOKEN)")
    p.add_argument("--store", default=None, help="folder for generated files (default: a temporary folder)")


def eval_ratings(report_dir: str, csv: str, db: str | None = None) -> None:
    """Export the human ratings of a prompts report (REPORT_DIR/ratings.sqlite or --db) to a CSV file."""
    from motionmill.export.report import read_index
    from motionmill.serve.ratings import DB_FILE, RatingStore

    read_index(report_dir)  # a folder without a report is named as such, not as a missing database
    db_path = Path(db) if db else Path(report_dir) / DB_FILE
    if not db_path.is_file():  # opening would create an empty database and hide a wrong path
        raise FileNotFoundError(f"{db_path}: no ratings database (run motionmill eval serve {report_dir} first)")
    store = RatingStore.for_report(report_dir, db_path)
    store.export_csv(csv)
    print(f"{len(store.rows())} rating(s) written to {csv}")


def _eval_serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("report_dir", metavar="REPORT_DIR", help="folder with report.html and index.json")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    p.add_argument("--db", default=None, help="SQLite file for the ratings (default REPORT_DIR/ratings.sqlite)")
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1, this machine only)")


def _eval_ratings_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("report_dir", metavar="REPORT_DIR", help="folder with report.html and index.json")
    p.add_argument("--csv", required=True, help="CSV file to write")
    p.add_argument("--db", default=None, help="SQLite file of the ratings (default REPORT_DIR/ratings.sqlite)")


def eval_protocol(model: str, evaluator: str, corpus: str, out: str, split: str = "test", repeats: int = 20,
                  clips: int | None = None, mm_captions: int = 100, mm_generations: int = 30, mm_pairs: int = 10,
                  diversity_pairs: int = 300, seed: int = 0, loader: str = "auto",
                  sampling: SamplingSettings | None = None) -> None:  # fmt: skip
    """The standard text-to-motion protocol (FID, R-precision, MM-Dist, Diversity, MModality; mean and 95% CI) on
    the items the published evaluation loader selects (`loader`, `eval.benchmark.LOADER_CHOICES`)."""
    from motionmill.eval.benchmark import ProtocolConfig, run_protocol, write_results
    from motionmill.inference.evaluator import evaluator_from_spec
    from motionmill.inference.pipeline import TextToMotion

    cfg = ProtocolConfig(split=split, repeats=repeats, clips=clips, mm_captions=mm_captions,
                         mm_generations=mm_generations, mm_pairs=mm_pairs, diversity_pairs=diversity_pairs,
                         seed=seed, loader=loader)  # fmt: skip
    pipe, scorer = TextToMotion.from_pretrained(model), evaluator_from_spec(evaluator)
    result = run_protocol(pipe, scorer, corpus, cfg, sampling)
    summary = write_results({"model": model, "evaluator": evaluator, "corpus": corpus, **result}, out,
                            f"Protocol: {model} on {corpus} ({split})")  # fmt: skip
    print(summary.read_text())


def _eval_protocol_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="builtin", help="pipeline folder (default: the built-in model)")
    p.add_argument("--evaluator", default="builtin", help="evaluator spec (default: the built-in evaluator)")
    p.add_argument("--corpus", required=True, help="corpus folder whose split is evaluated")
    p.add_argument("--out", required=True, help="folder for results.json and summary.md")
    p.add_argument("--split", default="test", help="corpus split (default test)")
    p.add_argument("--repeats", type=int, default=20, help="independent runs (default 20)")
    p.add_argument("--clips", type=int, default=None, help="clips of the split per run (default all)")
    p.add_argument("--mm-captions", type=int, default=100, help="MModality captions per run (default 100; 0 = skip)")
    p.add_argument("--mm-generations", type=int, default=30, help="MModality generations per caption (default 30)")
    p.add_argument("--mm-pairs", type=int, default=10, help="MModality pairs per caption (default 10)")
    p.add_argument("--diversity-pairs", type=int, default=300, help="Diversity pairs per run (default 300; the "
                   "published draws need at least as many clips)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument("--loader", default="auto", choices=("auto", "humanml3d", "motionmillion", "spans"),
                   help="item selection: auto (default: HumanML3D's published loader with a humanml3d: evaluator, "
                   "MotionMillion's otherwise), a published loader by name, or spans (every clip once, from the "
                   "start of a caption's span)")  # fmt: skip
    _sampling_args(p)


def eval_zeroshot(model: str, evaluator: str, out: str, clips: int = 500, seed: int = 0,
                  sampling: SamplingSettings | None = None) -> None:  # fmt: skip
    """The built-in zero-shot split against the test split, scored by predicates and by the evaluator."""
    from motionmill.eval.benchmark import run_zeroshot, write_results
    from motionmill.inference.evaluator import evaluator_from_spec
    from motionmill.inference.pipeline import TextToMotion

    pipe, scorer = TextToMotion.from_pretrained(model), evaluator_from_spec(evaluator)
    result = run_zeroshot(pipe, scorer, clips, seed, sampling=sampling)
    summary = write_results({"model": model, "evaluator": evaluator, **result}, out, f"Zero-shot: {model}")
    print(summary.read_text())


def eval_prompts(prompts_file: str, out: str, model: str = "builtin", evaluator: str = "builtin",
                 seconds: float | None = None, seed: int = 0,
                 sampling: SamplingSettings | None = None) -> None:  # fmt: skip
    """Any prompt file (e.g. MotionMillion-Eval's): outputs, physics, evaluator distance and a rating report."""
    from motionmill.eval.benchmark import run_prompts, write_results
    from motionmill.inference.evaluator import evaluator_from_spec
    from motionmill.inference.generate import read_prompts_file
    from motionmill.inference.pipeline import TextToMotion

    prompts = read_prompts_file(prompts_file)
    pipe, scorer = TextToMotion.from_pretrained(model), evaluator_from_spec(evaluator)
    result = run_prompts(pipe, scorer, prompts, out, seconds, seed, sampling=sampling)
    summary = write_results({"model": model, "evaluator": evaluator, "prompts_file": prompts_file, **result}, out,
                            f"Prompts: {prompts_file} with {model}")  # fmt: skip
    print(summary.read_text())
    print(f"rate them: motionmill eval serve {out}")


def _eval_prompts_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompts_file", help="a UTF-8 file with one prompt per line")
    p.add_argument("--out", required=True, help="folder for the report, motions, results.json and summary.md")
    p.add_argument("--model", default="builtin", help="pipeline folder (default: the built-in model)")
    p.add_argument("--evaluator", default="builtin", help="evaluator spec (default: the built-in evaluator)")
    p.add_argument("--seconds", type=float, default=None, help="duration of every motion (default: the model's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first prompt; prompt i uses seed + i")
    _sampling_args(p)


def _eval_zeroshot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="builtin", help="pipeline folder (default: the built-in model)")
    p.add_argument("--evaluator", default="builtin", help="evaluator spec (default: the built-in evaluator)")
    p.add_argument("--out", required=True, help="folder for results.json and summary.md")
    p.add_argument("--clips", type=int, default=500, help="clips per split (default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    _sampling_args(p)


def video_fit_lifter(out: str, clips: int = 60, val_clips: int = 12, views: int = 2, seconds: float = 4.0,
                     ridge: str = "0.01,0.1,1", workers: int = 2) -> None:  # fmt: skip
    """Fit the landmark-to-joint regressor on built-in train clips rendered to video; pick the ridge on val clips."""
    import subprocess

    from motionmill.video.closed_loop import landmark_pairs, procrustes_mpjpe, split_indices
    from motionmill.video.lift import LandmarkRegressor

    train = split_indices("train", clips)
    val = split_indices("val", val_clips)
    world, joints = landmark_pairs(train, views, seconds, workers=workers)
    val_world, val_joints = landmark_pairs(val, views, seconds, workers=workers)
    results = {}
    for strength in (float(r) for r in ridge.split(",")):
        model = LandmarkRegressor.fit(world, joints, strength)
        results[strength] = float(1000 * procrustes_mpjpe(model(val_world), val_joints).mean())
        print(f"ridge {strength:g}: val Procrustes MPJPE {results[strength]:.1f} mm")
    best = min(results, key=results.get)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    info = {"corpus": "builtin (seed 7)", "train_clips": train, "val_clips": val, "views": views, "seconds": seconds,
            "val_mpjpe_mm": results, "chosen_on": "val", "commit": commit,
            "recipe": f"motionmill video fit-lifter --clips {clips} --val-clips {val_clips} --views {views} "
                      f"--seconds {seconds} --ridge {ridge}"}  # fmt: skip
    LandmarkRegressor.fit(world, joints, best, info).save(out)
    print(f"{out}: ridge {best:g} ({len(world)} training poses), val {results[best]:.1f} mm")


def _video_fit_lifter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="folder for weights.safetensors and info.json")
    p.add_argument("--clips", type=int, default=60, help="built-in train clips rendered (default 60)")
    p.add_argument("--val-clips", type=int, default=12, help="built-in val clips that choose the ridge (default 12)")
    p.add_argument("--views", type=int, default=2, help="camera angles per clip (default 2)")
    p.add_argument("--seconds", type=float, default=4.0, help="seconds of each clip rendered (default 4)")
    p.add_argument("--ridge", default="0.01,0.1,1", help="ridge strengths tried, comma-separated")
    p.add_argument("--workers", type=int, default=2, help="processes rendering and estimating (default 2)")


def video_fit_captioner(out: str, train_clips: int = 6000, val_clips: int = 300, steps: int = 3000,
                        seed: int = 0, recovered: str | None = None, residual_rate: float = 0.6) -> None:  # fmt: skip
    """Fit the offline captioner's action classifier on built-in train clips; keep the best step on val clips."""
    from motionmill.utils.provenance import source_commit
    from motionmill.video.caption_fit import FitConfig, fit_action_classifier

    config = FitConfig(train_clips=train_clips, val_clips=val_clips, steps=steps, seed=seed, recovered=recovered,
                       residual_rate=residual_rate)  # fmt: skip
    classifier = fit_action_classifier(config)
    classifier.info["commit"] = source_commit()
    classifier.info["command"] = (
        f"motionmill video fit-captioner --train-clips {train_clips} --val-clips "
        f"{val_clips} --steps {steps} --seed {seed}"
        + (f" --recovered {recovered} --residual-rate {residual_rate}" if recovered else "")
    )
    classifier.save(out)
    print(f"{out}: val frame accuracy {classifier.info['val_frame_accuracy']:.1%}")


def _video_fit_captioner_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="folder for weights.safetensors, config.json and info.json")
    p.add_argument("--train-clips", type=int, default=6000, help="built-in train clips (default 6000)")
    p.add_argument("--val-clips", type=int, default=300, help="built-in val clips that pick the step (default 300)")
    p.add_argument("--steps", type=int, default=3000, help="optimiser steps of 32 five-second windows (default 3000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation, batches and disturbances")
    p.add_argument("--recovered", help="motions recovered from rendered train clips: python bench/closed_loop.py "
                   "--split train --save DIR (docs/video.md)")  # fmt: skip
    p.add_argument(
        "--residual-rate",
        type=float,
        default=0.6,
        help="share of windows given a recovered motion's error instead of imitated noise (default 0.6)",
    )


def video_inspect(video: str, out: str, lifter: str = "learned") -> None:
    """Annotate one video and write, for checking it by eye, the frames with the tracked landmarks beside the
    recovered motion (inspect.mp4), every kept clip as .npy, .bvh and .html, and report.json."""
    from motionmill.video.annotate import AnnotateConfig
    from motionmill.video.inspect import inspect_video

    report = inspect_video(video, out, AnnotateConfig(lifter=lifter), progress=True)
    print(f"{out}: {report['frames']} frames, shots: {len(report['shots'])}, clips kept: {len(report['clips'])}, "
          f"rejections: {len(report['rejections'])}; see inspect.mp4 and report.json")  # fmt: skip
    if failed := [c["caption_error"] for c in report["clips"] if "caption_error" in c]:
        print(f"{len(failed)} clip(s) without a caption: {failed[0]}")


def _video_inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", help="a video file ffmpeg can read")
    p.add_argument("--out", required=True, help="folder for inspect.mp4, clip<k>.npy/.bvh/.html and report.json")
    p.add_argument("--lifter", default="learned", help="learned (the shipped regressor), geometric, or the folder of "
                   "a regressor fitted by video fit-lifter (default learned)")  # fmt: skip


def plan(preset: str, gpus: int, seq_tokens: int, batch: int, parallel: str = "ddp", precision: str = "bf16",
         gpu_memory: float = 80.0, checkpointing: bool = False, text_tokens: int | None = None,
         attention: str = "fused") -> None:  # fmt: skip
    """Estimate per-GPU memory (weights, gradients, AdamW state, activations, logits) and FLOPs of one generator
    training step, and say whether it fits; the model is built on the meta device, so any preset costs nothing."""
    from motionmill.generator.model import GeneratorConfig
    from motionmill.training.plan import format_plan
    from motionmill.training.plan import plan as make_plan

    p = make_plan(GeneratorConfig.from_name(preset), gpus, seq_tokens, batch, parallel, precision, checkpointing,
                  text_tokens=text_tokens, attention=attention, gpu_memory=gpu_memory)  # fmt: skip
    print(format_plan(p, preset))


def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", required=True, help="generator preset: tiny, small, 111M, 343M, 775M, 1B, 3B or 7B")
    p.add_argument("--gpus", type=int, default=1, help="GPUs taking part (default 1)")
    p.add_argument("--seq-tokens", type=int, default=301, help="tokens per sequence, text + motion (default 301)")
    p.add_argument("--batch", type=int, default=16, help="sequences per GPU (default 16)")
    p.add_argument("--parallel", default="ddp", choices=("ddp", "fsdp"), help="ddp replicates weights, gradients "
                   "and AdamW state; fsdp shards them over the GPUs (default ddp)")  # fmt: skip
    p.add_argument("--precision", default="bf16", choices=("bf16", "fp32"), help="bf16 autocast over fp32 master "
                   "weights, as the training loop on GPUs, or fp32 (default bf16)")  # fmt: skip
    p.add_argument("--gpu-memory", type=float, default=80.0, help="GiB per GPU for the fit verdict (default 80)")
    p.add_argument("--checkpointing", action="store_true", help="activation checkpointing of every block")
    p.add_argument("--text-tokens", type=int, default=None, help="text prefix within --seq-tokens (default half, "
                   "at most the preset's max_text_tokens)")  # fmt: skip
    p.add_argument("--attention", default="fused", choices=("fused", "math"), help="fused SDPA kernels keep no "
                   "attention scores; math keeps batch x heads x T x T per layer (default fused)")  # fmt: skip


# name -> (function, argument builder, help). A name with a space is a subcommand of a group ("corpus build").
COMMANDS: dict[str, tuple[Callable, Callable, str]] = {
    "convert": (convert, _convert_args, "convert a motion file to another format"),
    "render": (convert, _convert_args, "alias of convert, e.g. motionmill render walk.npy walk.mp4"),
    "demo": (demo, _demo_args, "run the built-in end-to-end demo"),
    "synth report": (synth_report, _synth_report_args, "plausibility report of the built-in corpus"),
    "synth contact-sheet": (synth_contact_sheet, _synth_contact_sheet_args, "key frames of built-in clips as a PNG"),
    "generate": (generate, _generate_args, "generate motion from text prompts"),
    "export pipeline": (export_pipeline, _export_pipeline_args, "assemble a pipeline folder from training runs"),
    "export evaluator": (export_evaluator, _export_evaluator_args, "an evaluator folder from a training run"),
    "export checkpoint": (export_checkpoint, _export_checkpoint_args, "a model folder from a run, sharded or not"),
    "import motionmillion": (import_motionmillion, _import_motionmillion_args, "pipeline from MotionMillion's weights"),
    "corpus build": (corpus_build, _corpus_build_args, "build or resume a motion corpus from sources"),
    "corpus info": (corpus_info, _corpus_info_args, "counts, hours and rejections of a corpus"),
    "train tokenizer": (train_tokenizer, _train_tokenizer_args, "train the FSQ motion tokenizer"),
    "train generator": (train_generator, _train_generator_args, "train the text-to-motion generator"),
    "train evaluator": (train_evaluator, _train_evaluator_args, "train the text-motion evaluator"),
    "tokenize": (tokenize, _tokenize_args, "token ids for every clip of a corpus"),
    "eval tokenizer": (eval_tokenizer, _eval_tokenizer_args, "reconstruction metrics of a tokenizer"),
    "eval alignment": (eval_alignment, _eval_alignment_args, "predicate accuracy of a model on built-in captions"),
    "eval protocol": (eval_protocol, _eval_protocol_args, "the standard text-to-motion metrics, 20 runs with CIs"),
    "eval zeroshot": (eval_zeroshot, _eval_zeroshot_args, "built-in zero-shot split vs test split"),
    "eval prompts": (eval_prompts, _eval_prompts_args, "any prompt file: outputs, metrics and a rating report"),
    "eval serve": (eval_serve, _eval_serve_args, "serve a prompts report and store its human ratings"),
    "eval ratings": (eval_ratings, _eval_ratings_args, "export the human ratings of a prompts report to CSV"),
    "video fit-lifter": (video_fit_lifter, _video_fit_lifter_args, "fit the landmark-to-joint regressor"),
    "video inspect": (video_inspect, _video_inspect_args, "landmarks beside the recovered motion, to check by eye"),
    "video fit-captioner": (video_fit_captioner, _video_fit_captioner_args, "fit the offline captioner's classifier"),
    "plan": (plan, _plan_args, "per-GPU memory and FLOPs of a generator training step"),
    "serve": (serve, _serve_args, "text to motion over HTTP: API, web page, metrics"),
}


_SAMPLING_FIELDS = tuple(f.name for f in fields(SamplingSettings))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motionmill", description="Text-to-motion and motion corpus tools.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for name, (fn, add_args, help_text) in COMMANDS.items():
        group, _, leaf = name.rpartition(" ")
        if group and group not in groups:
            groups[group] = sub.add_parser(group, help=f"{group} commands").add_subparsers(
                dest="subcommand", required=True, metavar="SUBCOMMAND"
            )
        target = groups[group] if group else sub
        p = target.add_parser(leaf, help=help_text, description=fn.__doc__)
        add_args(p)
        p.set_defaults(_command=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    debug, command = args.pop("debug"), args.pop("_command")
    args.pop("command"), args.pop("subcommand", None)
    fn = COMMANDS[command][0]
    try:
        if sampling := {name: args.pop(name) for name in _SAMPLING_FIELDS if name in args}:
            args["sampling"] = SamplingSettings(**sampling)  # the command's sampling options as one typed request
        fn(**args)
    except KeyboardInterrupt:
        print("motionmill: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            raise
        from motionmill.eval.faults import where

        # Bad input (a missing file, a wrong option value) is one line and status 2. Anything else, or an input-error
        # type raised inside a stage of a suite (`eval.faults.in_stage`), is a defect: status 70, with where it was.
        context = where(e)
        if context is None and isinstance(e, (ValueError, KeyError, FileNotFoundError, ImportError, OSError)):
            msg = e.args[0] if isinstance(e, KeyError) and e.args else e
            print(f"motionmill: error: {msg}", file=sys.stderr)
            return 2
        stage, item = context or (command, "its input")
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"motionmill: internal error in {stage} on {item}: {type(e).__name__}: {message}; rerun with --debug "
              "for the traceback, and report it", file=sys.stderr)  # fmt: skip
        return 70  # EX_SOFTWARE of sysexits.h: a defect, not bad input (status 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
