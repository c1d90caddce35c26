"""Model FLOPs utilisation (MFU) of generator training on this machine, against its measured dense matmul peak.

How large-model trainers report throughput: model FLOPs per second (the plan's, `training/plan.py`: 6 per matmul
weight and position it applies to, plus 12 * layers * dim * T^2 per sequence for attention; forward and backward,
no recomputation counted) divided
by the peak the hardware reaches on a plain dense matmul, measured here in the same process and thread count
(fp32 `torch.mm` of `--peak-size` square matrices, best of several runs). A training step is what the loop does on
CPU: fp32, `generator_task`, backward, gradient clipping, AdamW. The profile (torch.profiler, self CPU time per
operator) says where the time that is not matmul goes.

Run: `python bench/mfu.py [--preset small] [--batch 8] [--seq 300] [--text 150] [--steps 5] [--threads 2]`.
"""

from __future__ import annotations

import argparse
import time

import torch

from motionmill.generator.model import GeneratorConfig, MotionGenerator
from motionmill.training.generator import generator_task
from motionmill.training.plan import plan

MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::linear", "aten::matmul")


def matmul_peak(n: int, repeats: int = 5) -> float:
    """Best FLOP/s of an n x n fp32 matmul (2 n^3 FLOPs)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up: the first call allocates and picks the kernel
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def batch_for(cfg: GeneratorConfig, batch: int, seq: int, text: int) -> dict:
    n = seq - text - 1  # motion tokens; END makes each sequence `seq` long
    return {"text_states": torch.randn(batch, text, cfg.text_dim),
            "text_mask": torch.ones(batch, text, dtype=torch.bool),
            "tokens": torch.randint(0, cfg.vocab_codes, (batch, n)), "lengths": torch.full((batch,), n)}  # fmt: skip


def train_step(model, optimizer, data) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss, _ = generator_task(model, data)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=300)
    parser.add_argument("--text", type=int, default=150)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peak-size", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = GeneratorConfig.from_name(args.preset)
    model = MotionGenerator(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    data = batch_for(cfg, args.batch, args.seq, args.text)
    flops = plan(cfg, 1, args.seq, args.batch, "ddp", "fp32", False, text_tokens=args.text).flops_step
    peak = matmul_peak(args.peak_size)
    train_step(model, optimizer, data)  # warm-up: AdamW state, kernel choices
    start = time.perf_counter()
    for _ in range(args.steps):
        train_step(model, optimizer, data)
    seconds = (time.perf_counter() - start) / args.steps
    achieved = flops / seconds
    peak_after = matmul_peak(args.peak_size)  # the peak again: a busy machine shows as a drop
    print(f"{args.preset}: batch {args.batch} x {args.seq} tokens, {args.threads} threads, fp32")
    print(f"dense matmul peak ({args.peak_size}^2 fp32): {peak / 1e9:.1f} GFLOP/s before, {peak_after / 1e9:.1f} after")
    print(f"step {seconds:.3f} s, model FLOPs {flops:.3e}: {achieved / 1e9:.1f} GFLOP/s, "
          f"MFU {achieved / max(peak, peak_after):.1%}")  # fmt: skip

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        train_step(model, optimizer, data)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_OPS)
    print(f"profile of one step: matmul operators {matmul / total:.1%} of self CPU time; the rest by operator:")
    rest = sorted((e for e in events if e.key not in MATMUL_OPS), key=lambda e: -e.self_cpu_time_total)
    for e in rest[:8]:
        print(f"  {e.key:<48} {e.self_cpu_time_total / total:6.1%}")


if __name__ == "__main__":
    main()
