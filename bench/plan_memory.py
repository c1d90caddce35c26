"""`motionmill plan` against a measured CPU training step, for the tiny and small generator presets.

Each measurement runs in a fresh subprocess: imports, model and batch are created first and the peak RSS
(`resource.getrusage`) is compared with the resident size there (/proc/self/statm; the high-water mark itself can
sit above it after a transient of the imports); then two optimizer steps run as the training loop runs them on
CPU (fp32, `generator_task`, backward, gradient clipping, AdamW), the second one with AdamW state already allocated
as in every later step. Peak RSS growth is compared with the plan's total minus the fp32 weights, which the baseline
already holds. tracemalloc cannot see torch's allocations, hence RSS. RSS also counts allocator slack, which grows
when the machine is busy (a run inside the full test suite once measured 3.5x the quiet figure for tiny): run it
on a quiet machine, and read it as a check of the plan's order of magnitude and terms, not of its last digits.

    python bench/plan_memory.py            # tiny (batch 32) and small (batch 16), 300 tokens, 150 of them text
    python bench/plan_memory.py --fsdp     # the same per process, on 2 processes with FSDP2 (torchrun, gloo)

With --fsdp each of 2 processes (torchrun, gloo on CPU) shards the model as the training loop does (`fully_shard`
per block, then the rest) before its baseline, so the baseline holds its half of the weights, and the largest
growth of the two is compared with the plan for 2 GPUs with `--parallel fsdp`.
"""

import argparse
import re
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys
import torch
from motionmill.generator.model import GeneratorConfig, MotionGenerator
from motionmill.training.generator import generator_task

preset, batch, seq, text = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
cfg = GeneratorConfig.from_name(preset)
model = MotionGenerator(cfg)
if "WORLD_SIZE" in __import__("os").environ:
    from motionmill.training.distributed import parallelize, setup
    model = parallelize(model, "fsdp", setup("cpu"), torch.device("cpu"))
else:
    torch.set_num_threads(2)
n = seq - text - 1  # motion tokens; END makes the sequence seq long
data = {"text_states": torch.randn(batch, text, cfg.text_dim), "text_mask": torch.ones(batch, text, dtype=torch.bool),
        "tokens": torch.randint(0, cfg.vocab_codes, (batch, n)), "lengths": torch.full((batch,), n)}
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99))
with open("/proc/self/statm") as f:  # resident pages now, in KiB like ru_maxrss
    base = int(f.read().split()[1]) * resource.getpagesize() // 1024
for _ in range(2):
    optimizer.zero_grad(set_to_none=True)
    loss, _ = generator_task(model, data)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kib": peak - base}))
"""


def measure(preset: str, batch: int, seq: int, text: int, fsdp: bool = False) -> float:
    """Peak RSS growth in GiB of two CPU training steps in a fresh process (the largest of 2 with FSDP2)."""
    with tempfile.NamedTemporaryFile("w", suffix=".py") as script:
        script.write(CHILD)
        script.flush()
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        command = [*(launcher if fsdp else [sys.executable]), script.name, preset, str(batch), str(seq), str(text)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    growths = [int(kib) for kib in re.findall(r'"growth_kib": (\d+)', out)]  # the ranks' lines may interleave
    return max(growths) / 1024**2  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", type=int, default=300)
    parser.add_argument("--text", type=int, default=150)
    parser.add_argument("--fsdp", action="store_true", help="2 processes with FSDP2 instead of 1")
    args = parser.parse_args()
    from motionmill.generator.model import GeneratorConfig
    from motionmill.training.plan import plan

    print(f"{'preset':<7} {'batch':>5} {'planned GiB':>11} {'measured GiB':>12} {'measured/planned':>16}")
    for preset, batch in (("tiny", 32), ("small", 16)):
        gpus, parallel = (2, "fsdp") if args.fsdp else (1, "ddp")
        p = plan(GeneratorConfig.from_name(preset), gpus, args.seq, batch, parallel, "fp32", False,
                 text_tokens=args.text)  # fmt: skip
        planned = p.total_gib - p.weights_gib  # the (sharded) weights are in the baseline
        measured = measure(preset, batch, args.seq, args.text, args.fsdp)
        print(f"{preset:<7} {batch:>5} {planned:>11.3f} {measured:>12.3f} {measured / planned:>16.3f}")
        names = ("grads_gib", "optimizer_gib", "fsdp_gathered_gib", "activations_gib", "backward_working_gib",
                 "other_activations_gib", "logits_gib")  # fmt: skip
        parts = {k: round(getattr(p, k), 3) for k in names}
        print(f"        planned parts: {parts}")


if __name__ == "__main__":
    main()
