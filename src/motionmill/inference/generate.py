"""`motionmill generate`: prompts in, one set of files per prompt out.

For each prompt: `<stem>.npy` (T x 272 de-normalised features, 30 fps), `<stem>.joints.npy` (T x 22 x 3, metres,
y up), `<stem>.bvh`, `<stem>.gif`, `<stem>.html` and `<stem>.json` (prompt, rewritten prompt if any, seed, sampling
settings, model, duration, and with `compose` each step's text and time span).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict
from pathlib import Path

from motionmill.export.formats import write_motion
from motionmill.inference.pipeline import TextToMotion
from motionmill.inference.settings import SamplingSettings
from motionmill.utils.io import atomic_write

__all__ = ["prompt_stem", "read_prompts_file", "run_generate"]

OUTPUT_SUFFIXES = (".npy", ".joints.npy", ".bvh", ".glb", ".gif", ".html")


def read_prompts_file(path: str | Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file; a clear error names the file and line of undecodable bytes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such prompts file")
    prompts = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ValueError(f"{path}, line {number}: not valid UTF-8 text") from None
        if line:
            prompts.append(line)
    if not prompts:
        raise ValueError(f"{path}: no prompts (the file has no non-empty lines)")
    return prompts


def prompt_stem(index: int, prompt: str) -> str:
    """A file stem for prompt `index`: its number and its first words, lower case."""
    words = re.sub(r"[^a-z0-9]+", "_", prompt.lower()).strip("_")[:40].rstrip("_")
    return f"{index:03d}_{words or 'prompt'}"


def run_generate(prompts: list[str], out: str | Path, model: str = "builtin",
                 seconds: float | list[float | None] | None = None,
                 seed: int = 0, rewrite_url: str | None = None, rewrite_model: str | None = None,
                 sampling: SamplingSettings | None = None, cleanup: bool = False,
                 raw: bool = False) -> list[Path]:  # fmt: skip
    """Generate a motion per prompt and write its files; returns the JSON record paths.

    `seconds` is one target duration for all prompts or one per prompt (None: the model decides). Every motion is
    reconciled into one rigid motion (`motion.reconcile.reconcile`) unless `raw`, which writes the decoded features
    as the model predicted them (then `.joints.npy` shows the predicted positions and the BVH the predicted
    rotations). With `cleanup` every motion's planted feet are locked (`motion.cleanup.clean_feet`) before any file
    is written.
    """
    started = time.perf_counter()
    seconds = list(seconds) if isinstance(seconds, list | tuple) else [seconds] * len(prompts)
    for s in seconds:
        if s is not None and not (math.isfinite(s) and s > 0):
            raise ValueError(f"seconds must be a positive number, got {s}")  # before the slow model load
    pipe = TextToMotion.from_pretrained(model)
    rewrites = [_rewrite(p, rewrite_url, rewrite_model) for p in prompts]
    texts = [r.rewritten if r else p for p, r in zip(prompts, rewrites, strict=True)]
    motions = pipe(texts, seconds=seconds, seed=seed, sampling=sampling, raw=raw)
    reports = [None] * len(motions)
    if cleanup:
        from motionmill.motion.cleanup import clean_feet

        motions, reports = map(list, zip(*(clean_feet(m) for m in motions), strict=True))
    out = Path(out)
    records = []
    for i, (prompt, rewrite, motion) in enumerate(zip(prompts, rewrites, motions, strict=True)):
        stem = prompt_stem(i, prompt)
        for suffix in OUTPUT_SUFFIXES:
            write_motion(motion, out / f"{stem}{suffix}", title=prompt)
        record = {"prompt": prompt, "rewritten_prompt": rewrite.rewritten if rewrite and rewrite.used else None,
                  "rewrite_error": rewrite.error if rewrite else None, "seed": seed + i, "seconds_asked": seconds[i],
                  "duration": motion.duration, "frames": motion.num_frames, "fps": motion.fps, "model": str(model),
                  "sampling": asdict(pipe.settings(sampling)), "steps": motion.meta.get("steps"),
                  "feet_cleaned": reports[i].changed if reports[i] else None,
                  "reconciled": motion.meta.get("reconciled"),
                  "files": [f"{stem}{s}" for s in OUTPUT_SUFFIXES]}  # fmt: skip
        atomic_write(out / f"{stem}.json", json.dumps(record, indent=2) + "\n")
        records.append(out / f"{stem}.json")
        print(f'{stem}: {motion.duration:.2f} s  "{prompt}"')
    print(f"wrote {len(records)} motion(s) to {out.resolve()}/ in {time.perf_counter() - started:.1f} s")
    return records


def _rewrite(prompt: str, url: str | None, model: str | None):
    if not url:
        return None
    from motionmill.text.rewrite import rewrite_prompt

    if not model:
        raise ValueError("--rewrite-url needs --rewrite-model")
    result = rewrite_prompt(prompt, url, model)
    if not result.used:
        print(f"prompt rewriting failed ({result.error}); using the original prompt")
    return result
