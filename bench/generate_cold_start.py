"""Cold start of `motionmill generate` for one prompt (target: <= 15 s on a 2-core CPU).

Each run is a fresh `motionmill generate` process: Python start-up, imports, loading the text encoder, tokenizer and
generator from the package, sampling, decoding and writing every output file (.npy, .joints.npy, .bvh, .gif, .html,
.json). The first run also warms the operating system's file cache, as on a user's machine after installation.

Run: `python bench/generate_cold_start.py [--runs 3] [--model builtin] [--prompt "..."]`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--prompt", default="A person walks forward, then jumps twice.")
    args = parser.parse_args()
    executable = shutil.which("motionmill") or str(Path(sys.executable).parent / "motionmill")
    times = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            subprocess.run([executable, "generate", args.prompt, "--model", args.model, "--out", out], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            times.append(time.perf_counter() - started)
        print(f"run {run + 1}: {times[-1]:.2f} s")
    median = statistics.median(times)
    print(f"motionmill generate, one prompt, cold process: median {median:.2f} s over {args.runs} runs "
          f"(min {min(times):.2f} s); target {TARGET_SECONDS:.0f} s, "
          f"{TARGET_SECONDS / median:.2f}x under budget")  # fmt: skip


if __name__ == "__main__":
    main()
