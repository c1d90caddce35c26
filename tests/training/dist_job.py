"""`motionmill train ...` as the distributed tests run it, under torchrun or plainly, with test-only knobs.

Usage: python dist_job.py TRAIN_ARGS...   (or torchrun --standalone --nproc_per_node 2 dist_job.py TRAIN_ARGS...)

Environment knobs (all optional):
- JOB_SLOW: seconds to sleep in every training step, so that a test can kill the run mid-way;
- JOB_FAIL_RANK, JOB_FAIL_STEP: that rank raises in its training step number JOB_FAIL_STEP (1-based);
- JOB_AUDIT: a file prefix; every rank other than 0 records each file it opens for writing under the folders of
  JOB_WATCH (os.pathsep-separated) into JOB_AUDIT.<rank>, except checkpoint shards.
"""

import os
import sys
import time

import motionmill.training.generator as generator_training
import motionmill.training.tokenizer as tokenizer_training
from motionmill.cli import main

RANK = int(os.environ.get("RANK", "0"))


def _knobs(task):
    calls = {"n": 0}
    slow = float(os.environ.get("JOB_SLOW", "0"))
    fail_rank, fail_step = int(os.environ.get("JOB_FAIL_RANK", "-1")), int(os.environ.get("JOB_FAIL_STEP", "0"))

    def wrapped(model, batch):
        if model.training:
            calls["n"] += 1
            time.sleep(slow)
            if RANK == fail_rank and calls["n"] == fail_step:
                raise RuntimeError(f"injected fault on rank {RANK} at step {fail_step}")
        return task(model, batch)

    return wrapped


def _audit(prefix: str, roots: list[str]) -> None:
    roots = [os.path.realpath(r) for r in roots]
    written: list[str] = []

    def hook(event, args):
        if event != "open" or not isinstance(args[0], str | bytes | os.PathLike):
            return
        mode, flags = args[1] or "", args[2] or 0
        if not (set(str(mode)) & set("wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
            return
        path = os.path.realpath(os.fsdecode(args[0]))
        if any(path.startswith(r + os.sep) for r in roots) and f"{os.sep}state{os.sep}" not in path:
            written.append(path)

    sys.addaudithook(hook)
    import atexit

    def dump():
        with open(f"{prefix}.{RANK}", "w") as f:  # outside the watched folders
            f.write("\n".join(written))

    atexit.register(dump)


if __name__ == "__main__":
    generator_training.generator_task = _knobs(generator_training.generator_task)
    tokenizer_training.tokenizer_task = _knobs(tokenizer_training.tokenizer_task)
    if os.environ.get("JOB_AUDIT") and RANK != 0:
        _audit(os.environ["JOB_AUDIT"], os.environ["JOB_WATCH"].split(os.pathsep))
    sys.exit(main(sys.argv[1:]))
