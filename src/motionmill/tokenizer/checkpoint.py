"""Tokenizer checkpoint folders: `config.json` + `model.safetensors` (+ `stats.safetensors`), nothing else.

`from_pretrained(folder)` needs only that folder. Each file is written atomically (temp name, fsync, rename), the
weights before the config, so a folder with a config never holds half-written weights. Weights are safetensors:
loading never unpickles anything.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from motionmill.tokenizer.model import MotionTokenizer, TokenizerConfig

__all__ = ["CONFIG_NAME", "STATS_NAME", "WEIGHTS_NAME", "from_pretrained", "save_pretrained"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
STATS_NAME = "stats.safetensors"


def save_pretrained(model: MotionTokenizer, folder: str | Path, stats=None) -> Path:
    """Write `model` (and optionally its `Normalizer` stats) to `folder`; returns the folder path."""
    from safetensors.torch import save

    from motionmill.utils.io import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / WEIGHTS_NAME, save(tensors, metadata={"format": "pt"}))
    if stats is not None:
        stats.save(folder / STATS_NAME)
    elif (folder / STATS_NAME).exists():
        (folder / STATS_NAME).unlink()  # stale stats from an earlier save would not match these weights
    config = dataclasses.asdict(model.cfg)
    config["levels"] = list(config["levels"])
    atomic_write(folder / CONFIG_NAME, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return folder


def from_pretrained(folder: str | Path, device: str | torch.device = "cpu"):
    """Load what `save_pretrained` wrote, from that folder or from a training run folder (its checkpoint/).

    Returns:
        (model in eval mode, `Normalizer` or None when the folder has no stats).
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file() and (folder / "checkpoint" / CONFIG_NAME).is_file():
        folder = folder / "checkpoint"  # a training run folder: its latest checkpoint
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not a tokenizer checkpoint: {name} is missing")
    raw = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(TokenizerConfig)}
    if unknown := sorted(set(raw) - known):
        raise ValueError(f"{folder / CONFIG_NAME} has unknown fields {unknown}; known: {sorted(known)}")
    model = MotionTokenizer(TokenizerConfig(**raw))
    model.load_state_dict(load_file(str(folder / WEIGHTS_NAME), device=str(device)))
    stats = None
    if (folder / STATS_NAME).is_file():
        from motionmill.motion.normalize import Normalizer

        stats = Normalizer.load(folder / STATS_NAME)
    return model.to(device).eval(), stats
