"""Clip-table scale: write a synthetic 1,000,000-row clip table with the real schema, then open it and select clips
by split and length, printing the peak resident memory of the reader (target < 1 GB).

Run: `python bench/clip_table.py [--rows 1000000] [--path /tmp/clips-1m.parquet]`. The table is written in
row groups of 100k rows built with vectorised Arrow arrays (3 captions and 10 quality scores per clip, as a real
corpus has). The read runs in a fresh process, so its peak RSS is the reader's alone: it reads only the columns
it needs, with the split and length predicates pushed down to Parquet (`pyarrow.parquet.read_table(filters=...)`).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from motionmill.data.quality import FILTERS
from motionmill.data.store import clip_schema

SPLITS = np.array(["train", "val", "test", "zeroshot"])
GROUP = 100_000


def batch(start: int, n: int, rng: np.random.Generator) -> pa.Table:
    """Rows start .. start + n of the synthetic table."""
    schema = clip_schema()
    frames = rng.integers(30, 600, n).astype(np.int32)
    captions = 3 * n
    text_type = schema.field("texts").type.value_type
    texts = pa.StructArray.from_arrays(
        [pa.array([f"a person performs motion number {i}" for i in range(start * 3, start * 3 + captions)]),
         pa.array(np.zeros(captions, np.float32)), pa.array(np.zeros(captions, np.float32))],
        fields=list(text_type))  # fmt: skip
    names = ["non_finite", *FILTERS]
    keys = pa.array(np.tile(np.array(names, dtype=object), n).tolist())
    values = pa.array(rng.random(n * len(names)).astype(np.float32))
    columns = {
        "id": pa.array([f"builtin/0/{i:07d}" for i in range(start, start + n)]),
        "source": pa.array(["builtin"] * n), "licence": pa.array(["Apache-2.0"] * n),
        "fps": pa.array(np.full(n, 30, np.float32)), "frames": pa.array(frames),
        "texts": pa.ListArray.from_arrays(pa.array(np.arange(0, captions + 1, 3, dtype=np.int32)), texts),
        "quality": pa.MapArray.from_arrays(pa.array(np.arange(0, n * len(names) + 1, len(names), dtype=np.int32)),
                                           keys, values),
        "split": pa.array(SPLITS[rng.choice(4, n, p=[0.8, 0.05, 0.1, 0.05])]),
        "shard": pa.array((np.arange(start, start + n) // 1000).astype(np.int32)),
        "offset": pa.array(np.cumsum(frames, dtype=np.int64) - frames), "meta": pa.array(["{}"] * n),
    }  # fmt: skip
    return pa.Table.from_pydict(columns, schema=schema)


def write(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with pq.ParquetWriter(path, clip_schema(), compression="zstd") as writer:
        for s in range(0, rows, GROUP):
            writer.write_table(batch(s, min(GROUP, rows - s), rng))
    size = path.stat().st_size / 2**20
    print(f"wrote {rows} rows in {time.perf_counter() - start:.1f} s: {size:.0f} MB at {path}")


def read(path: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # python + pyarrow + motionmill imports
    start = time.perf_counter()
    table = pq.read_table(path, columns=["id", "split", "frames", "shard", "offset"],
                          filters=[("split", "=", "train"), ("frames", ">=", 60), ("frames", "<=", 300)])  # fmt: skip
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"selected {table.num_rows} train clips of 60-300 frames in {seconds:.2f} s; reader peak RSS {rss:.0f} MB "
          f"(target < 1024), of which {before:.0f} MB before opening the table (imports)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--path", default="/tmp/clips-1m.parquet")
    parser.add_argument("--read-only", action="store_true", help="only open and filter an existing table")
    args = parser.parse_args()
    path = Path(args.path)
    if args.read_only:
        return read(path)
    write(path, args.rows)
    subprocess.run([sys.executable, __file__, "--read-only", "--path", str(path)], check=True)


if __name__ == "__main__":
    main()
