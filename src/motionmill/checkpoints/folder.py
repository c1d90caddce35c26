"""Model folders shared by every component: `config.json` + `model.safetensors` (+ component extras).

Weights are written before the config, each file atomically, so a folder with a config never holds half-written
weights; loading never unpickles anything. A training run folder is accepted wherever a model folder is: its
`checkpoint/` is used.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
from pathlib import Path

import torch

from motionmill.utils.io import atomic_write

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "load_model_folder", "model_folder", "save_model_folder", "weights_elsewhere"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_WEIGHTS_ELSEWHERE = contextvars.ContextVar("weights_elsewhere", default=False)


@contextlib.contextmanager
def weights_elsewhere():
    """Inside this block `save_model_folder` writes the config and extras but no weights: a checkpoint of a
    multi-process run keeps them in its shards (`training.state`)."""
    token = _WEIGHTS_ELSEWHERE.set(True)
    try:
        yield
    finally:
        _WEIGHTS_ELSEWHERE.reset(token)


def model_folder(folder: str | Path, what: str) -> Path:
    """The folder holding the model files (a run folder's checkpoint/), or FileNotFoundError naming what's missing."""
    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file() and (folder / "checkpoint" / CONFIG_NAME).is_file():
        folder = folder / "checkpoint"
    if (folder / CONFIG_NAME).is_file() and not (folder / WEIGHTS_NAME).is_file() and (folder / "state").is_dir():
        raise FileNotFoundError(f"{folder} holds the sharded weights of a multi-process run; write a {what} folder "
                                f"from it with: motionmill export checkpoint --run {folder} --out DIR")  # fmt: skip
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not a {what} checkpoint: {name} is missing")
    return folder


def save_model_folder(model: torch.nn.Module, folder: str | Path, config: dict) -> Path:
    """Write the weights, then `config` as JSON."""
    from safetensors.torch import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not _WEIGHTS_ELSEWHERE.get():
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        atomic_write(folder / WEIGHTS_NAME, save(tensors, metadata={"format": "pt"}))
    atomic_write(folder / CONFIG_NAME, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return folder


def load_model_folder(folder: Path, config_cls, build, device: str | torch.device = "cpu"):
    """`build(config_cls(**config.json))` with the folder's weights, in eval mode on `device`, as float32.

    The model is built on the meta device and takes the loaded tensors as its parameters (`assign=True`), so the
    weights are in memory once, not once as random initial values and again as the file's (a 7B model is 28 GB).
    """
    from safetensors.torch import load_file

    raw = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(config_cls)}
    if unknown := sorted(set(raw) - known):
        raise ValueError(f"{folder / CONFIG_NAME} has unknown fields {unknown}; known: {sorted(known)}")
    with torch.device("meta"):
        model = build(config_cls(**raw))
    state = load_file(str(folder / WEIGHTS_NAME), device=str(device))
    model.load_state_dict(state, assign=True)
    del state  # the parameters hold the tensors now; a bf16 file is then cast one parameter at a time
    return model.float().eval()
