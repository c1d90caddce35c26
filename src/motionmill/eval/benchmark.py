"""Benchmark suites with one runner: `motionmill eval protocol|zeroshot|prompts --model DIR --out DIR`.

- `protocol`: the standard text-to-motion protocol (docs/evaluation.md) on a corpus split. Each of `repeats` runs
  selects its items as the published evaluation loader does (`eval.loaders`: HumanML3D's with the HumanML3D
  evaluator, MotionMillion's otherwise; `ProtocolConfig.loader`), generates at each item's length, and scores FID,
  R-precision@1/2/3 on the loader's batches of 32, MM-Dist, Diversity (300 pairs) and MModality (captions x
  generations x 10 pairs) with evaluator embeddings, and the rigidity of the generated motions; results are the mean
  and 95% CI over runs, next to the same metrics of the real motions (and the FID of real test motions against real
  train motions).
- `zeroshot`: the built-in corpus's zero-shot split against its test split, scored by the corpus predicates and by
  the evaluator.
- `prompts`: any prompt file; per-prompt outputs, physics metrics, evaluator text-motion distance and an HTML report
  with a 3D player and a rating form per prompt (`motionmill eval serve` stores ratings in SQLite). Each prompt's
  files and record are written as it finishes, so a rerun continues a killed run; the summary has per-group figures
  and flags prompts the body cannot show (`prompt_groups`).

A fault on one item (a prompt, a caption) is recorded in the results and the run goes on (docs/evaluation.md,
"Faults"); every per-motion measure is defined for motions of 2 frames or more ("Short motions").

Every suite writes `results.json` and `summary.md` into its output folder. All randomness is seeded: run r of the
protocol uses `np.random.default_rng([seed, r])` for generation seeds and metric sampling, and the loader's draws
(caption, unit drop, crop, batches) come from RNGs seeded with `eval.loaders.run_seed(seed, r)`.

Shape legend: N items, D embedding width, C captions, G generations per caption.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from motionmill.eval import metrics
from motionmill.eval.loaders import LOADERS, loader_batches, loader_entries, run_seed
from motionmill.inference.settings import SamplingSettings
from motionmill.motion.container import Motion
from motionmill.utils.io import atomic_write

__all__ = ["LOADER_CHOICES", "RIGIDITY", "ProtocolConfig", "one_candidate_by_default", "protocol_loader",
           "reference_physics", "run_prompts", "run_protocol", "run_zeroshot", "write_results"]  # fmt: skip

TOP_K = 3
LOADER_CHOICES = ("auto", *LOADERS, "spans")
"""Item selections of the protocol: "auto" (HumanML3D's loader with the HumanML3D evaluator, MotionMillion's with
any other), a published loader by name, or "spans" (every clip once, from frame 0 of a caption's span)."""
RIGIDITY = ("bone_drift_mm", "output_agreement_mm")
"""Rigidity figures of generated motions (`motion.reconcile.rigidity_report`)."""


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
    loader: str = "auto"
    """Item selection (`LOADER_CHOICES`)."""

    def __post_init__(self) -> None:
        if self.loader not in LOADER_CHOICES:
            raise ValueError(f"--loader must be one of {', '.join(LOADER_CHOICES)}, got {self.loader!r}")
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


def _generate_guarded(pipe, texts: list[str], seconds: list, seeds: list[int], batch: int, desc: str,
                      sampling: SamplingSettings | None, faults: list, where: str) -> list[Motion | None]:  # fmt: skip
    """Motions for `texts` in batches of `batch`; a batch that raises is generated again one caption at a time, and
    a caption that still raises gets None and a fault record (where, stage, caption, error) instead of ending the
    run."""
    from tqdm import tqdm

    from motionmill.eval.faults import describe

    out: list[Motion | None] = []
    for b in tqdm(range(0, len(texts), batch), desc=desc, unit="batch", leave=False):
        part = slice(b, b + batch)
        try:
            out += pipe(texts[part], seconds=seconds[part], seed=seeds[part], sampling=sampling)
            continue
        except Exception:  # find the caption at fault
            pass
        for text, length, seed in zip(texts[part], seconds[part], seeds[part], strict=True):
            try:
                out.append(pipe([text], seconds=[length], seed=[seed], sampling=sampling)[0])
            except Exception as e:
                faults.append({"where": where, "stage": "generate", "caption": text, "error": describe(e)})
                out.append(None)
    return out


def _embed_guarded(fn, items: list, captions: list[str], faults: list, where: str, stage: str) -> list:
    """Embeddings of `items` by `fn` (a list in, rows out); when the batch raises, one item at a time, and an item
    that raises gets None and a fault record."""
    from motionmill.eval.faults import describe

    if not items:
        return []
    try:
        return list(fn(items))
    except Exception:
        pass
    out = []
    for item, caption in zip(items, captions, strict=True):
        try:
            out.append(fn([item])[0])
        except Exception as e:
            faults.append({"where": where, "stage": stage, "caption": caption, "error": describe(e)})
            out.append(None)
    return out


def _kept(*columns: list) -> list[int]:
    """Indices where no column holds None."""
    return [i for i in range(len(columns[0])) if all(c[i] is not None for c in columns)]


def _guarded_metrics(compute: dict, faults: list, where: str) -> dict:
    """Each metric of `compute` (name -> function returning a float or {name: float}); one that raises is NaN and a
    fault record, so the other metrics of the run stand."""
    from motionmill.eval.faults import describe

    out = {}
    for name, fn in compute.items():
        try:
            value = fn()
            out.update(value if isinstance(value, dict) else {name: value})
        except Exception as e:
            faults.append({"where": where, "stage": f"metric {name}", "caption": None, "error": describe(e)})
            out[name] = float("nan")
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


def _metric_set(text: np.ndarray, motion: np.ndarray, rng: np.random.Generator, cfg: ProtocolConfig,
                faults: list | None = None, where: str = "",
                batches: list[np.ndarray] | None = None) -> dict:  # fmt: skip
    """R-precision, MM-Dist and Diversity; Diversity by the published draws and by distinct pairs (`metrics.DRAWS`).
    R-precision ranks within `batches` (index arrays into the N rows, the loader's batches) or, when None, within
    batches of `cfg.batch_size` shuffled by `rng`. A metric that cannot be computed (e.g. fewer pairs than a batch
    after failed captions) is NaN with a fault."""

    def top():
        if batches is None:
            values = metrics.r_precision(text, motion, rng, cfg.batch_size, TOP_K)
        else:
            values = _batched_r_precision(text, motion, rng, batches)
        return {f"r_precision_top{k + 1}": float(values[k]) for k in range(TOP_K)}

    compute = {
        "r_precision": top,
        "matching_score": lambda: metrics.matching_score(text, motion),
        "diversity": lambda: metrics.diversity(motion, rng, cfg.diversity_pairs),
        "diversity_distinct_pairs": lambda: metrics.diversity(motion, rng, cfg.diversity_pairs, "distinct"),
    }
    out = _guarded_metrics(compute, faults if faults is not None else [], where)
    if "r_precision" in out:  # it raised: one NaN per k
        out.pop("r_precision")
        out = {**{f"r_precision_top{k + 1}": float("nan") for k in range(TOP_K)}, **out}
    if faults is None and any(not np.isfinite(v) for v in out.values()):
        raise ValueError(f"{where}: a metric could not be computed")
    return out


def _batched_r_precision(text: np.ndarray, motion: np.ndarray, rng: np.random.Generator,
                         batches: list[np.ndarray]) -> np.ndarray:  # fmt: skip
    """(TOP_K,) R-precision over the given batches of (N, D) `text` and `motion`, each text ranked against its own
    batch, weighted by batch size; a batch left with fewer than TOP_K items after faults is not scored."""
    hits, count = np.zeros(TOP_K), 0
    for batch in batches:
        if len(batch) < TOP_K:
            continue
        hits += len(batch) * metrics.r_precision(text[batch], motion[batch], rng, len(batch), TOP_K)
        count += len(batch)
    if not count:
        raise ValueError(f"no batch has {TOP_K} scored items")
    return hits / count


def one_candidate_by_default(sampling: SamplingSettings | None) -> SamplingSettings:
    """Evaluator suites sample one motion per caption unless `candidates` is given: a pipeline that keeps the best of
    N by an evaluator's similarity, judged by that same evaluator, would inflate R-precision, MM-Dist and FID."""
    return (sampling or SamplingSettings()).over(SamplingSettings(candidates=1))


def protocol_loader(cfg: ProtocolConfig, evaluator) -> str:
    """The item selection of a protocol run: `cfg.loader`, with "auto" resolved by the evaluator: HumanML3D's loader
    for the HumanML3D evaluator (a name starting with "humanml3d:"), MotionMillion's for any other (MotionMillion's
    and the built-in, both on 30 fps 272 features, as the corpus)."""
    if cfg.loader != "auto":
        return cfg.loader
    return "humanml3d" if str(getattr(evaluator, "name", "")).startswith("humanml3d:") else "motionmillion"


def _loader_clips(columns: dict, rows: np.ndarray) -> list[dict]:
    """The clips of `rows` in split order, as `eval.loaders` reads them."""
    return [{"row": int(r), "id": str(columns["id"][r]), "frames": int(columns["frames"][r]),
             "fps": float(columns["fps"][r]), "texts": columns["texts"][r]} for r in rows]  # fmt: skip


def _check_size(loader: str, clips: list[dict], cfg: ProtocolConfig, corpus_dir) -> None:
    """Raise when a run would score fewer items than an R-precision batch or the Diversity pairs."""
    import random

    need = max(cfg.batch_size, cfg.diversity_pairs)
    if loader == "spans":
        if len(clips) < need:
            raise ValueError(f"{corpus_dir}: split {cfg.split!r} has {len(clips)} captioned clips; the protocol "
                             f"needs at least {need} (the R-precision batch and the Diversity pairs)")  # fmt: skip
        return
    entries, pointer = loader_entries(LOADERS[loader], clips, random.Random(0))  # the count needs no draw
    scored = (len(entries) - pointer) // cfg.batch_size * cfg.batch_size
    if scored < need:
        raise ValueError(f"{corpus_dir}: split {cfg.split!r} gives {len(entries) - pointer} items under the {loader} "
                         f"loader's rules ({len(clips)} captioned clips), {scored} in full batches of "
                         f"{cfg.batch_size}; the protocol needs at least {need} (the R-precision batch and the "
                         "Diversity pairs; --loader spans keeps every clip)")  # fmt: skip


def _run_items(loader: str, clips: list[dict], columns: dict, rows: np.ndarray, rng: np.random.Generator,
               cfg: ProtocolConfig, run: int) -> tuple[list[_Item], list[np.ndarray] | None]:  # fmt: skip
    """Run `run`'s items and, under a published loader, its batches (index arrays into the items; None: R-precision
    shuffles the items into batches itself)."""
    if loader == "spans":
        return _protocol_items(columns, rng, rows), None
    drawn = loader_batches(LOADERS[loader], clips, run_seed(cfg.seed, run), cfg.batch_size)
    items = [_Item(*item) for batch in drawn for item in batch]
    return items, [np.arange(b * cfg.batch_size, (b + 1) * cfg.batch_size) for b in range(len(drawn))]


def run_protocol(pipe, evaluator, corpus_dir: str | Path, cfg: ProtocolConfig | None = None,
                 sampling: SamplingSettings | None = None) -> dict:  # fmt: skip
    """The standard protocol on `cfg.split` of a corpus; returns per-metric values, mean and 95% CI over runs.

    Each run's items (caption, frames) and R-precision batches are those of the evaluation loader named by
    `cfg.loader` (`protocol_loader`, docs/evaluation.md "Item selection: the published loaders")."""
    from motionmill.data.store import Corpus

    sampling = one_candidate_by_default(sampling)
    cfg = cfg or ProtocolConfig()
    started = time.perf_counter()
    corpus = Corpus(corpus_dir)
    columns = {name: corpus.table.column(name).to_pylist() for name in ("id", "texts", "frames", "fps")}
    rows = np.array([i for i in corpus.indices(cfg.split) if columns["texts"][i]])
    if cfg.clips is not None:
        rows = np.sort(np.random.default_rng([cfg.seed, 1]).choice(rows, min(cfg.clips, len(rows)), replace=False))
    loader = protocol_loader(cfg, evaluator)
    clips = _loader_clips(columns, rows)
    _check_size(loader, clips, cfg, corpus_dir)
    emb = _Embeddings(evaluator)

    def load(item: _Item) -> Motion:
        return Motion(corpus.clip(item.row)[item.first : item.last].astype(np.float64), item.fps)

    runs, faults = [], []
    for r in range(cfg.repeats):
        rng = np.random.default_rng([cfg.seed, r])
        where = f"run {r + 1}"
        items, batches = _run_items(loader, clips, columns, rows, rng, cfg, r)
        captions = [it.text for it in items]
        seconds = [min((it.last - it.first) / it.fps, pipe.max_seconds) for it in items]
        seeds = rng.integers(0, 2**31 - 1, len(items)).tolist()
        generated = _generate_guarded(pipe, captions, seconds, seeds, cfg.generate_batch,
                                      f"run {r + 1}/{cfg.repeats}", sampling, faults, where)  # fmt: skip
        made = _kept(generated)
        gen = [None] * len(items)
        for i, e in zip(made, _embed_guarded(emb.motions, [generated[i] for i in made], [captions[i] for i in made],
                                             faults, where, "motion embedding"), strict=True):  # fmt: skip
            gen[i] = e
        text = _embed_guarded(emb.text, captions, captions, faults, where, "text embedding")
        real = _embed_guarded(lambda its: emb.real(its, load), items, captions, faults, where, "real clip embedding")
        keep = _kept(gen, text, real)
        kept_batches = _kept_batches(batches, keep)
        text, real, gen = (np.stack([c[i] for i in keep]) if keep else np.zeros((0, 1)) for c in (text, real, gen))
        run = {"generated": {**_guarded_metrics({"fid": partial(metrics.fid, real, gen)}, faults, where),
                             **_metric_set(text, gen, rng, cfg, faults, where, kept_batches),
                             **_rigidity(generated, captions, faults, where)},
               "real": _metric_set(text, real, rng, cfg, faults, where, kept_batches), "captions_scored": len(keep),
               "items": len(items)}  # fmt: skip
        if cfg.mm_captions:
            run["generated"].update(_multimodality(pipe, emb, items, seconds, rng, cfg, sampling, faults, where))
        runs.append(run)
    return {"suite": "protocol", "config": asdict(cfg), "loader": loader, "clips": len(rows),
            "sampling": asdict(pipe.settings(sampling)),
            "generated": _aggregate([r["generated"] for r in runs]), "real": _aggregate([r["real"] for r in runs]),
            "items": [r["items"] for r in runs], "captions_scored": [r["captions_scored"] for r in runs],
            "faults": faults, "fid_real_train_vs_test": _real_fid(corpus, evaluator, cfg, rows),
            "seconds": time.perf_counter() - started}  # fmt: skip


def _kept_batches(batches: list[np.ndarray] | None, keep: list[int]) -> list[np.ndarray] | None:
    """The loader's batches as indices into the kept items (an item lost to a fault leaves its batch smaller)."""
    if batches is None:
        return None
    position = {item: k for k, item in enumerate(keep)}
    return [np.array([position[i] for i in batch if i in position], dtype=int) for batch in batches]


def _rigidity(motions: list[Motion | None], captions: list[str], faults: list, where: str) -> dict:
    """Mean and largest bone drift and output disagreement (mm, `rigidity_report`) over the generated motions; a
    motion whose report raises is left out with a fault record."""
    from motionmill.eval.faults import describe
    from motionmill.motion.reconcile import rigidity_report

    reports = []
    for motion, caption in zip(motions, captions, strict=True):
        if motion is None:
            continue
        try:
            reports.append(rigidity_report(motion))
        except Exception as e:
            faults.append({"where": where, "stage": "rigidity", "caption": caption, "error": describe(e)})
    out = {}
    for name in RIGIDITY:
        values = [report[name] for report in reports]
        out[f"{name}_mean"] = float(np.mean(values)) if values else float("nan")
        out[f"{name}_max"] = float(np.max(values)) if values else float("nan")
    return out


def _multimodality(pipe, emb, items, seconds, rng, cfg: ProtocolConfig, sampling: SamplingSettings,
                   faults: list | None = None, where: str = "") -> dict:  # fmt: skip
    """MModality over the chosen captions; a caption with a failed generation or embedding is left out."""
    faults = faults if faults is not None else []
    chosen = rng.choice(len(items), min(cfg.mm_captions, len(items)), replace=False)
    texts = [items[i].text for i in chosen for _ in range(cfg.mm_generations)]
    lengths = [seconds[i] for i in chosen for _ in range(cfg.mm_generations)]
    seeds = rng.integers(0, 2**31 - 1, len(texts)).tolist()
    generated = _generate_guarded(pipe, texts, lengths, seeds, cfg.generate_batch, "multimodality", sampling, faults,
                                  f"{where} multimodality")  # fmt: skip
    made = _kept(generated)
    embedded = [None] * len(texts)
    for i, e in zip(made, _embed_guarded(emb.motions, [generated[i] for i in made], [texts[i] for i in made], faults,
                                         f"{where} multimodality", "motion embedding"), strict=True):  # fmt: skip
        embedded[i] = e
    g = cfg.mm_generations
    whole = [c for c in range(len(chosen)) if all(e is not None for e in embedded[c * g : (c + 1) * g])]
    per_caption = np.array([embedded[c * g : (c + 1) * g] for c in whole]).reshape(len(whole), g, -1)
    return _guarded_metrics({
        "multimodality": lambda: metrics.multimodality(per_caption, rng, cfg.mm_pairs),
        "multimodality_distinct_pairs": lambda: metrics.multimodality(per_caption, rng, cfg.mm_pairs, "distinct"),
    }, faults, f"{where} multimodality")  # fmt: skip


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
    """Mean and 95% CI of each metric over the runs where it could be computed (None when it never could)."""
    out = {}
    for name in runs[0]:
        values = [r[name] for r in runs]
        finite = [v for v in values if np.isfinite(v)]
        mean, ci = metrics.mean_ci(finite) if finite else (None, None)
        out[name] = {"mean": mean, "ci95": ci, "values": [v if np.isfinite(v) else None for v in values],
                     "runs_scored": len(finite)}  # fmt: skip
    return out


def run_zeroshot(pipe, evaluator, clips: int = 500, seed: int = 0, batch_size: int = 32,
                 generate_batch: int = 100, sampling: SamplingSettings | None = None) -> dict:  # fmt: skip
    """Built-in zero-shot split against the test split: predicate accuracy and evaluator metrics of each."""
    from motionmill.eval.alignment import alignment_clips, generate_for_clips, score_clips, whole_caption

    sampling = one_candidate_by_default(sampling)
    started = time.perf_counter()

    # the published Diversity draws need as many clips as pairs: as many as the clips scored, at most 300
    def config(scored: int) -> ProtocolConfig:
        pairs = max(1, min(ProtocolConfig.diversity_pairs, scored))
        return ProtocolConfig(batch_size=batch_size, seed=seed, diversity_pairs=pairs)

    result = {"suite": "zeroshot", "clips": clips, "seed": seed, "sampling": asdict(pipe.settings(sampling))}
    faults: list = []
    for split in ("test", "zeroshot"):
        chosen = alignment_clips(split, clips, seed)
        generated = generate_for_clips(pipe, chosen, seed, generate_batch, f"zeroshot ({split})", sampling, faults)
        captions = [whole_caption(c) for c in chosen]
        real = [Motion.from_rotations(c.rotations, c.joints, c.plan.fps) for c in chosen]
        made = _kept(generated)
        gen = [None] * len(chosen)
        for i, e in zip(made, _embed_guarded(evaluator.motion_embeddings, [generated[i] for i in made],
                                             [captions[i] for i in made], faults, split, "motion embedding"),
                        strict=True):  # fmt: skip
            gen[i] = e
        text = _embed_guarded(evaluator.text_embeddings, captions, captions, faults, split, "text embedding")
        ref = _embed_guarded(evaluator.motion_embeddings, real, captions, faults, split, "real clip embedding")
        keep = _kept(gen, text, ref)
        text, gen, ref = (np.stack([c[i] for i in keep]) if keep else np.zeros((0, 1)) for c in (text, gen, ref))
        rng, cfg = np.random.default_rng([seed, len(split)]), config(len(keep))
        result[split] = {"predicates": score_clips([chosen[i] for i in keep], [generated[i] for i in keep]),
                         "generated": {**_guarded_metrics({"fid": partial(metrics.fid, ref, gen)}, faults, split),
                                       **_metric_set(text, gen, rng, cfg, faults, split)},
                         "real": _metric_set(text, ref, rng, cfg, faults, split),
                         "clips_scored": len(keep)}  # fmt: skip
    result["faults"] = faults
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


RECORDS = "records"
"""Folder of the prompts suite's per-prompt records (`<out>/records/<id>.json`), written as each prompt finishes."""
PHYSICS_SHOWN = ("text_motion_distance", "foot_skating_ratio", "penetration_mm", *RIGIDITY, "floating_mm",
                 "foot_sliding_mm", "jitter_mm", "duration")  # fmt: skip
"""Figures of the per-group table of the prompts summary."""


def _finite_or_none(value):
    """A metric for JSON: finite floats stay, NaN (the too-short mark) and infinities become None."""
    value = float(value)
    return value if np.isfinite(value) else None


def _prompt_record(pipe, evaluator, prompt: str, stem: str, seed: int, seconds: float | None, out: Path,
                   sampling: SamplingSettings | None) -> dict:  # fmt: skip
    """Generate one prompt, write its files, score it; a raising stage is recorded in the row, never raised."""
    from motionmill.eval.faults import describe, in_stage
    from motionmill.export.formats import write_motion
    from motionmill.motion.physics import physics_report, too_short
    from motionmill.motion.reconcile import rigidity_report

    row: dict = {"status": "ok", "errors": {}}
    try:
        with in_stage("generate", stem):
            motion = pipe([prompt], seconds=[seconds], seed=[seed], sampling=sampling)[0]
            joints = motion.joints()
            if len(joints) < 2:
                raise ValueError(f"the model made a motion of {len(joints)} frame(s); scoring needs at least 2")
        with in_stage("write", stem):
            for suffix in PROMPT_FILES:
                write_motion(motion, out / "motions" / f"{stem}{suffix}", title=prompt)
    except Exception as e:
        return {"status": "failed", "errors": {"generate": describe(e)}}
    row.update(duration=float(motion.duration), fps=float(motion.fps), frames=len(joints))
    try:
        with in_stage("evaluator distance", stem):
            text, moved = evaluator.text_embeddings([prompt]), evaluator.motion_embeddings([motion])
            row["text_motion_distance"] = _finite_or_none(np.linalg.norm(text[0] - moved[0]))
    except Exception as e:
        row["errors"]["text_motion_distance"] = describe(e)
        row["text_motion_distance"] = None
    try:
        with in_stage("physics", stem):
            report = physics_report(joints, motion.fps)
            row.update({k: _finite_or_none(v) for k, v in report.items()})
            if short := {k: why for k, why in too_short(len(joints)).items() if k in report}:
                row["too_short"] = short
    except Exception as e:
        row["errors"]["physics"] = describe(e)
    try:  # how far the written files disagree: bone drift of the joints and joints against rotation-made outputs
        with in_stage("rigidity", stem):
            row.update({k: _finite_or_none(v) for k, v in rigidity_report(motion).items()})
    except Exception as e:
        row["errors"]["rigidity"] = describe(e)
    return row


def _read_record(path: Path, key: dict) -> dict | None:
    """A finished prompt's record when it exists and was made with the same prompt, seed and settings."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.get("key") == key else None


def run_prompts(pipe, evaluator, prompts: list[str], out: str | Path, seconds: float | None = None, seed: int = 0,
                reference: dict | None = None, sampling: SamplingSettings | None = None,
                ratings_db: str | Path | None = None) -> dict:  # fmt: skip
    """Generate every prompt; write its files, physics metrics, evaluator text-motion distance and a rating report.

    Prompts run one at a time; each prompt's files and its record (`out/records/<id>.json`) are written as soon as
    it is done, so a rerun with the same prompts, seed and settings reuses every finished prompt and generates only
    the missing ones. A prompt whose generation or a metric raises is recorded with the reason and the run goes on
    (docs/evaluation.md, "Faults"). A prompt line may carry a tab-separated group (`prompt_groups`); ratings stored
    by `motionmill eval serve` in `ratings_db` (default `out/ratings.sqlite`) are summarised per group when present.
    """
    from tqdm import tqdm

    from motionmill.eval.faults import in_stage
    from motionmill.eval.prompt_groups import assign_groups, unshowable
    from motionmill.inference.generate import prompt_stem

    started = time.perf_counter()
    out = Path(out)
    prompts, groups = assign_groups(list(prompts))
    settings = {"model": pipe.name, "seconds": seconds, "sampling": asdict(pipe.settings(sampling))}
    reference = reference if reference is not None else reference_physics()
    rows, generated = [], 0
    for i, (prompt, group) in enumerate(tqdm(list(zip(prompts, groups, strict=True)), desc="prompts", leave=False)):
        stem = prompt_stem(i, prompt)
        key = {"prompt": prompt, "seed": seed + i, **settings}
        path = out / RECORDS / f"{stem}.json"
        record = _read_record(path, key)
        if record is None:
            row = _prompt_record(pipe, evaluator, prompt, stem, seed + i, seconds, out, sampling)
            record = {"key": key, "row": row}
            atomic_write(path, json.dumps(record, indent=1) + "\n")
            generated += 1
        rows.append({"id": stem, "prompt": prompt, "group": group, "seed": seed + i,
                     "unshowable": unshowable(prompt), **record["row"]})  # fmt: skip
    with in_stage("report", str(out)):
        _write_prompts_page(rows, out, reference, pipe.name, len(prompts))
        ratings = _ratings_by_prompt(out, ratings_db)
    scored = [r for r in rows if r["status"] == "ok" and not r["unshowable"]]
    return {"suite": "prompts", "prompts": len(prompts), "seconds_asked": seconds, "seed": seed,
            "sampling": settings["sampling"], "reference": reference,
            "generated_this_run": generated, "failed": sum(r["status"] == "failed" for r in rows),
            "flagged": sum(bool(r["unshowable"]) for r in rows),
            "mean": _means(scored, [k for k in PHYSICS_SHOWN + tuple(reference) if k in _numeric_keys(rows)]),
            "groups": _group_table(rows, ratings), "per_prompt": [{**r, "ratings": ratings.get(r["id"])} for r in rows],
            "seconds": time.perf_counter() - started}  # fmt: skip


def _numeric_keys(rows: list[dict]) -> set[str]:
    return {k for r in rows for k, v in r.items() if isinstance(v, float)}


def _means(rows: list[dict], names) -> dict:
    """Mean of each figure over the rows that have it (a too-short or failed metric is None and left out)."""
    out = {}
    for name in dict.fromkeys(names):
        values = [r[name] for r in rows if isinstance(r.get(name), float)]
        out[name] = float(np.mean(values)) if values else None
    return out


def _group_table(rows: list[dict], ratings: dict) -> list[dict]:
    """Per group (in order of appearance), then "flagged (body cannot show)": counts and mean figures. Flagged and
    failed prompts are left out of their group's means; the flagged row averages the flagged prompts."""
    from motionmill.eval.ratings import SCORES

    names = list(dict.fromkeys(r["group"] or "(no group)" for r in rows))
    table = []
    for name, members in [(n, [r for r in rows if (r["group"] or "(no group)") == n]) for n in names] + \
            [("flagged (body cannot show)", [r for r in rows if r["unshowable"]])]:  # fmt: skip
        if not members:
            continue
        flagged_row = name.startswith("flagged")
        scored = [r for r in members if r["status"] == "ok" and (flagged_row or not r["unshowable"])]
        given = [g for r in scored for g in ratings.get(r["id"], [])]
        table.append(
            {
                "group": name,
                "prompts": len(members),
                "scored": len(scored),
                "failed": sum(r["status"] == "failed" for r in members),
                "flagged": sum(bool(r["unshowable"]) for r in members),
                "mean": _means(scored, PHYSICS_SHOWN),
                "ratings": len(given),
                "mean_ratings": {s: float(np.mean([g[s] for g in given])) if given else None for s in SCORES},
            }
        )
    return table


def _ratings_by_prompt(out: Path, db: str | Path | None) -> dict[str, list[dict]]:
    """Ratings stored for the report in `out`, by prompt id (empty when nobody has rated yet)."""
    from motionmill.eval.ratings import DB_FILE, RatingStore

    path = Path(db) if db is not None else out / DB_FILE
    if not path.is_file():
        return {}
    by_prompt: dict[str, list[dict]] = {}
    for rating in RatingStore(path).rows():
        by_prompt.setdefault(rating["prompt_id"], []).append(rating)
    return by_prompt


def _write_prompts_page(rows: list[dict], out: Path, reference: dict, model: str, count: int) -> None:
    from motionmill.export.report import PromptEntry, write_prompts_report

    entries, failures = [], []
    for r in rows:
        if r["status"] == "failed":
            failures.append({"prompt_id": r["id"], "prompt": r["prompt"], "reason": "; ".join(r["errors"].values())})
            continue
        shown = {k: r.get(k) for k in ("duration", "text_motion_distance", *reference) if k in r}
        notes = [f"group: {r['group']}"] if r["group"] else []
        notes += [f"the body cannot show this ({part}); left out of the group averages" for part in r["unshowable"]]
        notes += [f"{name}: too short ({why})" for name, why in r.get("too_short", {}).items()]
        notes += [f"{name} failed: {why}" for name, why in r["errors"].items()]
        joints = np.load(out / "motions" / f"{r['id']}.joints.npy")
        entries.append(PromptEntry(r["id"], r["prompt"], joints, r["fps"], shown, reference, model, r["group"],
                                   bool(r["unshowable"]), notes))  # fmt: skip
    write_prompts_report(entries, out, f"{count} prompts, model {model}", failures=failures)


def write_results(result: dict, out: str | Path, title: str) -> Path:
    """`results.json` and a Markdown `summary.md` of a suite's result in `out`; returns the summary path."""
    out = Path(out)
    atomic_write(out / "results.json", json.dumps(_json_safe(result), indent=2) + "\n")
    lines = [f"# {title}", "", f"Sampling: {result.get('sampling')}", ""]
    if result["suite"] == "protocol":
        lines += _protocol_table(result)
    elif result["suite"] == "zeroshot":
        lines += _zeroshot_table(result)
    elif result["suite"] == "prompts":
        lines += _prompts_tables(result)
    lines += ["", f"Run time: {result.get('seconds', 0.0):.0f} s.", ""]
    atomic_write(out / "summary.md", "\n".join(lines))
    return out / "summary.md"


def _json_safe(value):
    """`value` with every NaN or infinite float replaced by None (JSON has no NaN; None is the too-short mark)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def _prompts_tables(result: dict) -> list[str]:
    lines = [f"{result['prompts']} prompts ({result.get('failed', 0)} failed, {result.get('flagged', 0)} flagged as "
             "showing fingers or the face, which the body cannot show); open report.html through "
             "`motionmill eval serve` to rate them. Rerun the same command to add the ratings given so far.", "",
             "| metric | mean over scored prompts | reference (built-in corpus) |", "|---|---|---|"]  # fmt: skip
    for name, value in result["mean"].items():
        ref = result["reference"].get(name)
        lines.append(f"| {name} | {_or_dash(value, '.4g')} | {_or_dash(ref, '.4g')} |")
    from motionmill.eval.ratings import SCORES

    lines += ["", "Per group (a group's means leave out its failed and flagged prompts; the flagged row averages "
              "the flagged prompts of every group):", "",
              "| group | prompts | scored | failed | flagged | " + " | ".join(PHYSICS_SHOWN) + " | ratings | "
              + " | ".join(SCORES) + " |",
              "|" + "---|" * (6 + len(PHYSICS_SHOWN) + len(SCORES))]  # fmt: skip
    for g in result.get("groups", []):
        cells = [g["group"], g["prompts"], g["scored"], g["failed"], g["flagged"],
                 *(_or_dash(g["mean"][n], ".4g") for n in PHYSICS_SHOWN), g["ratings"],
                 *(_or_dash(g["mean_ratings"][s], ".2f") for s in SCORES)]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    failed = [r for r in result["per_prompt"] if r["status"] == "failed" or r.get("errors")]
    if failed:
        lines += ["", "Faults (the run went on without them):", "", "| prompt | status | reason |", "|---|---|---|"]
        for r in failed:
            reason = "; ".join(f"{k}: {v}" for k, v in r["errors"].items()).replace("|", "\\|")
            lines.append(f"| {r['id']} | {r['status']} | {reason} |")
    return lines


def _faults_table(faults: list[dict]) -> list[str]:
    """The protocol's and zero-shot suite's fault records as a Markdown table (nothing when there are none)."""
    if not faults:
        return []
    lines = ["", f"{len(faults)} fault(s), left out of the metrics (the run went on):", "",
             "| where | stage | caption | error |", "|---|---|---|---|"]  # fmt: skip
    for f in faults:
        cells = (f["where"], f["stage"], f["caption"] or "-", f["error"])
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return lines


def _protocol_table(result: dict) -> list[str]:
    cfg = result["config"]
    loader = result.get("loader", cfg.get("loader", "spans"))
    selection = "every clip once (spans)" if loader == "spans" else f"the published {loader} evaluation loader"
    items = result.get("items") or []
    lines = [f"{cfg['repeats']} runs over {result['clips']} clips of the {cfg['split']} split; items selected by "
             f"{selection}: {min(items, default=0)} to {max(items, default=0)} per run; mean ± 95% CI. "
             "Rigidity (bone_drift_mm, output_agreement_mm) is the mean and the largest over a run's generated "
             "motions.", "", "| metric | generated | real |", "|---|---|---|"]  # fmt: skip

    def cell(stats: dict | None) -> str:
        if not stats or stats["mean"] is None:
            return "-"
        if 0 < abs(stats["mean"]) < 0.01:  # e.g. the rigidity of reconciled motions, thousandths of a millimetre
            return f"{stats['mean']:.2e} ± {stats['ci95']:.1e}"
        return f"{stats['mean']:.3f} ± {stats['ci95']:.3f}"

    for name, stats in result["generated"].items():
        lines.append(f"| {name} | {cell(stats)} | {cell(result['real'].get(name))} |")
    lines.append(f"| fid (real train vs real {cfg['split']}) | - | {result['fid_real_train_vs_test']:.3f} |")
    return lines + _faults_table(result.get("faults", []))


def _or_dash(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:{spec}}"


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
    return lines + _faults_table(result.get("faults", []))
