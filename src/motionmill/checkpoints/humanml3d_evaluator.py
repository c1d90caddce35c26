"""The standard HumanML3D evaluator's released weights (text2motion's `finest.tar`) in `HumanML3DEvaluatorNet`.

The file is a dict of three state dicts, 'text_encoder', 'movement_encoder' and 'motion_encoder' (plus 'epoch' and
optimizer states); sizes are read from the weight shapes, so variants with other widths load too.
"""

from __future__ import annotations

from pathlib import Path

import torch

from motionmill.checkpoints.released import load_renamed, read_state_dict
from motionmill.evaluator.legacy import POS_TAGS, HumanML3DEvaluatorConfig, HumanML3DEvaluatorNet

__all__ = ["load_humanml3d_net"]

_HML_PARTS = ("text_encoder", "movement_encoder", "motion_encoder")


def _humanml3d_config(sd: dict[str, torch.Tensor]) -> HumanML3DEvaluatorConfig:
    """Sizes read from the weights (defaults where a key is missing; the key check reports it)."""
    d = HumanML3DEvaluatorConfig()

    def size(key: str, axis: int, default: int) -> int:
        return int(sd[key].shape[axis]) if key in sd and sd[key].dim() > axis else default

    cfg = HumanML3DEvaluatorConfig(
        word_dim=size("text_encoder.pos_emb.weight", 0, d.word_dim),
        pos_dim=size("text_encoder.pos_emb.weight", 1, d.pos_dim),
        text_hidden=size("text_encoder.input_emb.weight", 0, d.text_hidden),
        embed_dim=size("text_encoder.output_net.3.weight", 0, d.embed_dim),
        movement_in=size("movement_encoder.main.0.weight", 1, d.movement_in),
        movement_hidden=size("movement_encoder.main.0.weight", 0, d.movement_hidden),
        movement_latent=size("movement_encoder.main.3.weight", 0, d.movement_latent),
        motion_hidden=size("motion_encoder.input_emb.weight", 0, d.motion_hidden),
    )
    if cfg.movement_in != 259:
        raise ValueError(f"the movement encoder reads {cfg.movement_in + 4}-dim motion; only HumanML3D-263 is "
                         "supported (KIT-ML's 251 is not)")  # fmt: skip
    if cfg.pos_dim != len(POS_TAGS):
        raise ValueError(f"pos_emb reads {cfg.pos_dim} POS classes, expected {len(POS_TAGS)}")
    return cfg


def load_humanml3d_net(checkpoint: str | Path) -> HumanML3DEvaluatorNet:
    """The networks of text2motion's `finest.tar` (`checkpoints/t2m/text_mot_match/model/finest.tar`), in eval mode.

    Raises:
        ValueError: the file is not a dict of the three state dicts, or its weights do not fit the architecture.
    """
    raw = read_state_dict(checkpoint)
    if not isinstance(raw, dict) or not all(isinstance(raw.get(p), dict) for p in _HML_PARTS):
        found = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{checkpoint}: expected a dict with state dicts {list(_HML_PARTS)}; found {found}")
    sd = {f"{part}.{k}": v for part in _HML_PARTS for k, v in raw[part].items()}
    net = HumanML3DEvaluatorNet(_humanml3d_config(sd))
    load_renamed(net, sd, lambda k: k, lambda k: k, f"HumanML3D evaluator {checkpoint}")
    return net.eval()
