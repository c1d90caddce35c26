"""Training on several processes: the process group from torchrun's environment, DDP or FSDP2 applied from outside
the model, and the split of every global batch across ranks.

`motionmill train ...` run plainly is one process. Under `torchrun`, every process reads RANK, WORLD_SIZE and
LOCAL_RANK (and MASTER_ADDR / MASTER_PORT, which torchrun sets) and joins one process group: gloo on CPU, nccl on
GPU. A global batch of `batch_size x world_size x grad_accum` items is drawn in the same order as one process would
draw it (a pure function of seed and epoch), cut into `grad_accum` micro-batches, and each micro-batch into
`world_size` contiguous parts, one per rank; per-item randomness lives in the datasets (seeded by seed, epoch and
item), so it does not depend on how items are split. Ranks' losses are weighted by what each averages over (items
or scored tokens), so the gradient is the one of the whole global batch.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "Ranks",
    "checkpoint_blocks",
    "gather_rows",
    "main_first",
    "parallelize",
    "rank_part",
    "setup",
    "sum_across",
    "unwrap",
]


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


ONE_PROCESS = Ranks()


def from_environment() -> Ranks:
    """The ranks torchrun announces in the environment (one process when it is absent)."""
    env = os.environ
    ranks = Ranks(int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0")))
    if not 0 <= ranks.rank < ranks.world_size:
        raise ValueError(f"RANK={ranks.rank} is outside WORLD_SIZE={ranks.world_size}")
    return ranks


def setup(device_type: str = "cpu") -> Ranks:
    """Join the process group when launched by torchrun (idempotent); gloo on CPU, nccl on CUDA."""
    ranks = from_environment()
    if ranks.enabled and not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:
            raise ValueError(f"WORLD_SIZE={ranks.world_size} but MASTER_ADDR is unset: launch with torchrun "
                             "(docs/models.md, 'Training on several processes')")  # fmt: skip
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(ranks.local_rank)
        dist.init_process_group(backend)
    return ranks


@contextlib.contextmanager
def main_first(ranks: Ranks):
    """Rank 0 runs the block first (it writes caches, token files...), the others after it, reading what it wrote."""
    if not ranks.is_main:
        ranks.barrier()
    yield
    if ranks.is_main:
        ranks.barrier()


def rank_part(items: list[int], ranks: Ranks) -> list[int]:
    """This rank's contiguous part of a micro-batch (parts differ by at most one item)."""
    return np.array_split(np.asarray(items), ranks.world_size)[ranks.rank].tolist()


def broadcast_module(model: torch.nn.Module) -> None:
    """Every rank starts from rank 0's weights and buffers."""
    for tensor in [*model.parameters(), *model.buffers()]:
        dist.broadcast(tensor.data, src=0)


class _DDP(torch.nn.parallel.DistributedDataParallel):
    """DDP that lets tasks read the wrapped model's attributes (its config, its loss method) as on one process."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DDP wrapper (FSDP2 shards the model in place, so it needs no unwrapping)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def checkpoint_blocks(model: torch.nn.Module) -> None:
    """Activation checkpointing per block: each block of `model.blocks` keeps only its input and recomputes the
    rest in the backward pass. The parameter names do not change, so checkpoints are the same with or without."""
    from torch.utils.checkpoint import checkpoint

    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, torch.nn.ModuleList):
        raise ValueError(f"activation_checkpointing needs a model with blocks (the generator); "
                         f"{type(model).__name__} has none")  # fmt: skip
    for block in blocks:
        forward = block.forward

        @functools.wraps(forward)
        def recomputed(*args, _forward=forward, **kwargs):
            return checkpoint(_forward, *args, use_reentrant=False, **kwargs)

        block.forward = recomputed


def parallelize(model: torch.nn.Module, parallel: str, ranks: Ranks, device: torch.device,
                forward_methods: tuple[str, ...] = ()) -> torch.nn.Module:  # fmt: skip
    """The model to train on this rank: itself on one process, DDP, or FSDP2 (`fully_shard` per block of
    `model.blocks` when it has them, then the rest; `forward_methods` get the same gathering of weights as
    forward). FSDP2 keeps bf16 parameters with fp32 gradient reduction on GPU and fp32 throughout on CPU, where bf16
    is slower."""
    if not ranks.enabled:
        return model
    broadcast_module(model)
    if parallel == "ddp":
        ids = [device.index] if device.type == "cuda" else None
        return _DDP(model, device_ids=ids)
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method

    policy = MixedPrecisionPolicy()
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for block in getattr(model, "blocks", ()):
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    for name in forward_methods:
        register_fsdp_forward_method(model, name)
    return model


def sum_across(values: list[float], ranks: Ranks, device: torch.device) -> list[float]:
    """Element-wise sum of `values` over the ranks (one all-reduce), in float64."""
    if not ranks.enabled:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


_GATHER_GROUP = {}


def _gather_group():
    """A process group of its own for `gather_rows`: its backward pass runs while DDP reduces gradients on the
    default group, and the two must not interleave their messages."""
    if "group" not in _GATHER_GROUP:
        _GATHER_GROUP["group"] = dist.new_group()
    return _GATHER_GROUP["group"]


class _AllGather(torch.autograd.Function):
    """(world_size, *x.shape) of every rank's x; the backward pass sums each rank's gradient for a rank's rows and
    hands it to that rank."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, group, rank: int, world_size: int) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(world_size)]
        dist.all_gather(parts, x.contiguous(), group=group)
        ctx.group, ctx.rank = group, rank
        return torch.stack(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        dist.all_reduce(grad, group=ctx.group)
        return grad[ctx.rank], None, None, None


def gather_rows(parts: list[torch.Tensor], ranks: Ranks) -> list[torch.Tensor]:
    """For each tensor of `parts` (all of one dtype and row shape), the rows of every rank concatenated in rank
    order; gradients flow back to each rank's own rows, so a contrastive loss sees the negatives of the whole global
    batch as on one process. Every rank calls it with the same parts, with zero rows where it has none. The parts
    travel in one collective, so the backward pass has one as well, whose order cannot differ between ranks."""
    if not ranks.enabled:
        return parts
    group = _gather_group()
    sizes = [None] * ranks.world_size
    dist.all_gather_object(sizes, [len(p) for p in parts], group=group)
    widths = [max(rank_sizes[i] for rank_sizes in sizes) for i in range(len(parts))]
    if sum(widths) == 0:
        return parts
    padded = torch.cat([torch.cat([p, p.new_zeros(w - len(p), *p.shape[1:])])
                        for p, w in zip(parts, widths, strict=True)])  # fmt: skip
    gathered = _AllGather.apply(padded, group, ranks.rank, ranks.world_size)  # (world_size, sum(widths), ...)
    starts = np.cumsum([0, *widths])
    return [torch.cat([gathered[r, starts[i] : starts[i] + sizes[r][i]] for r in range(ranks.world_size)])
            for i in range(len(parts))]  # fmt: skip


def gather_objects(value, ranks: Ranks) -> list:
    """[value of rank 0, value of rank 1, ...] on every rank."""
    if not ranks.enabled:
        return [value]
    out = [None] * ranks.world_size
    dist.all_gather_object(out, value)
    return out
