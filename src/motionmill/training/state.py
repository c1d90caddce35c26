"""Run checkpoints: model + optimizer + trainer state, swapped in atomically as one folder, on any number of processes.

`RUN/checkpoint/` holds:
- `state/`: the model and optimizer, written with `torch.distributed.checkpoint` (every rank writes its own shard,
  keys are parameter names), so a run resumes on any number of processes: 2 -> 1 -> 2 gives the same losses;
- `trainer.pt`: step, epoch, position in the epoch's batch order, the number of processes and each rank's RNG
  states (tensors and plain containers, read with `weights_only=True`);
- what the model's own saver writes (`config.json`, stats...). On one process that includes `model.safetensors`, so
  the folder loads as a model as is; a multi-process checkpoint keeps its weights only in `state/`, and
  `export_checkpoint` (`motionmill export checkpoint`) writes the usual single-file folder from it.

A checkpoint is written to `.checkpoint.tmp` and renamed into place by rank 0 after every rank has written, so a
kill at any moment leaves the previous checkpoint or the new one, never a mix. On several machines the run folder
must be on a filesystem they share.
"""

from __future__ import annotations

import os
import random
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from motionmill.training.distributed import ONE_PROCESS, Ranks, gather_objects, unwrap

__all__ = ["export_checkpoint", "latest_checkpoint", "load_checkpoint", "save_checkpoint"]

STATE_DIR = "state"
TRAINER_NAME = "trainer.pt"


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint folder of a run, recovering from a kill between the two renames of a swap."""
    run_dir = Path(run_dir)
    for name in ("checkpoint", "checkpoint.old"):
        path = run_dir / name
        if (path / TRAINER_NAME).is_file():
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


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def save_checkpoint(run_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, trainer: dict,
                    save_model: Callable[[torch.nn.Module, Path], None],
                    ranks: Ranks = ONE_PROCESS) -> Path:  # fmt: skip
    """Write RUN/checkpoint atomically; every rank calls this. `trainer` is a dict of ints/floats (step, epoch...)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    from motionmill.checkpoints.folder import weights_elsewhere

    run_dir = Path(run_dir)
    tmp, final, old = run_dir / ".checkpoint.tmp", run_dir / "checkpoint", run_dir / "checkpoint.old"
    if ranks.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    ranks.barrier()
    model_state, optim_state = get_state_dict(model, optimizer)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*single process.*")
        dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=tmp / STATE_DIR)
    rng = gather_objects(_rng_state(), ranks)
    if ranks.is_main:
        if ranks.enabled:
            with weights_elsewhere():  # the shards hold them; gathering a sharded model on rank 0 would not fit
                save_model(unwrap(model), tmp)
        else:
            save_model(model, tmp)
        torch.save({**trainer, "world_size": ranks.world_size, "rng": rng}, tmp / TRAINER_NAME)
        _fsync_tree(tmp)
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    ranks.barrier()
    return final


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, ranks: Ranks = ONE_PROCESS,
                    seed: int = 0) -> dict:  # fmt: skip
    """Restore weights, optimizer and RNG states in place (resharding when the number of processes changed);
    return the trainer dict. Ranks without a saved RNG state (more processes than before) are seeded from `seed`."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    if not (path / STATE_DIR).is_dir():
        raise FileNotFoundError(f"{path}: no {STATE_DIR}/ folder; this checkpoint was written by an older motionmill "
                                "and cannot be resumed, start a new run folder")  # fmt: skip
    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optim": optim_state}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*single process.*")
        dcp.load(state, checkpoint_id=path / STATE_DIR)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    trainer = torch.load(path / TRAINER_NAME, map_location="cpu", weights_only=True)
    rngs = trainer.pop("rng")
    trainer.pop("world_size", None)
    if ranks.rank < len(rngs):
        _set_rng_state(rngs[ranks.rank])
    else:
        torch.manual_seed(seed + 1_000_003 * ranks.rank)
    return trainer


def export_checkpoint(source: str | Path, out: str | Path) -> Path:
    """A model folder (config, extras and one `model.safetensors`) from a run or its checkpoint, on one process:
    the weights are read from the shards of `state/`, whatever number of processes wrote them."""
    import torch.distributed.checkpoint as dcp
    from safetensors.torch import save
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    from motionmill.checkpoints.folder import CONFIG_NAME, WEIGHTS_NAME
    from motionmill.utils.io import atomic_write

    source = Path(source)
    folder = source if (source / TRAINER_NAME).is_file() else latest_checkpoint(source)
    if folder is None or not (folder / STATE_DIR).is_dir() or not (folder / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"{source}: not a training run or checkpoint (no checkpoint/{STATE_DIR}/)")
    out = Path(out)
    if out.resolve() == folder.resolve():
        raise ValueError(f"--out must differ from the checkpoint folder {folder}")
    reader = FileSystemReader(str(folder / STATE_DIR))
    meta = reader.read_metadata().state_dict_metadata
    weights = {key: torch.empty(m.size, dtype=m.properties.dtype) for key, m in meta.items()
               if key.startswith("model.") and isinstance(m, TensorStorageMetadata)}  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*single process.*")
        dcp.load(weights, storage_reader=reader)
    out.mkdir(parents=True, exist_ok=True)
    extras = [p for p in folder.iterdir() if p.is_file() and p.name not in (TRAINER_NAME, WEIGHTS_NAME, CONFIG_NAME)]
    for path in extras:
        atomic_write(out / path.name, path.read_bytes())
    tensors = {key.removeprefix("model."): t for key, t in weights.items()}
    atomic_write(out / WEIGHTS_NAME, save(tensors, metadata={"format": "pt"}))
    atomic_write(out / CONFIG_NAME, (folder / CONFIG_NAME).read_bytes())  # last: marks the folder complete
    return out
