"""Text alignment of a text-to-motion model on the built-in corpus, judged by predicates (no learned evaluator).

For N clips of a split (test, zeroshot or val) of the built-in corpus, or the prompts of the free-form set
(`eval.freeform`, split "freeform"), the model generates a motion from each clip's
first whole-clip caption at the clip's own duration; the caption's plan gives the predicates its words commit to
(synth.expectations), and the score is the fraction satisfied over all clips. Ground-truth motions score the same
way, as the reference. Physical plausibility (foot skating) is reported next to the ground-truth value.

Command: `motionmill eval alignment --model DIR --split test --clips 500`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from motionmill.inference.settings import SamplingSettings
from motionmill.motion.physics import foot_skating_ratio
from motionmill.synth.corpus import make_clip, split_of
from motionmill.synth.expectations import expected_predicates, score_motion

__all__ = ["alignment_clips", "evaluate_alignment", "generate_for_clips", "score_clips", "whole_caption"]


def alignment_clips(split: str, count: int, seed: int = 0, start: int = 0) -> list:
    """The first `count` built-in clips of `split` (corpus `seed`) that make at least one predicate claim; for
    split "freeform" or "freeform_dev", the first `count` prompts of that free-form set (`eval.freeform`) that do."""
    if split.startswith("freeform"):
        from motionmill.eval.freeform import FREEFORM_SETS, freeform_clips

        if split not in FREEFORM_SETS:
            raise ValueError(f"unknown free-form set {split!r}; choose from {sorted(FREEFORM_SETS)}")
        clips = freeform_clips(path=FREEFORM_SETS[split])
        return [clip for clip in clips if expected_predicates(clip.plan)][start : start + count]
    clips, index = [], start
    while len(clips) < count:
        if split_of(seed, index) == split:
            clip = make_clip(seed, index)
            if expected_predicates(clip.plan) and clip.captions:
                clips.append(clip)
        index += 1
    return clips


def whole_caption(clip) -> str:
    """The clip's first caption that covers the whole clip (else its first caption)."""
    whole = [c for c in clip.captions if c.start <= 0.0 and c.end >= clip.plan.duration - 1e-6]
    return (whole or clip.captions)[0].text


def generate_for_clips(pipe, clips: list, seed: int = 0, batch_size: int = 50, desc: str = "generate",
                       sampling: SamplingSettings | None = None, faults: list | None = None) -> list:  # fmt: skip
    """One motion per clip from its whole-clip caption at the clip's duration; clip i uses seed `seed * 100_000 + i`.

    With a `faults` list, a batch that raises is generated again one clip at a time and a clip that still raises gets
    None and a record (where, stage, caption, error) in `faults`; without one, the error propagates.
    """
    from tqdm import tqdm

    from motionmill.eval.faults import describe

    motions = []
    for b in tqdm(range(0, len(clips), batch_size), desc=desc, unit="batch"):
        batch = clips[b : b + batch_size]
        seconds = [min(c.plan.duration, pipe.max_seconds) for c in batch]
        seeds = [seed * 100_000 + b + i for i in range(len(batch))]
        texts = [whole_caption(c) for c in batch]
        try:
            motions += pipe(texts, seconds=seconds, seed=seeds, sampling=sampling)
            continue
        except Exception:
            if faults is None:
                raise
        for text, length, one_seed in zip(texts, seconds, seeds, strict=True):  # find the clip at fault
            try:
                motions += pipe([text], seconds=[length], seed=[one_seed], sampling=sampling)
            except Exception as e:
                faults.append({"where": desc, "stage": "generate", "caption": text, "error": describe(e)})
                motions.append(None)
    return motions


def score_clips(clips: list, motions: list) -> dict:
    """Predicate accuracy and foot skating of `motions` (one per clip) and of the clips' own motions."""
    totals = {"model": [0, 0], "truth": [0, 0]}
    skating = {"model": [], "truth": []}
    for clip, motion in zip(clips, motions, strict=True):
        for who, joints, fps in (("model", motion.joints(), motion.fps), ("truth", clip.joints, clip.fps)):
            result = score_motion(clip.plan, joints, fps)
            totals[who][0] += result["satisfied"]
            totals[who][1] += result["total"]
            skating[who].append(foot_skating_ratio(joints, fps))
    return {
        "clips": len(clips), "predicates": totals["model"][1],
        "accuracy": totals["model"][0] / totals["model"][1],
        "ground_truth_accuracy": totals["truth"][0] / totals["truth"][1],
        "foot_skating": float(np.mean(skating["model"])), "ground_truth_foot_skating": float(np.mean(skating["truth"])),
    }  # fmt: skip


def evaluate_alignment(pipe, split: str = "test", clips: int = 500, seed: int = 0, batch_size: int = 50,
                       sampling: SamplingSettings | None = None) -> dict:  # fmt: skip
    """Predicate accuracy of `pipe` (a TextToMotion) and of the ground truth on `clips` clips of `split`."""
    chosen = alignment_clips(split, clips, seed)
    motions = generate_for_clips(pipe, chosen, seed, batch_size, f"alignment ({split})", sampling)
    return {"split": split, **score_clips(chosen, motions), "sampling": asdict(pipe.settings(sampling))}


def eval_alignment(model: str, split: str = "test", clips: int = 500, out: str | None = None,
                   sampling: SamplingSettings | None = None) -> dict:  # fmt: skip
    """Load a pipeline, evaluate it, print (and optionally write) the JSON result."""
    from motionmill.inference.pipeline import TextToMotion

    result = evaluate_alignment(TextToMotion.from_pretrained(model), split, clips, sampling=sampling)
    text = json.dumps({"model": model, **result}, indent=2)
    print(text)
    if out:
        from motionmill.utils.io import atomic_write

        atomic_write(Path(out), text + "\n")
    return result
