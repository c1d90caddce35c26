"""What best of N costs: one prompt with N candidates against one sample, in a warm process (same model, same run).

The pipeline samples the N candidates as one batch, decodes them and embeds them with its reranker, so N candidates
cost far less than N separate calls. The reranker is loaded before timing (a cold start pays it once).

Run: `python bench/best_of_cost.py [--model builtin] [--candidates 16] [--seconds 5] [--runs 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import time

from motionmill.inference.pipeline import TextToMotion


def median_seconds(pipe, prompt: str, seconds: float, candidates: int, runs: int) -> float:
    times = []
    for seed in range(runs):
        started = time.perf_counter()
        pipe(prompt, seconds=seconds, seed=seed, candidates=candidates)
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
    pipe(args.prompt, seconds=args.seconds, candidates=args.candidates)  # loads the reranker; warms up
    single = median_seconds(pipe, args.prompt, args.seconds, 1, args.runs)
    best = median_seconds(pipe, args.prompt, args.seconds, args.candidates, args.runs)
    print(
        f"one sample: {single:.3f} s; best of {args.candidates}: {best:.3f} s (median of {args.runs}); "
        f"{best / single:.2f}x the time for {args.candidates}x the samples"
    )


if __name__ == "__main__":
    main()
