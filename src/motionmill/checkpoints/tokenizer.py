"""Tokenizer checkpoint folders: `config.json` + `model.safetensors` (+ `stats.safetensors`), nothing else.

`load_tokenizer(folder)` needs only that folder. Each file is written atomically (temp name, fsync, rename), the
weights before the config (`folder.py`), so a folder with a config never holds half-written weights. Weights are
safetensors: loading never unpickles anything.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from motionmill.checkpoints.folder import CONFIG_NAME, WEIGHTS_NAME, load_model_folder, model_folder, save_model_folder
from motionmill.tokenizer.model import MotionTokenizer, TokenizerConfig

__all__ = ["CONFIG_NAME", "STATS_NAME", "WEIGHTS_NAME", "load_tokenizer", "save_tokenizer"]

STATS_NAME = "stats.safetensors"


def save_tokenizer(model: MotionTokenizer, folder: str | Path, stats=None) -> Path:
    """Write `model` (and optionally its `Normalizer` stats) to `folder`; returns the folder path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if stats is not None:
        stats.save(folder / STATS_NAME)
    elif (folder / STATS_NAME).exists():
        (folder / STATS_NAME).unlink()  # stale stats from an earlier save would not match these weights
    config = dataclasses.asdict(model.cfg)
    config["levels"] = list(config["levels"])
    return save_model_folder(model, folder, config)


def load_tokenizer(folder: str | Path, device: str | torch.device = "cpu"):
    """Load what `save_tokenizer` wrote, from that folder or from a training run folder (its checkpoint/).

    Returns:
        (model in eval mode, `Normalizer` or None when the folder has no stats).
    """
    folder = model_folder(folder, "tokenizer")
    model = load_model_folder(folder, TokenizerConfig, MotionTokenizer, device)
    stats = None
    if (folder / STATS_NAME).is_file():
        from motionmill.motion.normalize import Normalizer

        stats = Normalizer.load(folder / STATS_NAME)
    return model, stats
