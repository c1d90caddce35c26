"""What step-by-step sampling and best of N cost: one prompt against plain sampling, in a warm process (same model,
same run).

With `compose` a prompt that lists steps is sampled step by step, twice when a duration is asked (once at the
lengths the model chooses, once at those lengths scaled to the duration). Best of N samples the N candidates of
every step as one batch, decodes them and embeds them with the reranker, so N candidates cost far less than N
separate calls. The reranker is loaded before timing (a cold start pays it once).

Run: `python bench/best_of_cost.py [--model builtin] [--candidates 16] [--seconds 5] [--runs 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import time

from motionmill.inference.pipeline import TextToMotion
from motionmill.inference.settings import SamplingSettings


def median_seconds(pipe, prompt: str, seconds: float, runs: int, sampling: SamplingSettings) -> float:
    times = []
    for seed in range(runs):
        started = time.perf_counter()
        pipe(prompt, seconds=seconds, seed=seed, sampling=sampling)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--prompt", default="A person walks forward, then jumps twice.")
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    pipe = TextToMotion.from_pretrained(args.model)
    n = args.candidates
    pipe(args.prompt, seconds=args.seconds, candidates=n)  # loads the reranker; warms up
    plain = median_seconds(pipe, args.prompt, args.seconds, args.runs, SamplingSettings(candidates=1, compose=False))
    print(f"plain sampling, one sample: {plain:.3f} s (median of {args.runs})")
    for compose, candidates in ((False, n), (True, 1), (True, n)):
        sampling = SamplingSettings(candidates=candidates, compose=compose)
        took = median_seconds(pipe, args.prompt, args.seconds, args.runs, sampling)
        how = "step by step" if compose else "plain sampling"
        print(f"{how}, best of {candidates}: {took:.3f} s, {took / plain:.2f}x plain sampling's time")


if __name__ == "__main__":
    main()
