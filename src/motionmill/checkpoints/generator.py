"""Generator checkpoint folders: `config.json` + `model.safetensors`, nothing else.

Kept out of `generator/` so the model files import only torch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from motionmill.checkpoints.folder import load_model_folder, model_folder, save_model_folder
from motionmill.generator.model import GeneratorConfig, MotionGenerator

__all__ = ["load_generator", "save_generator"]


def save_generator(model: MotionGenerator, folder: str | Path) -> Path:
    """Write the generator's weights and config into `folder`."""
    return save_model_folder(model, folder, dataclasses.asdict(model.cfg))


def load_generator(folder: str | Path, device: str | torch.device = "cpu") -> MotionGenerator:
    """Load what `save_generator` wrote, from that folder or from a training run folder (its checkpoint/)."""
    return load_model_folder(model_folder(folder, "generator"), GeneratorConfig, MotionGenerator, device)
