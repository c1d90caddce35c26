"""Benchmark suites with one runner: `motionmill eval protocol|zeroshot|prompts --model DIR --out DIR`.

- `protocol`: the standard text-to-motion protocol (docs/evaluation.md) on a corpus split. Each of `repeats` runs
  draws one caption per clip (its span of the clip when the caption has one), generates at the ground-truth length,
  and scores FID, R-precision@1/2/3 in batches of 32, MM-Dist, Diversity (300 pairs) and MModality (captions x
  generations x 10 pairs) with evaluator embeddings; results are the mean and 95% CI over runs, next to the same
  metrics of the real motions (and the FID of real test motions against real train motions).
- `zeroshot`: the built-in corpus's zero-shot split against its test split, scored by the corpus predicates and by
  the evaluator.
- `prompts`: any prompt file; per-prompt outputs, physics metrics, evaluator text-motion distance and an HTML report
  with a 3D player and a rating form per prompt (`motionmill eval serve` stores ratings in SQLite).

Every suite writes `results.json` and `summary.md` into its output folder. All randomness is seeded: run r of the
protocol uses `np.random.default_rng([seed, r])` for caption choice, generation seeds and metric sampling.

Shape legend: N items, D embedding width, C captions, G generations per caption.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from motionmill.eval import metrics
from motionmill.inference.settings import SamplingSettings
from motionmill.motion.container import Motion
from motionmill.utils.io import atomic_write

__all__ = ["ProtocolConfig", "one_candidate_by_default", "reference_physics", "run_prompts", "run_protocol",
           "run_zeroshot", "write_results"]  # fmt: skip

TOP_K = 3


@dataclass
class ProtocolConfig:
    """How the standard protocol runs (defaults: the published protocol)."""

    split: str = "test"
    repeats: int = 20
    clips: int | None = None
    """Clips of the split per run (None: all)."""
    batch_size: int = 32
    """R-precision batch (32 in the published protocol)."""
    diversity_pairs: int = 300
    mm_captions: int = 100
    mm_generations: int = 30
    mm_pairs: int = 10
    seed: int = 0
    generate_batch: int = 128
    """Prompts generated together."""

    def __post_init__(self) -> None:
        for name in ("repeats", "batch_size", "diversity_pairs", "mm_generations", "mm_pairs", "generate_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.mm_captions < 0 or (self.clips is not None and self.clips < self.batch_size):
            raise ValueError(f"--clips must be >= the R-precision batch ({self.batch_size}) and --mm-captions >= 0")
        if self.clips is not None and self.clips < self.diversity_pairs:  # the published draws pick without replacement
            raise ValueError(f"--clips {self.clips} is fewer than the {self.diversity_pairs} Diversity pairs "
                             "(--diversity-pairs)")  # fmt: skip
        if self.mm_captions and self.mm_pairs > self.mm_generations:  # the published draws pick without replacement
            raise ValueError(f"--mm-generations must be at least the {self.mm_pairs} MModality pairs per caption, "
                             f"got {self.mm_generations}")  # fmt: skip


def _generate(pipe, texts: list[str], seconds: list[float], seeds: list[int], batch: int, desc: str,
              sampling: SamplingSettings | None = None) -> list[Motion]:  # fmt: skip
    from tqdm import tqdm

    out = []
    for b in tqdm(range(0, len(texts), batch), desc=desc, unit="batch", leave=False):
        out += pipe(texts[b : b + batch], seconds=seconds[b : b + batch], seed=seeds[b : b + batch],
                    sampling=sampling)  # fmt: skip
    return out


class _Embeddings:
    """Evaluator embeddings with texts and real clips cached across runs (they do not change between runs)."""

    def __init__(self, evaluator):
        self.evaluator, self.texts, self.clips = evaluator, {}, {}

    def text(self, texts: list[str]) -> np.ndarray:
        missing = sorted(set(texts) - self.texts.keys())
        if missing:
            self.texts.update(zip(missing, self.evaluator.text_embeddings(missing), strict=True))
        return np.stack([self.texts[t] for t in texts])

    def real(self, keys: list, load) -> np.ndarray:
        missing = [k for k in dict.fromkeys(keys) if k not in self.clips]
        if missing:
            self.clips.update(zip(missing, self.evaluator.motion_embeddings([load(k) for k in missing]), strict=True))
        return np.stack([self.clips[k] for k in keys])

    def motions(self, motions: list[Motion]) -> np.ndarray:
        return self.evaluator.motion_embeddings(motions)


def _span_frames(caption: dict, frames: int, fps: float, min_seconds: float = 1.0) -> tuple[int, int]:
    """Frame range a caption describes: its span when it has one of at least `min_seconds`, else the whole clip."""
    start, end = float(caption.get("start") or 0.0), float(caption.get("end") or 0.0)
    first, last = int(np.floor(start * fps)), min(frames, int(np.ceil(end * fps)))
    return (first, last) if end > start and last - first >= min_seconds * fps else (0, frames)


class _Item(NamedTuple):
    """One protocol item: a caption and the frames [first, last) of corpus clip `row` it describes."""

    row: int
    first: int
    last: int
    fps: float
    text: str


def _protocol_items(columns: dict, rng: np.random.Generator, rows: np.ndarray) -> list[_Item]:
    """One random caption per clip, with the frames it describes; `columns` holds the clip table's texts, frames
    and fps."""
    items = []
    for row in rows:
        texts, frames, fps = columns["texts"][row], int(columns["frames"][row]), float(columns["fps"][row])
        caption = texts[int(rng.integers(len(texts)))]
        first, last = _span_frames(caption, frames, fps)
        items.append(_Item(int(row), first, last, fps, caption["text"]))
    return items


def _metric_set(text: np.ndarray, motion: np.ndarray, rng: np.random.Generator, cfg: ProtocolConfig) -> dict:
    """R-precision, MM-Dist and Diversity; Diversity by the published draws and by distinct pairs (`metrics.DRAWS`)."""
    top = metrics.r_precision(text, motion, rng, cfg.batch_size, TOP_K)
    return {**{f"r_precision_top{k + 1}": float(top[k]) for k in range(TOP_K)},
            "matching_score": metrics.matching_score(text, motion),
            "diversity": metrics.diversity(motion, rng, cfg.diversity_pairs),
            "diversity_distinct_pairs": metrics.diversity(motion, rng, cfg.diversity_pairs, "distinct")}  # fmt: skip


def one_candidate_by_default(sampling: SamplingSettings | None) -> SamplingSettings:
    """Evaluator suites sample one motion per caption unless `candidates` is given: a pipeline that keeps the best of
    N by an evaluator's similarity, judged by that same evaluator, would inflate R-precision, MM-Dist and FID."""
    return (sampling or SamplingSettings()).over(SamplingSettings(candidates=1))


def run_protocol(pipe, evaluator, corpus_dir: str | Path, cfg: ProtocolConfig | None = None,
                 sampling: SamplingSettings | None = None) -> dict:  # fmt: skip
    """The standard protocol on `cfg.split` of a corpus; returns per-metric values, mean and 95% CI over runs."""
    from motionmill.data.store import Corpus

    sampling = one_candidate_by_default(sampling)
    cfg = cfg or ProtocolConfig()
    started = time.perf_counter()
    corpus = Corpus(corpus_dir)
    columns = {name: corpus.table.column(name).to_pylist() for name in ("texts", "frames", "fps")}
    rows = np.array([i for i in corpus.indices(cfg.split) if columns["texts"][i]])
    if len(rows) < max(cfg.batch_size, cfg.diversity_pairs):
        raise ValueError(f"{corpus_dir}: split {cfg.split!r} has {len(rows)} captioned clips; the protocol needs "
                         f"at least {max(cfg.batch_size, cfg.diversity_pairs)} (the R-precision batch and the "
                         f"Diversity pairs)")  # fmt: skip
    if cfg.clips is not None:
        rows = np.sort(np.random.default_rng([cfg.seed, 1]).choice(rows, min(cfg.clips, len(rows)), replace=False))
    emb = _Embeddings(evaluator)

    def load(item: _Item) -> Motion:
        return Motion(corpus.clip(item.row)[item.first : item.last].astype(np.float64), item.fps)

    runs = []
    for r in range(cfg.repeats):
        rng = np.random.default_rng([cfg.seed, r])
        items = _protocol_items(columns, rng, rows)
        captions = [it.text for it in items]
        seconds = [min((it.last - it.first) / it.fps, pipe.max_seconds) for it in items]
        seeds = rng.integers(0, 2**31 - 1, len(items)).tolist()
        generated = _generate(pipe, captions, seconds, seeds, cfg.generate_batch, f"run {r + 1}/{cfg.repeats}",
                              sampling)  # fmt: skip
        text, real = emb.text(captions), emb.real(items, load)
        gen = emb.motions(generated)
        run = {"generated": {"fid": metrics.fid(real, gen), **_metric_set(text, gen, rng, cfg)},
               "real": _metric_set(text, real, rng, cfg)}  # fmt: skip
        if cfg.mm_captions:
            run["generated"].update(_multimodality(pipe, emb, items, seconds, rng, cfg, sampling))
        runs.append(run)
    return {"suite": "protocol", "config": asdict(cfg), "clips": len(rows),
            "sampling": asdict(pipe.settings(sampling)),
            "generated": _aggregate([r["generated"] for r in runs]), "real": _aggregate([r["real"] for r in runs]),
            "fid_real_train_vs_test": _real_fid(corpus, evaluator, cfg, rows),
            "seconds": time.perf_counter() - started}  # fmt: skip


def _multimodality(pipe, emb, items, seconds, rng, cfg: ProtocolConfig, sampling: SamplingSettings) -> dict:
    chosen = rng.choice(len(items), min(cfg.mm_captions, len(items)), replace=False)
    texts = [items[i].text for i in chosen for _ in range(cfg.mm_generations)]
    lengths = [seconds[i] for i in chosen for _ in range(cfg.mm_generations)]
    seeds = rng.integers(0, 2**31 - 1, len(texts)).tolist()
    generated = _generate(pipe, texts, lengths, seeds, cfg.generate_batch, "multimodality", sampling)
    per_caption = emb.motions(generated).reshape(len(chosen), cfg.mm_generations, -1)
    return {
        "multimodality": metrics.multimodality(per_caption, rng, cfg.mm_pairs),
        "multimodality_distinct_pairs": metrics.multimodality(per_caption, rng, cfg.mm_pairs, "distinct"),
    }


def _real_fid(corpus, evaluator, cfg: ProtocolConfig, rows: np.ndarray) -> float:
    """FID of whole real clips of the split against as many whole real train clips: the floor FID can reach."""
    train = corpus.indices("train")
    if len(train) < 2:
        return float("nan")
    picked = np.random.default_rng([cfg.seed, 2]).choice(train, min(len(train), len(rows)), replace=False)

    fps = corpus.table.column("fps").to_numpy()

    def whole(indices):
        return [Motion(corpus.clip(int(i)).astype(np.float64), float(fps[i])) for i in indices]

    return metrics.fid(evaluator.motion_embeddings(whole(picked)), evaluator.motion_embeddings(whole(rows)))


def _aggregate(runs: list[dict]) -> dict:
    out = {}
    for name in runs[0]:
        values = [r[name] for r in runs]
        mean, ci = metrics.mean_ci(values)
        out[name] = {"mean": mean, "ci95": ci, "values": values}
    return out


def run_zeroshot(pipe, evaluator, clips: int = 500, seed: int = 0, batch_size: int = 32,
                 generate_batch: int = 100, sampling: SamplingSettings | None = None) -> dict:  # fmt: skip
    """Built-in zero-shot split against the test split: predicate accuracy and evaluator metrics of each."""
    from motionmill.eval.alignment import alignment_clips, generate_for_clips, score_clips, whole_caption

    sampling = one_candidate_by_default(sampling)
    started = time.perf_counter()
    # the published Diversity draws need as many clips as pairs
    cfg = ProtocolConfig(batch_size=batch_size, seed=seed, diversity_pairs=min(ProtocolConfig.diversity_pairs, clips))
    result = {"suite": "zeroshot", "clips": clips, "seed": seed, "sampling": asdict(pipe.settings(sampling))}
    for split in ("test", "zeroshot"):
        chosen = alignment_clips(split, clips, seed)
        generated = generate_for_clips(pipe, chosen, seed, generate_batch, f"zeroshot ({split})", sampling)
        real = [Motion.from_rotations(c.rotations, c.joints, c.plan.fps) for c in chosen]
        text = evaluator.text_embeddings([whole_caption(c) for c in chosen])
        gen, ref = evaluator.motion_embeddings(generated), evaluator.motion_embeddings(real)
        rng = np.random.default_rng([seed, len(split)])
        result[split] = {"predicates": score_clips(chosen, generated),
                         "generated": {"fid": metrics.fid(ref, gen), **_metric_set(text, gen, rng, cfg)},
                         "real": _metric_set(text, ref, rng, cfg)}  # fmt: skip
    accuracy = {split: result[split]["predicates"]["accuracy"] for split in ("test", "zeroshot")}
    result["zeroshot_vs_test_accuracy"] = accuracy["zeroshot"] / max(accuracy["test"], 1e-9)
    result["seconds"] = time.perf_counter() - started
    return result


PROMPT_FILES = (".npy", ".joints.npy", ".bvh")


def reference_physics(clips: int = 100, seed: int = 0) -> dict:
    """Mean physics metrics of `clips` ground-truth clips of the built-in test split: the values to compare with."""
    from motionmill.eval.alignment import alignment_clips
    from motionmill.motion.physics import physics_report

    reports = [physics_report(c.joints, c.plan.fps) for c in alignment_clips("test", clips, seed)]
    return {name: float(np.mean([r[name] for r in reports])) for name in reports[0]}


def run_prompts(pipe, evaluator, prompts: list[str], out: str | Path, seconds: float | None = None, seed: int = 0,
                generate_batch: int = 32, reference: dict | None = None,
                sampling: SamplingSettings | None = None) -> dict:  # fmt: skip
    """Generate every prompt; write its files, physics metrics, evaluator text-motion distance and a rating report."""
    from motionmill.export.formats import write_motion
    from motionmill.export.report import PromptEntry, write_prompts_report
    from motionmill.inference.generate import prompt_stem
    from motionmill.motion.physics import physics_report

    started = time.perf_counter()
    out = Path(out)
    seeds = [seed + i for i in range(len(prompts))]
    motions = _generate(pipe, prompts, [seconds] * len(prompts), seeds, generate_batch, "prompts", sampling)
    distances = np.linalg.norm(evaluator.text_embeddings(prompts) - evaluator.motion_embeddings(motions), axis=1)
    reference = reference if reference is not None else reference_physics()
    entries, rows = [], []
    for i, (prompt, motion, distance) in enumerate(zip(prompts, motions, distances, strict=True)):
        stem = prompt_stem(i, prompt)
        for suffix in PROMPT_FILES:
            write_motion(motion, out / "motions" / f"{stem}{suffix}", title=prompt)
        joints = motion.joints()
        row = {"prompt": prompt, "seed": seeds[i], "duration": motion.duration,
               "text_motion_distance": float(distance), **physics_report(joints, motion.fps)}  # fmt: skip
        rows.append({"id": stem, **row})
        metrics_shown = {k: v for k, v in row.items() if k not in ("prompt", "seed")}
        entries.append(PromptEntry(stem, prompt, joints, motion.fps, metrics_shown, reference, pipe.name))
    write_prompts_report(entries, out, f"{len(prompts)} prompts, model {pipe.name}")
    numeric = [k for k in rows[0] if k not in ("id", "prompt", "seed")]
    return {"suite": "prompts", "prompts": len(prompts), "seconds_asked": seconds, "seed": seed,
            "sampling": asdict(pipe.settings(sampling)), "reference": reference,
            "mean": {k: float(np.mean([r[k] for r in rows])) for k in numeric}, "per_prompt": rows,
            "seconds": time.perf_counter() - started}  # fmt: skip


def write_results(result: dict, out: str | Path, title: str) -> Path:
    """`results.json` and a Markdown `summary.md` of a suite's result in `out`; returns the summary path."""
    out = Path(out)
    atomic_write(out / "results.json", json.dumps(result, indent=2) + "\n")
    lines = [f"# {title}", "", f"Sampling: {result.get('sampling')}", ""]
    if result["suite"] == "protocol":
        lines += _protocol_table(result)
    elif result["suite"] == "zeroshot":
        lines += _zeroshot_table(result)
    elif result["suite"] == "prompts":
        lines += [f"{result['prompts']} prompts; open report.html through `motionmill eval serve` to rate them.", "",
                  "| metric | mean over prompts | reference (built-in corpus) |", "|---|---|---|"]  # fmt: skip
        for name, value in result["mean"].items():
            ref = result["reference"].get(name)
            lines.append(f"| {name} | {value:.4g} | {'-' if ref is None else f'{ref:.4g}'} |")
    lines += ["", f"Run time: {result.get('seconds', 0.0):.0f} s.", ""]
    atomic_write(out / "summary.md", "\n".join(lines))
    return out / "summary.md"


def _protocol_table(result: dict) -> list[str]:
    cfg = result["config"]
    lines = [f"{cfg['repeats']} runs over {result['clips']} clips of the {cfg['split']} split, mean ± 95% CI.", "",
             "| metric | generated | real |", "|---|---|---|"]  # fmt: skip
    for name, stats in result["generated"].items():
        real = result["real"].get(name)
        real_text = f"{real['mean']:.3f} ± {real['ci95']:.3f}" if real else "-"
        lines.append(f"| {name} | {stats['mean']:.3f} ± {stats['ci95']:.3f} | {real_text} |")
    lines.append(f"| fid (real train vs real {cfg['split']}) | - | {result['fid_real_train_vs_test']:.3f} |")
    return lines


def _or_dash(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _zeroshot_table(result: dict) -> list[str]:
    lines = [f"{result['clips']} clips per split.", "", "| metric | test | zeroshot |", "|---|---|---|"]
    rows = [("predicate accuracy", lambda s: s["predicates"]["accuracy"]),
            ("predicate accuracy (real)", lambda s: s["predicates"]["ground_truth_accuracy"]),
            ("foot skating (real)", lambda s: f"{s['predicates']['foot_skating']:.3f} "
                                              f"({s['predicates']['ground_truth_foot_skating']:.3f})")]  # fmt: skip
    rows += [(f"{name} (real)", lambda s, n=name: f"{s['generated'][n]:.3f} ({_or_dash(s['real'].get(n))})")
             for name in result["test"]["generated"]]  # fmt: skip
    for label, get in rows:
        cells = [get(result[split]) for split in ("test", "zeroshot")]
        lines.append(f"| {label} | " + " | ".join(c if isinstance(c, str) else f"{c:.3f}" for c in cells) + " |")
    return lines
