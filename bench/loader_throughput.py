"""Does the data loader keep up with GPUs? Items per second per DataLoader worker on this CPU, against what one GPU
of an 8-GPU node consumes when it trains the `1B` generator, estimated from the plan (`training/plan.py`).

The loader is measured as training runs it: the generator's dataset (`TokenTextDataset`: a caption per clip, the
span's tokens, edge drop, text and length dropout) with its collate function (text states read from the embedding
cache, padding), and the tokenizer's (`WindowDataset`: random windows of normalised 272-dim features). The 1B
model reads the 2048-d states of flan-t5-xl, which no package ships; the cache here holds states of that width
(random values: reading them costs the same) for the corpus captions.

GPU side: the plan's model FLOPs of one step of `1B` (FSDP, bf16, activation checkpointing, `--batch` sequences of
`--seq` tokens per GPU) at `--mfu` of a GPU whose dense bf16 peak is `--peak-tflops` (default an A100's 312 at
50% MFU, a well-tuned run; a faster GPU raises the bar in proportion). The ratio is worker items/s over the
items/s one GPU consumes; the target is at least 5.

Run: `python bench/loader_throughput.py [--clips 2000] [--batch 16] [--seq 300] [--peak-tflops 312] [--mfu 0.5]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from motionmill.checkpoints.tokenizer import load_tokenizer
from motionmill.data.datasets import WindowDataset
from motionmill.data.pipeline import BuildConfig, build_corpus
from motionmill.data.store import Corpus
from motionmill.generator.model import GeneratorConfig
from motionmill.text.cache import EmbeddingCache
from motionmill.text.encoders import TextEncoder
from motionmill.training.generator import GeneratorDataConfig, TokenTextDataset, load_tokens, make_collate
from motionmill.training.plan import plan
from motionmill.training.tokenizer import tokenize_corpus

BUILTIN_TOKENIZER = Path(__file__).resolve().parents[1] / "src/motionmill/assets/builtin_model/tokenizer"


class WideStates(TextEncoder):
    """Random states of flan-t5-xl's width, one per word plus an end token: what the 1B model's cache holds."""

    name, dim, max_tokens = "bench-wide-2048", 2048, 64

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = [min(len(t.split()) + 1, self.max_tokens) for t in texts]
        mask = torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]
        return torch.randn(len(texts), max(lengths), self.dim), mask


def items_per_second(dataset, collate, batch: int, workers: int, batches: int) -> float:
    """Items/s of a DataLoader over `batches` batches after one warm-up batch (worker start-up excluded)."""
    order = np.random.default_rng(0).permutation(len(dataset))
    sampler = [order[i : i + batch].tolist() for i in range(0, len(order) - batch + 1, batch)][: batches + 1]
    loader = iter(DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers))
    next(loader)
    start = time.perf_counter()
    count = sum(1 for _ in loader)
    return count * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=16, help="sequences per GPU and per loader batch")
    parser.add_argument("--seq", type=int, default=300, help="tokens per sequence (text + motion)")
    parser.add_argument("--peak-tflops", type=float, default=312.0, help="dense bf16 peak of one GPU")
    parser.add_argument("--mfu", type=float, default=0.5)
    parser.add_argument("--batches", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a loader worker is one process on one core

    with tempfile.TemporaryDirectory() as tmp:
        corpus_dir = Path(tmp) / "corpus"
        build_corpus([f"builtin:{args.clips}"], corpus_dir, BuildConfig(workers=2, progress=False))
        corpus = Corpus(corpus_dir)
        tokenize_corpus(str(BUILTIN_TOKENIZER), str(corpus_dir), str(Path(tmp) / "tokens"))
        tokens = load_tokens(Path(tmp) / "tokens")
        stride = load_tokenizer(str(BUILTIN_TOKENIZER))[0].cfg.stride
        dataset = TokenTextDataset(corpus, tokens, "train", stride, max_tokens=args.seq, cfg=GeneratorDataConfig())
        cache = EmbeddingCache(Path(tmp) / "cache", WideStates())
        cache.precompute(dataset.all_texts())
        collate = make_collate(cache, pad_id=0)
        windows = WindowDataset(corpus, "train", 64, corpus.stats(), samples=args.batch * (args.batches + 1))

        rows = []
        for workers in (0, 1, 2):
            generator_rate = items_per_second(dataset, collate, args.batch, workers, args.batches)
            window_rate = items_per_second(windows, None, args.batch, workers, args.batches)
            rows.append((workers, generator_rate, window_rate))

    step = plan(GeneratorConfig.from_name("1B"), gpus=8, seq_tokens=args.seq, batch=args.batch, parallel="fsdp",
                precision="bf16", checkpointing=True)  # fmt: skip
    step_seconds = step.flops_per_gpu / (args.peak_tflops * 1e12 * args.mfu)
    consumed = args.batch / step_seconds
    print(f"1B on 8 GPUs, {args.batch} x {args.seq} tokens per GPU: {step.flops_per_gpu / 1e12:.1f} TFLOP per GPU "
          f"per step, {step_seconds:.3f} s at {args.mfu:.0%} of {args.peak_tflops:g} TFLOP/s: "
          f"{consumed:.1f} sequences/s per GPU, {8 * consumed:.0f} per node")  # fmt: skip
    print("| loader workers | generator items/s | per worker vs one GPU | tokenizer windows/s |")
    print("|---|---|---|---|")
    for workers, generator_rate, window_rate in rows:
        per_worker = generator_rate / max(workers, 1)
        print(f"| {workers} (in the main process)" if workers == 0 else f"| {workers}", end="")
        print(f" | {generator_rate:,.0f} | {per_worker / consumed:.1f}x | {window_rate:,.0f} |")


if __name__ == "__main__":
    main()
