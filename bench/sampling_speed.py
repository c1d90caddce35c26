"""Token sampling speed: KV-cached batched sampling vs MotionMillion's sampler (target: >= 10x per prompt).

MotionMillion samples one prompt at a time, greedily, recomputing the whole [text | motion] sequence at every step
(docs/models.md). Both samplers here produce exactly `--tokens` codes per prompt (END is masked until then) on
a randomly initialised generator (default 4 layers, d=256, K=512; 20 text tokens per prompt), or on the generator of
a pipeline folder (`--model builtin` for the built-in model). The reference is slow, so it runs on
`--reference-prompts` prompts and its time per prompt is extrapolated to the whole batch.

Run: `python bench/sampling_speed.py [--model builtin] [--prompts 32] [--tokens 150] [--n-layer 4] [--dim 256]`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from motionmill.generator.model import GeneratorConfig, MotionGenerator
from motionmill.inference.sampling import generate_tokens, generate_tokens_reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=150, help="codes per prompt")
    parser.add_argument("--reference-prompts", type=int, default=2, help="prompts timed with the reference sampler")
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--vocab-codes", type=int, default=512)
    parser.add_argument("--text-dim", type=int, default=256)
    parser.add_argument("--text-tokens", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one avoids contention on shared CPUs)")
    parser.add_argument("--model", default=None, help="pipeline folder or 'builtin' (default: a random generator)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = _generator(args).eval()
    cfg = model.cfg
    n_params = sum(p.numel() for p in model.parameters())
    states = torch.randn(args.prompts, args.text_tokens, cfg.text_dim)  # (B, L, text_dim)
    mask = torch.ones(args.prompts, args.text_tokens, dtype=torch.bool)
    print(f"model: {cfg.n_layer} layers, d={cfg.dim}, K={cfg.vocab_codes}, {n_params / 1e6:.2f} M params; "
          f"{args.prompts} prompts x {args.tokens} tokens; {args.threads} thread(s)")  # fmt: skip

    start = time.perf_counter()
    ours = generate_tokens(model, states, mask, min_tokens=args.tokens, top_k=50, top_p=0.95,
                           seeds=list(range(args.prompts)))  # fmt: skip
    cached = time.perf_counter() - start
    assert all(len(t) == args.tokens for t in ours)
    print(f"KV-cached batched sampling: {cached:.2f} s for {args.prompts} prompts = "
          f"{1000 * cached / args.prompts:.1f} ms per prompt")  # fmt: skip

    n_ref = min(args.reference_prompts, args.prompts)
    start = time.perf_counter()
    ref = generate_tokens_reference(model, states[:n_ref], mask[:n_ref], max_new_tokens=args.tokens,
                                    min_tokens=args.tokens)  # fmt: skip
    per_prompt = (time.perf_counter() - start) / n_ref
    assert all(len(t) == args.tokens for t in ref)
    print(f"reference (greedy, batch 1, full recompute): {per_prompt:.2f} s per prompt, timed on {n_ref} prompt(s); "
          f"extrapolated to {args.prompts} prompts: {per_prompt * args.prompts:.1f} s")  # fmt: skip
    print(f"speed-up per prompt: {per_prompt * args.prompts / cached:.1f}x (target >= 10x)")


def _generator(args) -> MotionGenerator:
    if args.model is None:
        cfg = GeneratorConfig(vocab_codes=args.vocab_codes, n_layer=args.n_layer, n_head=args.n_head, dim=args.dim,
                              text_dim=args.text_dim, max_motion_tokens=args.tokens)  # fmt: skip
        return MotionGenerator(cfg)
    from motionmill.checkpoints.generator import load_generator
    from motionmill.inference.pipeline import BUILTIN_MODEL

    folder = BUILTIN_MODEL if args.model == "builtin" else Path(args.model)
    model = load_generator(folder / "generator")
    if model.cfg.max_motion_tokens < args.tokens:
        raise SystemExit(f"{folder}: the generator makes at most {model.cfg.max_motion_tokens} tokens")
    return model


if __name__ == "__main__":
    main()
