"""Corpus build throughput and memory: the built-in corpus through the whole pipeline with the local engine.

Run: `python bench/corpus_build.py --clips 100000 [--workers N] [--shard-size 1000] [--out DIR]`. Prints clips/s
and the peak resident memory of the process tree in MB, two ways: the sum over the live tree sampled every 0.5 s
(psutil, when installed) and getrusage's maxima (this process, and the largest finished child).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import threading
import time
from pathlib import Path

from motionmill.data.pipeline import BuildConfig, build_corpus


class TreeMemory:
    """Samples the summed RSS of this process and its descendants in a background thread."""

    def __init__(self, every: float = 0.5):
        self.peak_mb, self.every, self._stop = 0.0, every, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        me = psutil.Process()
        while not self._stop.wait(self.every):
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_mb = max(self.peak_mb, total / 2**20)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--out", default="/tmp/motionmill-bench-corpus")
    parser.add_argument("--keep", action="store_true", help="resume into an existing --out instead of wiping it")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    cfg = BuildConfig(shard_size=args.shard_size, workers=args.workers)
    start = time.perf_counter()
    with TreeMemory() as mem:
        summary = build_corpus([f"builtin:{args.clips}"], out, cfg)
    seconds = time.perf_counter() - start
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"items {args.clips}  clips kept {summary['clips']}  quarantined {summary['quarantined']}  "
          f"shards {summary['shards']} (reused {summary['reused']})  workers {cfg.num_workers}")  # fmt: skip
    print(f"motion {summary['hours']:.1f} h  wall {seconds:.1f} s  throughput {args.clips / seconds:.1f} items/s "
          f"({summary['clips'] / seconds:.1f} clips/s)")  # fmt: skip
    print(f"peak RSS: process tree (sampled sum) {mem.peak_mb:.0f} MB; getrusage self {self_mb:.0f} MB, "
          f"largest child {child_mb:.0f} MB")  # fmt: skip
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
    print(f"corpus on disk {size:.0f} MB at {out}")


if __name__ == "__main__":
    main()
