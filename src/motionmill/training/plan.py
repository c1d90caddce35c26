"""Memory and compute plan of one generator training step (`motionmill plan`), before renting any GPU.

The model is built on the meta device, so parameter counts are exact (every preset, 7B included) and cost no memory.
The estimate follows what the training loop (`motionmill.training.loop`) actually does:

- weights are fp32 master weights; `--precision bf16` is `torch.autocast`, which casts every Linear weight to bf16
  on use and keeps that copy for the backward pass: 2 bytes per matmul parameter (the "compute copy"); embeddings
  and norms stay fp32 and get no copy;
- gradients are fp32 (4 bytes per parameter) and AdamW keeps two fp32 moments (8 bytes per parameter);
- a batch is a text prefix and motion tokens, `seq_tokens` in all; the head scores only the motion positions plus
  the last text one, so logits are B x (seq - text + 1) x V;
- `ddp` replicates weights, gradients and optimizer state on every GPU, and its gradient buckets add another fp32
  copy of the gradients (PyTorch's default `gradient_as_bucket_view=False`); `fsdp` (ZeRO-3) divides weights,
  gradients, optimizer state and the compute copy by the GPU count, and holds unsharded at compute precision: two
  blocks at a time (the one computing and the one prefetched), the parameters outside the blocks (embeddings, text
  projection, head: FSDP2 keeps this root unit gathered from its forward to the end of the backward pass), and the
  gradients of the root and of one block before they are reduced.

Activation bytes per token per layer, D width, Hd SwiGLU hidden, h heads, T sequence, b = 2 (bf16) or 4 (fp32):

    bf16:  32 D + 8 Hd  [+ 2 h T with --attention math]
    fp32:  44 D + 16 Hd [+ 4 h T with --attention math]

from what autograd saves in a block: each RMSNorm keeps its fp32 input and normalised output (2 x 8 D); the inputs
of the Linears are saved at compute precision (bf16: qkv, proj, gate and up each get their own cast, 4 x 2 D;
fp32: qkv, proj and the shared MLP input, 3 x 4 D); attention keeps rotated q, k, v and its output (4 b D); SwiGLU
keeps gate, silu(gate), up and their product (4 b Hd). Attention scores (B x h x T x T) are stored only by the math
SDPA kernel (`--attention math`, b h T per token per layer); the fused kernels that the loop gets by default (flash
on CPU, memory-efficient on CUDA, as the mask is arbitrary) keep a log-sum-exp per head (4 h bytes per token) and
the B x T x T mask at compute precision instead. With activation checkpointing every block keeps only its fp32
input (4 D per token per layer), and one block's full activations are rebuilt at a time in the backward pass.
Backward also needs a working set for the block it is in: every saved tensor gets a gradient of its own shape, so
one block's activation bytes again (counted with or without checkpointing).

Outside the blocks: the text states (fp32, plus a bf16 cast with bf16) and the final norm and head input (8 D + b D
per scored position); logits take 14 bytes per element in bf16 (bf16 logits, fp32 copy for the loss, fp32
log-softmax saved for backward, and in the backward pass the gradient in place of the copy) and 12 in fp32.

The total adds every term, as if all activations and all gradients were alive at once; the real peak is a little
lower because backward frees activations as it creates gradients. Allocator fragmentation, CUDA context (~0.5-1 GiB)
and communication buffers beyond the DDP buckets are not counted.

FLOPs per optimizer step (model FLOPs, forward + backward, no recomputation): 6 FLOPs per weight of a matmul and
position it applies to, plus attention's two T x T products,

    6 * (W_blocks * T + W_head * (T - text + 1) + W_text * text) * sequences + 12 * n_layer * D * T^2 * sequences

where W_blocks are the Linear weights of all blocks (every position), W_head the head's (only the scored positions)
and W_text the text projection's (only the text positions); embedding lookups and norms do no matmul. This is the
usual 6 * params * tokens made exact for a prefix language model whose head scores half the sequence: for the small
preset at 300 tokens, 6 * params * tokens counts 1.6x the matmuls that run (torch's FlopCounterMode agrees with the
formula above within 2%, tests/training/test_plan.py). sequences = batch * gpus (global); per GPU, divided by the GPU
count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from motionmill.generator.model import GeneratorConfig, MotionGenerator

__all__ = ["Plan", "activation_bytes_per_token_layer", "count_parameters", "format_plan", "linear_weights", "plan"]

GIB = 1024**3


def _shapes(config: GeneratorConfig) -> tuple[int, int, int, dict[str, int]]:
    """Everything the plan reads off the model, from one meta-device build (about a second for 7B)."""
    with torch.device("meta"):  # shapes only: a 7B model costs no memory and no init time
        model = MotionGenerator(config)
    total = sum(p.numel() for p in model.parameters())
    matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    block = sum(p.numel() for p in model.blocks[0].parameters())
    blocks = sum(m.weight.numel() for m in model.blocks.modules() if isinstance(m, nn.Linear))
    text = model.text_proj.weight.numel() if isinstance(model.text_proj, nn.Linear) else 0
    return total, matmul, block, {"blocks": blocks, "head": model.head.weight.numel(), "text_proj": text}


def count_parameters(config: GeneratorConfig) -> tuple[int, int, int]:
    """(all parameters, matmul parameters, parameters of one block) of the model, built on the meta device."""
    return _shapes(config)[:3]


def linear_weights(config: GeneratorConfig) -> dict[str, int]:
    """Weights of the matmuls by where they apply: every block's Linears (all positions), the head (scored
    positions) and the text projection (text positions). Embedding lookups and norms do no matmul."""
    return _shapes(config)[3]


def activation_bytes_per_token_layer(config: GeneratorConfig, precision: str, seq_tokens: int,
                                     attention: str = "fused") -> int:  # fmt: skip
    """Bytes autograd keeps per token per block for the backward pass (formula in the module docstring)."""
    D, Hd, h = config.dim, config.hidden, config.n_head
    if precision == "bf16":
        per = 32 * D + 8 * Hd
    else:
        per = 44 * D + 16 * Hd
    b = 2 if precision == "bf16" else 4
    if attention == "math":
        per += b * h * seq_tokens  # one row of softmax probabilities per head
    else:
        per += 4 * h  # log-sum-exp per head
    return per


@dataclass
class Plan:
    """Per-GPU memory (GiB) and step FLOPs of a training configuration."""

    params: int
    matmul_params: int
    gpus: int
    seq_tokens: int
    text_tokens: int
    batch: int
    parallel: str
    precision: str
    checkpointing: bool
    attention: str
    gpu_memory: float
    weights_gib: float
    compute_copy_gib: float
    grads_gib: float
    optimizer_gib: float
    ddp_buckets_gib: float
    fsdp_gathered_gib: float
    activations_gib: float
    """Block activations with the chosen checkpointing."""
    activations_full_gib: float
    """Block activations without checkpointing."""
    activations_ckpt_gib: float
    """Block activations with checkpointing."""
    backward_working_gib: float
    """Gradients of the activations of the block being back-propagated."""
    attention_scores_gib: float
    """Part of the block activations that are attention scores (0 with fused attention)."""
    other_activations_gib: float
    """Text states, mask, final norm and head input."""
    logits_gib: float
    total_gib: float
    flops_step: float
    """Model FLOPs of one optimizer step over all GPUs."""
    flops_per_gpu: float

    @property
    def model_state_gib(self) -> float:
        """Weights + gradients + optimizer state per GPU."""
        return self.weights_gib + self.grads_gib + self.optimizer_gib

    @property
    def fits(self) -> bool:
        return self.total_gib <= self.gpu_memory


def plan(config: GeneratorConfig, gpus: int, seq_tokens: int, batch: int, parallel: str = "ddp",
         precision: str = "bf16", checkpointing: bool = False, text_tokens: int | None = None,
         attention: str = "fused", gpu_memory: float = 80.0) -> Plan:  # fmt: skip
    """Plan one training step of `config` on `gpus` GPUs, `batch` sequences of `seq_tokens` tokens per GPU.

    `text_tokens` is the text prefix inside `seq_tokens` (default half of it, at most the config's text maximum).
    """
    checks = {"--gpus": gpus >= 1, "--seq-tokens": seq_tokens >= 2, "--batch": batch >= 1,
              "--parallel": parallel in ("ddp", "fsdp"), "--precision": precision in ("bf16", "fp32"),
              "--attention": attention in ("fused", "math"), "--gpu-memory": gpu_memory > 0}  # fmt: skip
    if bad := [flag for flag, ok in checks.items() if not ok]:
        raise ValueError(f"invalid plan settings: {', '.join(bad)} (see motionmill plan --help)")
    text = min(seq_tokens // 2, config.max_text_tokens) if text_tokens is None else text_tokens
    if not 1 <= text < seq_tokens:
        raise ValueError(f"--text-tokens must be in [1, {seq_tokens - 1}], got {text}")
    total, matmul, block, linear = _shapes(config)
    b = 2 if precision == "bf16" else 4
    shard = gpus if parallel == "fsdp" else 1
    D, T, B, L = config.dim, seq_tokens, batch, config.n_layer
    scored = T - text + 1  # motion positions plus the last text one

    weights = 4 * total / shard
    copy = 2 * matmul / shard if precision == "bf16" else 0.0
    grads = 4 * total / shard
    optimizer = 8 * total / shard
    buckets = 4 * total if parallel == "ddp" and gpus > 1 else 0.0
    root = total - L * block  # parameters outside the blocks
    gathered = ((2 * block + root) + (block + root)) * b if parallel == "fsdp" and gpus > 1 else 0.0

    per_token_layer = activation_bytes_per_token_layer(config, precision, T, attention)
    full = per_token_layer * B * T * L
    ckpt = 4 * D * B * T * L + per_token_layer * B * T  # stored block inputs + one block rebuilt
    scores = (b * config.n_head * T * B * T * L) if attention == "math" else 0
    text_bytes = (4 + (2 if precision == "bf16" else 0)) * config.text_dim * B * text
    other = text_bytes + B * T * T * b + (8 * D + b * D) * B * scored  # text states, mask, final norm + head input
    logits = (14 if precision == "bf16" else 12) * B * scored * (config.vocab_codes + 1)
    working = per_token_layer * B * T  # activation gradients of the block in flight
    acts = ckpt if checkpointing else full
    total_bytes = weights + copy + grads + optimizer + buckets + gathered + acts + working + other + logits

    sequences = B * gpus
    per_sequence = linear["blocks"] * T + linear["head"] * scored + linear["text_proj"] * text
    flops = 6 * per_sequence * sequences + 12 * L * D * T**2 * sequences
    return Plan(params=total, matmul_params=matmul, gpus=gpus, seq_tokens=T, text_tokens=text, batch=B,
                parallel=parallel, precision=precision, checkpointing=checkpointing, attention=attention,
                gpu_memory=gpu_memory, weights_gib=weights / GIB, compute_copy_gib=copy / GIB, grads_gib=grads / GIB,
                optimizer_gib=optimizer / GIB, ddp_buckets_gib=buckets / GIB, fsdp_gathered_gib=gathered / GIB,
                activations_gib=acts / GIB, activations_full_gib=full / GIB, activations_ckpt_gib=ckpt / GIB,
                backward_working_gib=working / GIB, attention_scores_gib=scores / GIB,
                other_activations_gib=other / GIB, logits_gib=logits / GIB,
                total_gib=total_bytes / GIB, flops_step=float(flops), flops_per_gpu=flops / gpus)  # fmt: skip


def _count(n: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


def format_plan(p: Plan, name: str = "") -> str:
    """A readable table of a plan, ending with the fit verdict."""
    shard = f"/ {p.gpus} GPUs" if p.parallel == "fsdp" else "replicated"
    ckpt_note = "checkpointing on" if p.checkpointing else "no checkpointing"
    rows = [
        ("weights (fp32 master)", p.weights_gib, shard),
        ("bf16 compute copy" if p.precision == "bf16" else "compute copy", p.compute_copy_gib,
         "autocast copy of Linear weights" if p.precision == "bf16" else "none in fp32"),
        ("gradients (fp32)", p.grads_gib, shard),
        ("AdamW state (2 x fp32)", p.optimizer_gib, shard),
        ("DDP gradient buckets", p.ddp_buckets_gib, "ddp with more than one GPU"),
        ("FSDP unsharded", p.fsdp_gathered_gib, "2 blocks + the root's parameters, their gradients before reducing"),
        ("activations", p.activations_gib, f"{ckpt_note}; without {p.activations_full_gib:.2f}, "
         f"with {p.activations_ckpt_gib:.2f}"),
        ("  of which attention scores", p.attention_scores_gib if not p.checkpointing else 0.0,
         f"{p.attention} attention"),
        ("backward working set", p.backward_working_gib, "activation gradients of one block"),
        ("text states, mask, head input", p.other_activations_gib, ""),
        ("logits", p.logits_gib, f"batch x {p.seq_tokens - p.text_tokens + 1} x vocab"),
    ]  # fmt: skip
    title = f"plan{' ' + name if name else ''}: {_count(p.params)} params, {p.gpus} GPU(s) x batch {p.batch} x " \
            f"{p.seq_tokens} tokens ({p.text_tokens} text), {p.parallel}, {p.precision}"  # fmt: skip
    width = max(len(r[0]) for r in rows)
    lines = [title, f"{'per GPU':<{width}}  {'GiB':>9}", "-" * (width + 11)]
    lines += [f"{label:<{width}}  {gib:9.2f}  {note}".rstrip() for label, gib, note in rows]
    lines += ["-" * (width + 11), f"{'total':<{width}}  {p.total_gib:9.2f}"]
    lines.append(f"FLOPs per step: {p.flops_step:.3e} global, {p.flops_per_gpu:.3e} per GPU "
                 "(6 per matmul weight and position it applies to + 12 * layers * dim * T^2 per sequence)")  # fmt: skip
    verdict = "fits" if p.fits else "does NOT fit"
    lines.append(f"verdict: {verdict} in {p.gpu_memory:g} GiB per GPU ({p.total_gib:.1f} GiB needed)")
    return "\n".join(lines)
