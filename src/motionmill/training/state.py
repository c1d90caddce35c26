"""Run checkpoints: model weights + optimizer + trainer state, swapped in atomically as one folder.

`RUN/checkpoint/` holds `model.safetensors` and whatever the model's own saver writes (config, stats: a folder
that `from_pretrained` loads as is), plus `optimizer.pt` and `trainer.pt` for exact resume (step, epoch, position
in the epoch's batch order, RNG states). A checkpoint is written to a temporary folder and renamed into place, so
a kill at any moment leaves the previous checkpoint or the new one, never a mix. Both .pt files hold only tensors
and plain containers and are read with `weights_only=True`.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["load_checkpoint", "save_checkpoint", "latest_checkpoint"]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint folder of a run, recovering from a kill between the two renames of a swap."""
    run_dir = Path(run_dir)
    for name in ("checkpoint", "checkpoint.old"):
        path = run_dir / name
        if (path / "trainer.pt").is_file():
            return path
    return None


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, trainer: dict,
                    save_model: Callable[[torch.nn.Module, Path], None]) -> Path:  # fmt: skip
    """Write RUN/checkpoint atomically; `trainer` is a dict of ints/floats (step, epoch, position...)."""
    run_dir = Path(run_dir)
    tmp, final, old = run_dir / ".checkpoint.tmp", run_dir / "checkpoint", run_dir / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save({**trainer, "rng": _rng_state()}, tmp / "trainer.pt")
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Restore weights, optimizer and RNG states in place; return the trainer dict."""
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path / "model.safetensors")))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
    trainer = torch.load(path / "trainer.pt", map_location="cpu", weights_only=True)
    _set_rng_state(trainer.pop("rng"))
    return trainer
