"""MotionMillion's 272 evaluator's released weights (a Lightning checkpoint) in `MotionMillionEvaluatorNet`.

Their evaluation builds TEMOS's `DistilbertActorAgnosticEncoder` and `ActorAgnosticEncoder` and loads each strictly
from the checkpoint's `state_dict` entries under `textencoder.` and `motionencoder.`
(https://github.com/VankouF/MotionMillion-Codes, `models/evaluator_wrapper_motionmillion_rpr272.py`). Per side:

    textencoder.    projection.1 (512, 768)  mu_token, logvar_token (512,)  sequence_pos_encoding.pe (5000, 1, 512)
                    seqTransEncoder.layers.{0..3}.{self_attn.in_proj_*, self_attn.out_proj.*, linear1.*, linear2.*,
                    norm1.*, norm2.*}  text_model.* (the frozen DistilBERT, saved with the encoder)
    motionencoder.  skel_embedding (512, 272)  mu_token, logvar_token  sequence_pos_encoding.pe  seqTransEncoder.*

Other keys (a TEMOS decoder, the optimizer) are ignored. `projection.1` and `skel_embedding` become our `proj`,
`seqTransEncoder` our `encoder`. The sinusoid table buffer `sequence_pos_encoding.pe` is checked against the table
we compute (sin on even channels, cos on odd ones) and then dropped. DistilBERT's weights, under
`textencoder.text_model.*`, are returned apart so the caller can load them into its DistilBERT.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from motionmill.checkpoints.released import load_renamed, read_state_dict
from motionmill.evaluator.legacy import MotionMillionEvaluatorConfig, MotionMillionEvaluatorNet
from motionmill.evaluator.tmr import sinusoidal_positions

__all__ = ["BERT_PREFIX", "load_motionmillion_net"]

BERT_PREFIX = "textencoder.text_model."


# released prefix -> (ours, renamed sub-prefixes); "sequence_pos_encoding.pe", the sinusoid table buffer, is dropped
# (we recompute it) and mu_token / logvar_token keep their names
_MM_SIDES = {
    "textencoder.": ("text.", {"projection.1.": "proj.", "seqTransEncoder.": "encoder."}),
    "motionencoder.": ("motion.", {"skel_embedding.": "proj.", "seqTransEncoder.": "encoder."}),
}


def _mm_rename(key: str) -> str | None:
    for released, (ours, renames) in _MM_SIDES.items():
        if key.startswith(released):
            rest = key.removeprefix(released)
            for a, b in renames.items():
                if rest.startswith(a):
                    return ours + b + rest.removeprefix(a)
            return ours + rest
    return None


def _mm_released_name(name: str) -> str:
    for released, (ours, renames) in _MM_SIDES.items():
        if name.startswith(ours):
            rest = name.removeprefix(ours)
            for a, b in renames.items():
                if rest.startswith(b):
                    return released + a + rest.removeprefix(b)
            return released + rest
    return name


def _motionmillion_config(sd: dict[str, torch.Tensor], n_head: int) -> MotionMillionEvaluatorConfig:
    d = MotionMillionEvaluatorConfig()
    proj = sd.get("motionencoder.skel_embedding.weight")
    text_proj = sd.get("textencoder.projection.1.weight")
    ff = sd.get("motionencoder.seqTransEncoder.layers.0.linear1.weight")
    layers = {m[1] for k in sd if (m := re.match(r"motionencoder\.seqTransEncoder\.layers\.(\d+)\.", k))}
    cfg = MotionMillionEvaluatorConfig(
        text_dim=int(text_proj.shape[1]) if text_proj is not None else d.text_dim,
        feature_dim=int(proj.shape[1]) if proj is not None else d.feature_dim,
        dim=int(proj.shape[0]) if proj is not None else d.dim,
        n_layer=len(layers) or d.n_layer,
        n_head=n_head,
        ff=int(ff.shape[0]) if ff is not None else d.ff,
    )
    if cfg.feature_dim != 272:
        raise ValueError(f"the motion encoder reads {cfg.feature_dim}-dim features; only the 272 layout is supported")
    return cfg


def _check_positions(sd: dict[str, torch.Tensor], checkpoint) -> None:
    """Raise if a side's `sequence_pos_encoding.pe` (max_len, 1, D) is not the sinusoid table we add instead."""
    for side in _MM_SIDES:
        key = side + "sequence_pos_encoding.pe"
        table = sd.get(key)
        if table is None:
            continue  # a state dict saved without buffers: nothing to check
        if table.ndim != 3 or table.shape[1] != 1:
            raise ValueError(f"{checkpoint}: {key} has shape {tuple(table.shape)}; expected (max_len, 1, D)")
        ours = sinusoidal_positions(table.shape[0], table.shape[2])[:, None]
        gap = float((table.float() - ours).abs().max())
        if gap > 1e-5:
            raise ValueError(f"{checkpoint}: {key} is not the sinusoid table (sin on even channels, cos on odd ones) "
                             f"that this evaluator adds (largest difference {gap:.3g})")  # fmt: skip


def load_motionmillion_net(checkpoint: str | Path, n_head: int = 4
                           ) -> tuple[MotionMillionEvaluatorNet, dict[str, torch.Tensor]]:  # fmt: skip
    """The evaluator networks of `checkpoint` (`checkpoints/evaluator/epoch=199.ckpt`, or its bare state dict) in
    eval mode, and the DistilBERT weights it carries (keys without `BERT_PREFIX`; empty when it has none).

    Args:
        checkpoint: the Lightning checkpoint or a state dict of tensors.
        n_head: attention heads (not recorded in the weights; 4 in the released model).
    """
    raw = read_state_dict(checkpoint)
    sd = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{checkpoint}: expected a state dict (or a dict with a 'state_dict' entry) of tensors")
    sides = {k: v for k, v in sd.items() if k.startswith(tuple(_MM_SIDES))}
    if not sides:
        prefixes = sorted({k.split(".")[0] for k in sd})
        raise ValueError(f"{checkpoint}: no textencoder.* or motionencoder.* keys; top-level names: {prefixes}")
    _check_positions(sides, checkpoint)
    bert_sd = {k.removeprefix(BERT_PREFIX): v for k, v in sides.items() if k.startswith(BERT_PREFIX)}
    own = {k: v for k, v in sides.items()
           if not k.startswith(BERT_PREFIX) and not k.endswith("sequence_pos_encoding.pe")}  # fmt: skip
    net = MotionMillionEvaluatorNet(_motionmillion_config(own, n_head))
    load_renamed(net, own, _mm_rename, _mm_released_name, f"MotionMillion evaluator {checkpoint}")
    return net.eval(), bert_sd
