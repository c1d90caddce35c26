"""Generator checkpoint folders: `config.json` + `model.safetensors`, nothing else.

Kept out of `generator/` so the model files import only torch. Weights are written before the config, each file
atomically, so a folder with a config never holds half-written weights; loading never unpickles anything.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from motionmill.generator.model import GeneratorConfig, MotionGenerator

__all__ = ["load_generator", "save_generator"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def save_generator(model: MotionGenerator, folder: str | Path) -> Path:
    """Write the generator's weights and config into `folder`."""
    from safetensors.torch import save

    from motionmill.utils.io import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / WEIGHTS_NAME, save(tensors, metadata={"format": "pt"}))
    atomic_write(folder / CONFIG_NAME, json.dumps(dataclasses.asdict(model.cfg), indent=2, sort_keys=True) + "\n")
    return folder


def load_generator(folder: str | Path, device: str | torch.device = "cpu") -> MotionGenerator:
    """Load what `save_generator` wrote, from that folder or from a training run folder (its checkpoint/)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file() and (folder / "checkpoint" / CONFIG_NAME).is_file():
        folder = folder / "checkpoint"
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not a generator checkpoint: {name} is missing")
    raw = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(GeneratorConfig)}
    if unknown := sorted(set(raw) - known):
        raise ValueError(f"{folder / CONFIG_NAME} has unknown fields {unknown}")
    model = MotionGenerator(GeneratorConfig(**raw))
    model.load_state_dict(load_file(str(folder / WEIGHTS_NAME), device=str(device)))
    return model.to(device).eval()
