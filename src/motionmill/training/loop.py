"""The one training loop for every model (tokenizer, generator, evaluator).

The model-specific part is a task function `loss, logs = task(model, batch)`. The loop owns the rest: gradient
accumulation, autocast (bf16 on GPUs that support it, fp32 on CPU where bf16 is slower), clipping, the warmup +
cosine schedule, periodic evaluation, logs (stdout, JSONL, TensorBoard when installed), a progress bar with ETA,
checkpoints every N steps and on SIGTERM/SIGINT, and exact resume: weights, optimizer, step, the position in the
deterministic batch order and RNG states are restored, so a run killed at any moment continues as if it never
stopped. Rank 0 alone logs and writes (RANK from torchrun), so nothing here blocks multi-process training.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from motionmill.training.schedule import lr_at
from motionmill.training.state import latest_checkpoint, load_checkpoint, save_checkpoint

__all__ = ["TrainConfig", "TrainingDiverged", "train"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping settings shared by every model."""

    steps: int = 2000
    """Optimizer steps in total (--steps)."""
    batch_size: int = 32
    """Items per micro-batch (--batch-size)."""
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

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        checks = {
            "--steps": self.steps >= 1, "--batch-size": self.batch_size >= 1, "--grad-accum": self.grad_accum >= 1,
            "--lr": self.lr > 0, "--warmup-steps": self.warmup_steps >= 0, "--ckpt-every": self.ckpt_every >= 1,
            "--min-lr-ratio": 0 <= self.min_lr_ratio <= 1, "--grad-clip": self.grad_clip >= 0,
            "--log-every": self.log_every >= 1, "--eval-every": self.eval_every >= 0,
            "--precision": self.precision in ("auto", "fp32", "bf16"), "--num-workers": self.num_workers >= 0,
            "--betas": len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
        }  # fmt: skip
        bad = [flag for flag, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training settings: {', '.join(bad)} (see motionmill train --help)")


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


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


class _BatchStream:
    """Yields (epoch, position, batch) from a resume point; the order is a pure function of (seed, epoch)."""

    def __init__(self, dataset, cfg: TrainConfig, collate_fn, batch_sampler, epoch: int, position: int):
        self.dataset, self.cfg, self.collate_fn, self.sampler = dataset, cfg, collate_fn, batch_sampler
        self.epoch, self.position = epoch, position

    def _batches(self, epoch: int) -> list[list[int]]:
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
            return list(self.sampler)
        return epoch_batches(len(self.dataset), self.cfg.batch_size, self.cfg.seed, epoch)

    def __iter__(self) -> Iterator:
        while True:
            batches = self._batches(self.epoch)
            if not batches:
                raise ValueError(f"the dataset has {len(self.dataset)} items: fewer than one batch")
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(self.epoch)
            # an explicit generator keeps the DataLoader from drawing its seed from the global RNG, which a resumed
            # run would otherwise consume at a different moment than an uninterrupted one
            generator = torch.Generator().manual_seed(self.cfg.seed * 100_003 + self.epoch)
            loader = DataLoader(self.dataset, batch_sampler=batches[self.position :], collate_fn=self.collate_fn,
                                num_workers=self.cfg.num_workers, generator=generator)  # fmt: skip
            for batch in loader:
                self.position += 1
                yield batch
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
    batch_sampler=None,
    evaluate: Callable[[torch.nn.Module], dict] | None = None,
    progress: bool = True,
) -> dict:
    """Train `model` with `task` on `dataset`; resume from RUN/checkpoint when it exists.

    Args:
        model: the module (weights in fp32).
        task: `loss, logs = task(model, batch)`; logs is a dict of floats.
        dataset: a map-style dataset.
        cfg: TrainConfig.
        run_dir: the run folder (checkpoint/, metrics.jsonl, tensorboard/).
        save_model: writes the model's weights and config into a folder (its from_pretrained layout).
        collate_fn: batches items (default torch's).
        batch_sampler: a deterministic sampler with `set_epoch` (e.g. LengthBucketSampler); default a seeded
            permutation per epoch.
        evaluate: returns a dict of metrics for the current model; called every eval_every steps and at the end.
        progress: show a progress bar.

    Returns:
        {"step", "last": last logged values, "eval": last evaluation, "stopped": True if stopped by a signal}.
    """
    run_dir = Path(run_dir)
    is_main = int(os.environ.get("RANK", "0")) == 0
    run_dir.mkdir(parents=True, exist_ok=True)
    device = _device(cfg)
    torch.manual_seed(cfg.seed)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    state = {"step": 0, "epoch": 0, "position": 0}
    ckpt = latest_checkpoint(run_dir)
    if ckpt is not None:
        state.update(load_checkpoint(ckpt, model, optimizer))
        if is_main:
            print(f"resuming from {ckpt} at step {state['step']}")
    logger = _Logger(run_dir, state["step"], is_main)
    stream = _BatchStream(dataset, cfg, collate_fn, batch_sampler, state["epoch"], state["position"])
    batches = iter(stream)
    stop = {"signal": None}
    handlers = _install_signal_handlers(stop)
    result = {"step": state["step"], "last": {}, "eval": {}, "stopped": False}
    bar = _progress(cfg.steps, state["step"], progress and is_main)
    try:
        while state["step"] < cfg.steps and stop["signal"] is None:
            t0 = time.perf_counter()
            logs = _step(model, task, optimizer, batches, cfg, device, state["step"], run_dir)
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
            if is_main and (step % cfg.ckpt_every == 0 or step == cfg.steps or stop["signal"] is not None):
                save_checkpoint(run_dir, model, optimizer, dict(state), save_model)
    finally:
        bar.close()
        logger.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if stop["signal"] is not None:
        result["stopped"] = True
        if is_main:
            print(f"stopped by {stop['signal']} at step {state['step']}; checkpoint saved, rerun to resume")
    return result


def _step(model, task, optimizer, batches, cfg: TrainConfig, device, step: int, run_dir: Path) -> dict:
    """One optimizer step over cfg.grad_accum micro-batches; raises TrainingDiverged on a non-finite loss."""
    model.train()
    lr = lr_at(step, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio)
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    totals: dict[str, float] = {}
    for _ in range(cfg.grad_accum):
        with _autocast(cfg, device):
            loss, logs = task(model, _to(next(batches), device))
        if not torch.isfinite(loss):
            last = latest_checkpoint(run_dir)
            raise TrainingDiverged(f"loss became {loss.item()} at step {step + 1}; stopping. Last good checkpoint: "
                                   f"{last or 'none yet'}. Try a lower --lr or check the data.")  # fmt: skip
        (loss / cfg.grad_accum).backward()
        for k, v in {"loss": loss.item(), **logs}.items():
            totals[k] = totals.get(k, 0.0) + float(v) / cfg.grad_accum
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
    optimizer.step()
    return {**totals, "lr": lr, "grad_norm": float(norm)}


def _evaluate(model, evaluate, logger: _Logger, step: int) -> dict:
    model.eval()
    with torch.no_grad():
        metrics = {f"eval/{k}": float(v) for k, v in evaluate(model).items()}
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
