"""Evaluator checkpoint folders: `config.json` + `model.safetensors` + `stats.safetensors` + `evaluator.json`.

`evaluator.json` says what the evaluator reads: the text encoder spec whose states it was trained on, and the frame
rate and longest motion (frames) of its training clips. With the corpus normaliser in `stats.safetensors`, the
folder needs nothing else to embed texts and motions. Kept out of `evaluator/` so its model files import only
torch.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from motionmill.checkpoints.folder import load_model_folder, model_folder, save_model_folder
from motionmill.evaluator.tmr import EvaluatorConfig, TextMotionEvaluator
from motionmill.utils.io import atomic_write

__all__ = ["INFO_NAME", "STATS_NAME", "load_evaluator", "save_evaluator"]

STATS_NAME = "stats.safetensors"
INFO_NAME = "evaluator.json"
_INFO_KEYS = ("text_encoder", "fps", "max_frames")


def save_evaluator(model: TextMotionEvaluator, folder: str | Path, stats, info: dict) -> Path:
    """Write the evaluator, its motion normaliser (`Normalizer`) and `info` (text_encoder, fps, max_frames)."""
    if missing := [k for k in _INFO_KEYS if k not in info]:
        raise ValueError(f"evaluator info lacks {missing}")
    if stats.dim != model.cfg.feature_dim:
        raise ValueError(f"stats have {stats.dim} dims but the evaluator reads {model.cfg.feature_dim}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stats.save(folder / STATS_NAME)
    atomic_write(folder / INFO_NAME, json.dumps({k: info[k] for k in _INFO_KEYS}, indent=2) + "\n")
    return save_model_folder(model, folder, dataclasses.asdict(model.cfg))  # the config last: marks completion


def load_evaluator(folder: str | Path, device: str | torch.device = "cpu"):
    """Load what `save_evaluator` wrote, from that folder or a training run folder (its checkpoint/).

    Returns:
        (model in eval mode, `Normalizer`, info dict with text_encoder, fps, max_frames).
    """
    from motionmill.motion.normalize import Normalizer

    folder = model_folder(folder, "evaluator")
    for name in (STATS_NAME, INFO_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder} is not an evaluator checkpoint: {name} is missing")
    info = json.loads((folder / INFO_NAME).read_text(encoding="utf-8"))
    model = load_model_folder(folder, EvaluatorConfig, TextMotionEvaluator, device)
    return model, Normalizer.load(folder / STATS_NAME), info
