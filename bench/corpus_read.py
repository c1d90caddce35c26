"""Random window reads from a built corpus on one core: 96-frame windows per second (target >= 5,000).

Run: `python bench/corpus_read.py [--corpus DIR] [--windows 50000] [--length 96]`. DIR defaults to the corpus of
bench/corpus_build.py (/tmp/motionmill-bench-corpus); a missing corpus is built first from 500 built-in clips. Each
read picks a random clip of at least `length` frames and a random start, as a training data loader does; shards
are memory-mapped, so after a warm-up pass the figure measures the reader, not the disk.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from motionmill.data.store import Corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="/tmp/motionmill-bench-corpus")
    parser.add_argument("--windows", type=int, default=50_000)
    parser.add_argument("--length", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0, help="another seed reads other windows (pages not yet cached)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one core: the reader converts float16 with torch
    root = Path(args.corpus)
    if not (root / "manifest.json").is_file():
        from motionmill.data.pipeline import BuildConfig, build_corpus

        build_corpus(["builtin:500"], root, BuildConfig(shard_size=100))
    corpus = Corpus(root)
    pool = corpus.indices(min_frames=args.length)
    rng = np.random.default_rng(args.seed)
    clips = rng.choice(pool, args.windows)
    starts = [int(rng.integers(0, corpus.frames(i) - args.length + 1)) for i in clips]
    for i, s in zip(clips[:1000], starts[:1000], strict=True):  # warm-up: open the memory maps
        corpus.window(int(i), s, args.length)
    t0 = time.perf_counter()
    total = 0.0
    for i, s in zip(clips, starts, strict=True):
        total += float(corpus.window(int(i), s, args.length)[0, 0])
    seconds = time.perf_counter() - t0
    print(f"{args.windows} random {args.length}-frame windows from {len(pool)} clips of {len(corpus)} in "
          f"{seconds:.2f} s: {args.windows / seconds:.0f} windows/s on one core (target >= 5000)")  # fmt: skip


if __name__ == "__main__":
    main()
