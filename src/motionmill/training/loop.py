"""The one training loop for every model (tokenizer, generator, evaluator).

The model-specific part is a task function `loss, logs = task(model, batch)`. The loop owns the rest: gradient
accumulation, autocast (bf16 on GPUs that support it, fp32 on CPU where bf16 is slower), clipping, the warmup +
cosine schedule, periodic evaluation, logs (stdout, JSONL, TensorBoard when installed), a progress bar with ETA,
checkpoints every N steps and on SIGTERM/SIGINT, and exact resume: weights, optimizer, step, the position in the
deterministic batch order and RNG states are restored, so a run killed at any moment continues as if it never
stopped.

Under torchrun the same loop trains on every process (`training.distributed`): DDP or FSDP2 (`parallel`), every
rank reading its part of each global batch, losses weighted across ranks so the steps equal one process's with the
same global batch, sharded checkpoints (`training.state`) that resume on any number of processes. Rank 0 alone
logs and writes files other than checkpoint shards; an error on one rank ends the run on all of them (torchrun stops
the others), and the last complete checkpoint stays as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader

from motionmill.data.datasets import LengthBucketSampler
from motionmill.training.distributed import Ranks, checkpoint_blocks, parallelize, rank_part, setup, sum_across, unwrap
from motionmill.training.schedule import lr_at
from motionmill.training.state import latest_checkpoint, load_checkpoint, save_checkpoint

T = TypeVar("T")

__all__ = ["TrainConfig", "TrainingDiverged", "global_batch", "join_processes", "seeded_model", "train"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


@dataclasses.dataclass
class TrainConfig:
    """Optimisation and bookkeeping settings shared by every model."""

    steps: int = 2000
    """Optimizer steps in total (--steps)."""
    batch_size: int = 32
    """Items per micro-batch on each process (--batch-size); a step sees batch_size x processes x grad_accum."""
    grad_accum: int = 1
    """Micro-batches per optimizer step (--grad-accum)."""
    lr: float = 2e-4
    """Peak learning rate (--lr)."""
    warmup_steps: int = 100
    """Linear warmup steps (--warmup-steps)."""
    min_lr_ratio: float = 0.05
    """Cosine floor as a fraction of lr (--min-lr-ratio)."""
    weight_decay: float = 0.0
    """AdamW weight decay (--weight-decay)."""
    betas: tuple[float, float] = (0.9, 0.99)
    """AdamW betas (--betas)."""
    grad_clip: float = 1.0
    """Max global gradient norm; 0 disables clipping (--grad-clip)."""
    log_every: int = 10
    """Steps between log lines (--log-every)."""
    eval_every: int = 0
    """Steps between evaluations; 0 evaluates only at the end (--eval-every)."""
    ckpt_every: int = 200
    """Steps between checkpoints (--ckpt-every); one is also written at the end and on SIGTERM/SIGINT."""
    precision: str = "auto"
    """auto (bf16 autocast where supported on GPU, fp32 on CPU), fp32 or bf16 (--precision)."""
    device: str = "auto"
    """auto, cpu or cuda[:N] (--device)."""
    seed: int = 0
    """Seed of weights init, data order and augmentation (--seed)."""
    num_workers: int = 0
    """DataLoader worker processes (--num-workers)."""
    parallel: str = "ddp"
    """Under torchrun: ddp (a full copy per process) or fsdp (FSDP2: parameters, gradients and optimizer state
    sharded across processes, per block). Ignored on one process."""
    activation_checkpointing: bool = False
    """Recompute each block's activations in the backward pass instead of keeping them (models with blocks)."""

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        checks = {
            "--steps": self.steps >= 1, "--batch-size": self.batch_size >= 1, "--grad-accum": self.grad_accum >= 1,
            "--lr": self.lr > 0, "--warmup-steps": self.warmup_steps >= 0, "--ckpt-every": self.ckpt_every >= 1,
            "--min-lr-ratio": 0 <= self.min_lr_ratio <= 1, "--grad-clip": self.grad_clip >= 0,
            "--log-every": self.log_every >= 1, "--eval-every": self.eval_every >= 0,
            "--precision": self.precision in ("auto", "fp32", "bf16"), "--num-workers": self.num_workers >= 0,
            "--betas": len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            "--parallel": self.parallel in ("ddp", "fsdp"),
        }  # fmt: skip
        bad = [flag for flag, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training settings: {', '.join(bad)} (see motionmill train --help)")


def _device(cfg: TrainConfig, ranks: Ranks) -> torch.device:
    if cfg.device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", ranks.local_rank)
        return torch.device("cpu")
    return torch.device(cfg.device)


def join_processes(cfg: TrainConfig) -> Ranks:
    """Join the process group when launched by torchrun; trainers call it before they prepare data, so that rank 0
    can prepare it first. Returns this process's ranks."""
    return setup(_device(cfg, Ranks()).type)


def seeded_model(build: Callable[[], T], cfg: TrainConfig) -> T:
    """`build()` with torch seeded from cfg.seed: the initial weights follow the seed, on every run and rank."""
    torch.manual_seed(cfg.seed)
    return build()


def _autocast(cfg: TrainConfig, device: torch.device):
    """bf16 autocast where it pays off; fp32 weights stay the master copy either way."""
    use_bf16 = cfg.precision == "bf16" or (
        cfg.precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
    )
    return torch.autocast(device.type, dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()


def _to(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_to(v, device) for v in batch)
    return batch


def epoch_batches(n_items: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The default batch order: a seeded permutation per epoch, cut into full batches."""
    order = np.random.default_rng([seed, epoch]).permutation(n_items)
    return [order[i : i + batch_size].tolist() for i in range(0, n_items - batch_size + 1, batch_size)]


def global_batch(cfg: TrainConfig, ranks: Ranks) -> int:
    """Items per optimizer step over all ranks: batch_size x world_size x grad_accum."""
    return cfg.batch_size * ranks.world_size * cfg.grad_accum


def _keep_global_batch(cfg: TrainConfig, ranks: Ranks, saved: int) -> TrainConfig:
    """The settings that keep the global batch a checkpoint was trained with when it resumes on another number of
    processes: the per-process batch stays, gradient accumulation makes up the difference."""
    if saved == global_batch(cfg, ranks):
        return cfg
    per_step = cfg.batch_size * ranks.world_size
    if saved % per_step:
        raise ValueError(f"the checkpoint was trained with a global batch of {saved} items, which {ranks.world_size} "
                         f"process(es) with batch_size {cfg.batch_size} cannot make up by accumulation; resume with "
                         f"a number of processes that divides {saved // cfg.batch_size}")  # fmt: skip
    if ranks.is_main:
        print(f"resuming on {ranks.world_size} process(es) with grad_accum {saved // per_step}, which keeps the "
              f"global batch of {saved}")  # fmt: skip
    return dataclasses.replace(cfg, grad_accum=saved // per_step)


class _BatchStream:
    """Yields (the rank's micro-batches of one step) from a resume point. The order of global batches is a pure
    function of (seed, epoch, global batch size), whatever the number of ranks."""

    def __init__(self, dataset, cfg: TrainConfig, ranks: Ranks, collate_fn, lengths, epoch: int, position: int):
        self.dataset, self.cfg, self.ranks, self.collate_fn = dataset, cfg, ranks, collate_fn
        self.epoch, self.position = epoch, position
        self.sampler = None
        if lengths is not None:
            self.sampler = LengthBucketSampler(lengths, global_batch(cfg, ranks), seed=cfg.seed)

    def _steps(self, epoch: int) -> list[list[int]]:
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
            batches = list(self.sampler)
        else:
            batches = epoch_batches(len(self.dataset), global_batch(self.cfg, self.ranks), self.cfg.seed, epoch)
        # only full global batches, so that the steps are the same for any number of processes and micro-batches
        return [b for b in batches if len(b) == global_batch(self.cfg, self.ranks)]

    def _rank_batches(self, step_batch: list[int]) -> list[list[int]]:
        micro = np.array_split(np.asarray(step_batch), self.cfg.grad_accum)
        return [rank_part(m.tolist(), self.ranks) for m in micro]

    def __iter__(self) -> Iterator[list]:
        while True:
            steps = self._steps(self.epoch)
            if not steps:
                raise ValueError(f"the dataset has {len(self.dataset)} items: fewer than one global batch of "
                                 f"{global_batch(self.cfg, self.ranks)}")  # fmt: skip
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(self.epoch)
            batches = [part for step in steps[self.position :] for part in self._rank_batches(step)]
            # an explicit generator keeps the DataLoader from drawing its seed from the global RNG, which a resumed
            # run would otherwise consume at a different moment than an uninterrupted one
            generator = torch.Generator().manual_seed(self.cfg.seed * 100_003 + self.epoch)
            loader = DataLoader(self.dataset, batch_sampler=batches, collate_fn=self.collate_fn,
                                num_workers=self.cfg.num_workers, generator=generator)  # fmt: skip
            micro = []
            for batch in loader:
                micro.append(batch)
                if len(micro) == self.cfg.grad_accum:
                    self.position += 1
                    yield micro
                    micro = []
            self.epoch, self.position = self.epoch + 1, 0


class _Logger:
    """stdout + JSONL (+ TensorBoard when installed), rank 0 only."""

    def __init__(self, run_dir: Path, resume_step: int, enabled: bool):
        self.enabled = enabled
        self.path = run_dir / "metrics.jsonl"
        self.tb = None
        if not enabled:
            return
        if self.path.exists():  # drop lines after the checkpoint we resume from: they will be produced again
            keep = [ln for ln in self.path.read_text().splitlines() if ln and json.loads(ln)["step"] <= resume_step]
            self.path.write_text("".join(ln + "\n" for ln in keep))
        with contextlib.suppress(ImportError):
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events after the checkpoint, as for the JSONL file above
            self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step + 1 if resume_step else None)

    def log(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def train(
    model: torch.nn.Module,
    task: Callable,
    dataset,
    cfg: TrainConfig,
    run_dir: str | Path,
    save_model: Callable[[torch.nn.Module, Path], None],
    collate_fn: Callable | None = None,
    lengths=None,
    evaluate: Callable[[torch.nn.Module], dict] | None = None,
    progress: bool = True,
    forward_methods: tuple[str, ...] = (),
) -> dict:
    """Train `model` with `task` on `dataset`; resume from RUN/checkpoint when it exists.

    Args:
        model: the module (weights in fp32).
        task: `loss, logs = task(model, batch)` or `loss, logs, weight = ...`, where weight is what the loss
            averages over (items, scored tokens); micro-batches and ranks are weighted by it (default 1 each).
            logs is a dict of floats with the same keys on every call.
        dataset: a map-style dataset.
        cfg: TrainConfig.
        run_dir: the run folder (checkpoint/, metrics.jsonl, tensorboard/).
        save_model: writes the model's weights and config into a folder (its from_pretrained layout).
        collate_fn: batches items (default torch's).
        lengths: item lengths; when given, global batches group items of similar length (`LengthBucketSampler`),
            otherwise they are a seeded permutation per epoch.
        evaluate: returns a dict of metrics for the current model; called every eval_every steps and at the end,
            on every rank (a sharded model needs them all), logged by rank 0.
        progress: show a progress bar.
        forward_methods: methods other than forward that `task` or `evaluate` call on the model with its weights
            (e.g. the tokenizer's encode and decode): FSDP2 gathers the sharded weights around them too.

    Returns:
        {"step", "last": last logged values, "eval": last evaluation, "stopped": True if stopped by a signal}.
    """
    run_dir = Path(run_dir)
    ranks = setup(_device(cfg, Ranks()).type)
    device = _device(cfg, ranks)
    if ranks.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model.to(device)
    if cfg.activation_checkpointing:
        checkpoint_blocks(model)
    model = parallelize(model, cfg.parallel, ranks, device, forward_methods)
    if ranks.rank:  # rank 0 keeps the stream of one process; the others get their own (dropout masks)
        torch.manual_seed(cfg.seed + 1_000_003 * ranks.rank)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    state = {"step": 0, "epoch": 0, "position": 0}
    ckpt = latest_checkpoint(run_dir)
    if ckpt is not None:
        saved = load_checkpoint(ckpt, model, optimizer, ranks, cfg.seed)
        cfg = _keep_global_batch(cfg, ranks, saved.pop("global_batch", global_batch(cfg, ranks)))
        state.update(saved)
        if ranks.is_main:
            print(f"resuming from {ckpt} at step {state['step']}")
    logger = _Logger(run_dir, state["step"], ranks.is_main)
    stream = _BatchStream(dataset, cfg, ranks, collate_fn, lengths, state["epoch"], state["position"])
    batches = iter(stream)
    stop = {"signal": None}
    handlers = _install_signal_handlers(stop)
    result = {"step": state["step"], "last": {}, "eval": {}, "stopped": False}
    bar = _progress(cfg.steps, state["step"], progress and ranks.is_main)
    try:
        while state["step"] < cfg.steps and not result["stopped"]:
            t0 = time.perf_counter()
            logs, result["stopped"] = _step(model, task, optimizer, next(batches), cfg, ranks, device, state["step"],
                                            run_dir, stop["signal"] is not None)  # fmt: skip
            state.update(step=state["step"] + 1, epoch=stream.epoch, position=stream.position)
            logs["step_seconds"] = time.perf_counter() - t0
            step = state["step"]
            result["step"], result["last"] = step, logs
            if step % cfg.log_every == 0 or step == cfg.steps:
                logger.log(step, logs)
                bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs['lr']:.2e}")
            bar.update(1)
            if evaluate is not None and ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps):
                result["eval"] = _evaluate(model, evaluate, logger, step)
            if step % cfg.ckpt_every == 0 or step == cfg.steps or result["stopped"]:
                trainer = {**state, "global_batch": global_batch(cfg, ranks)}
                save_checkpoint(run_dir, model, optimizer, trainer, save_model, ranks)
    finally:
        bar.close()
        logger.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if result["stopped"] and ranks.is_main:
        print(f"stopped by {stop['signal'] or 'a signal to another rank'} at step {state['step']}; "
              "checkpoint saved, rerun to resume")  # fmt: skip
    if ranks.enabled and ranks.is_main and state["step"] == cfg.steps:
        print(f"the weights are sharded in {run_dir / 'checkpoint'}; for inference write a model folder with: "
              f"motionmill export checkpoint --run {run_dir} --out DIR")  # fmt: skip
    return result


def _step(model, task, optimizer, micro_batches: list, cfg: TrainConfig, ranks: Ranks, device, step: int,
          run_dir: Path, stop_requested: bool) -> tuple[dict, bool]:  # fmt: skip
    """One optimizer step over the rank's micro-batches. Returns the logs (weighted over every rank and
    micro-batch) and whether any rank was asked to stop; raises TrainingDiverged on a non-finite loss anywhere."""
    model.train()
    lr = lr_at(step, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio)
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    totals: dict[str, float] = {}
    for i, batch in enumerate(micro_batches):
        with _gradient_sync(model, last=i == len(micro_batches) - 1), _autocast(cfg, device):
            loss, logs, *weight = task(model, _to(batch, device))
            weight = float(weight[0]) if weight else 1.0
            (loss * weight).backward()
        for k, v in {"weight": weight, "loss": loss.item(), **logs}.items():
            totals[k] = totals.get(k, 0.0) + float(v) * (1.0 if k == "weight" else weight)
    # one all-reduce for the logs, the weights and the stop requests of every rank
    *sums, stops = sum_across([*totals.values(), float(stop_requested)], ranks, device)
    summed = dict(zip(totals, sums, strict=True))
    total_weight = summed.pop("weight")
    if not math.isfinite(summed["loss"]):
        last = latest_checkpoint(run_dir)
        raise TrainingDiverged(f"loss became {summed['loss']} at step {step + 1}; stopping. Last good checkpoint: "
                               f"{last or 'none yet'}. Try a lower --lr or check the data.")  # fmt: skip
    # the ranks' gradients were averaged, so world_size / total weight turns them into the weighted mean's
    scale = ranks.world_size / total_weight
    for p in model.parameters():
        if p.grad is not None:
            p.grad.mul_(scale)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
    optimizer.step()
    norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # FSDP2 returns a DTensor
    logs = {k: v / total_weight for k, v in summed.items()}
    return {**logs, "lr": lr, "grad_norm": float(norm)}, stops > 0


def _gradient_sync(model, last: bool):
    """Reduce gradients across ranks only after the last micro-batch of a step."""
    if last:
        return contextlib.nullcontext()
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        return _fsdp_no_sync(model)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _fsdp_no_sync(model):
    model.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def _evaluate(model, evaluate, logger: _Logger, step: int) -> dict:
    model.eval()
    with torch.no_grad():
        metrics = {f"eval/{k}": float(v) for k, v in evaluate(unwrap(model)).items()}
    logger.log(step, metrics)
    if logger.enabled:
        print(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    return metrics


def _install_signal_handlers(stop: dict) -> dict:
    """SIGTERM/SIGINT ask the loop to finish the current step, checkpoint and return."""

    def request_stop(signum, _frame):
        stop["signal"] = signal.Signals(signum).name

    old = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            old[sig] = signal.signal(sig, request_stop)
    return old


def _progress(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc="train", unit="step", dynamic_ncols=True)
