"""Convert the released MotionMillion FSQ tokenizer (`fsq_net_6000000.pth`) into a motionmill checkpoint folder.

Layout of the released file (MotionMillion-Codes `models/vqvae.py`, `models/encdec.py`, `models/resnet.py`,
`models/FSQ.py`, `models/modules.py`; trained with --use_patcher --patch_size 1 --patch_method haar --vq-norm LN
--down-t 1 --depth 3 --dilation-growth-rate 3 --kernel-size 3 --nb-code 65536):
a dict whose "net" entry is the state dict of `HumanVQVAE`, keys prefixed "module." when saved from DDP.

    vqvae.encoder.model.0.{wavelets,_arange}        Patcher1D buffers; patch size 1 = identity (dropped)
    vqvae.encoder.model.1.*                         Conv1d(F, W, 3)               -> encoder.conv_in
    vqvae.encoder.model.{3+i}.0.*                   Conv1d(W, W, 4, 2, 1)         -> encoder.down.i.conv
    vqvae.encoder.model.{3+i}.1.model.j.{norm1,conv1,norm2,conv2}.*              -> encoder.down.i.res.blocks.j.*
    vqvae.encoder.model.{3+down_t}.*                Conv1d(W, W, 3)               -> encoder.conv_out
    vqvae.quantizer.project_{in,out}.*              FSQ projections               -> quantizer.project_{in,out}
    vqvae.decoder.model.0.*                         Conv1d(W, W, 3)               -> decoder.conv_in
    vqvae.decoder.model.{2+i}.0.model.j.*           ResStack                      -> decoder.up.i.res.blocks.j.*
    vqvae.decoder.model.{2+i}.2.*                   Conv1d(W, W, 3) after upsample -> decoder.up.i.conv
    vqvae.decoder.model.{2+down_t}.*                Conv1d(W, W, 3)               -> decoder.conv_mid
    vqvae.decoder.model.{4+down_t}.*                Conv1d(W, F, 3)               -> decoder.conv_out
    vqvae.decoder.model.{5+down_t}.{wavelets,_arange}  UnPatcher1D buffers (dropped)

ReLU and Upsample slots hold no weights. Only the encoder indices are shifted by the patcher: it is prepended to
the encoder but appended to the decoder (checkpoints trained without --use_patcher have encoder indices one lower
and no buffers; both are accepted). Width, down_t, depth, feature dim and the number of levels are read from
the shapes; the level values and the dilation growth are not in the weights (defaults: [8, 8, 8, 5, 5, 5] for 6
dims, growth 3). A Haar patcher with patch size > 1 (channels x2) is not supported: ours is a different transform.

Usage:
    python -m motionmill.checkpoints.convert_motionmillion fsq_net_6000000.pth OUT [--levels 8,8,8,5,5,5]
        [--stats mean_std/]

`motionmill import motionmillion` reads the tokenizer with `load_released_tokenizer` and puts it in a pipeline folder
beside their generator (`motionmillion_generator.py`).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from motionmill.checkpoints.released import read_state_dict
from motionmill.checkpoints.tokenizer import save_tokenizer
from motionmill.tokenizer.model import LOSS_BLOCKS, MotionTokenizer, TokenizerConfig

__all__ = [
    "DEFAULT_LEVELS",
    "convert",
    "convert_state_dict",
    "load_released_state_dict",
    "load_released_tokenizer",
    "main",
    "remap",
    "released_config",
]

DEFAULT_LEVELS = {3: [8, 8, 8], 4: [8, 5, 5, 5], 5: [7, 5, 5, 5, 5], 6: [8, 8, 8, 5, 5, 5]}
"""Level sets MotionMillion picks from --nb-code, keyed by their count. The count is ambiguous for 3 dims (256:
[8, 6, 5]), 4 dims (2048: [8, 8, 6, 5]) and 5 dims (16384: [8, 8, 8, 6, 5]); pass --levels for those."""

_PATCHER_BUFFERS = ("wavelets", "_arange")


def load_released_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a released .pth safely (weights_only) and return its state dict without "module."/"vqvae." prefixes."""
    obj = read_state_dict(path, "tokenizer checkpoint", entry="net")
    sd = obj.get("net", obj) if isinstance(obj, dict) else None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{path}: expected a state dict or a dict with a 'net' state dict")
    out = {}
    for key, value in sd.items():
        for prefix in ("module.", "vqvae."):
            key = key.removeprefix(prefix)
        out[key] = value
    return out


def released_config(sd: dict[str, torch.Tensor], levels: list[int] | None = None, dilation_growth: int = 3
                    ) -> tuple[TokenizerConfig, bool]:  # fmt: skip
    """Infer the TokenizerConfig of a released state dict; also returns whether it has the patcher slot."""
    patcher = "encoder.model.0.wavelets" in sd
    first = 1 if patcher else 0
    if f"encoder.model.{first}.weight" not in sd:
        raise ValueError("not a MotionMillion tokenizer: no encoder input conv at "
                         f"encoder.model.{first}.weight; encoder keys start with "
                         f"{sorted(k for k in sd if k.startswith('encoder.'))[:4]}")  # fmt: skip
    width, feature_dim, _ = sd[f"encoder.model.{first}.weight"].shape
    down = sorted({int(m[1]) for k in sd if (m := re.fullmatch(r"encoder\.model\.(\d+)\.0\.weight", k))})
    depth = len({m[1] for k in sd if (m := re.fullmatch(r"encoder\.model\.\d+\.1\.model\.(\d+)\.conv1\.weight", k))})
    if down and not any(k.endswith(".norm1.weight") for k in sd):
        raise ValueError("the checkpoint has no LayerNorm weights (trained without --vq-norm LN); unsupported")
    if "quantizer.project_in.weight" not in sd:
        raise ValueError("no quantizer.project_in.weight: not an FSQ tokenizer (VQ checkpoints are unsupported)")
    n_levels = sd["quantizer.project_in.weight"].shape[0]
    if levels is None:
        if n_levels not in DEFAULT_LEVELS:
            raise ValueError(f"the quantizer has {n_levels} dims and no default level set; pass --levels")
        levels = DEFAULT_LEVELS[n_levels]
    if len(levels) != n_levels:
        raise ValueError(f"--levels {levels} has {len(levels)} entries but the quantizer has {n_levels} dims")
    # Block weights only exist for the 272 layout; they matter for training, not for conversion.
    weights = {} if feature_dim == 272 else {f"{name}_weight": 0.0 for name, _, _ in LOSS_BLOCKS}
    cfg = TokenizerConfig(feature_dim=feature_dim, width=width, down_t=len(down), depth=max(depth, 1),
                          dilation_growth=dilation_growth, levels=tuple(levels), **weights)  # fmt: skip
    return cfg, patcher


def remap(cfg: TokenizerConfig, patcher: bool) -> dict[str, str]:
    """Released module prefix -> our module prefix, for every module that holds weights."""
    p, n = int(patcher), cfg.down_t
    names = {f"encoder.model.{p}": "encoder.conv_in", f"encoder.model.{p + 2 + n}": "encoder.conv_out",
             "decoder.model.0": "decoder.conv_in", f"decoder.model.{2 + n}": "decoder.conv_mid",
             f"decoder.model.{4 + n}": "decoder.conv_out",
             "quantizer.project_in": "quantizer.project_in",
             "quantizer.project_out": "quantizer.project_out"}  # fmt: skip
    for i in range(n):
        names[f"encoder.model.{p + 2 + i}.0"] = f"encoder.down.{i}.conv"
        names[f"decoder.model.{2 + i}.2"] = f"decoder.up.{i}.conv"
        for j in range(cfg.depth):
            names[f"encoder.model.{p + 2 + i}.1.model.{j}"] = f"encoder.down.{i}.res.blocks.{j}"
            names[f"decoder.model.{2 + i}.0.model.{j}"] = f"decoder.up.{i}.res.blocks.{j}"
    return names


def convert_state_dict(sd: dict[str, torch.Tensor], cfg: TokenizerConfig, patcher: bool) -> dict[str, torch.Tensor]:
    """Rename a released state dict to ours; raises listing unexpected keys, missing keys and shape mismatches."""
    names = remap(cfg, patcher)
    dropped = {f"encoder.model.0.{b}" for b in _PATCHER_BUFFERS} | {
        f"decoder.model.{5 + cfg.down_t}.{b}" for b in _PATCHER_BUFFERS}  # fmt: skip
    out, unexpected = {}, []
    for key, value in sd.items():
        if patcher and key in dropped:
            continue
        parts = key.split(".")  # the longest mapped module prefix wins; the rest (block.norm1.weight) is kept
        cut = next((i for i in range(len(parts) - 1, 0, -1) if ".".join(parts[:i]) in names), None)
        if cut is None:
            unexpected.append(key)
        else:
            out[".".join([names[".".join(parts[:cut])], *parts[cut:]])] = value
    with torch.device("meta"):
        expected = MotionTokenizer(cfg).state_dict()
    missing = sorted(set(expected) - set(out))
    unexpected += sorted(set(out) - set(expected))
    bad_shapes = [f"{k}: {tuple(v.shape)} != {tuple(expected[k].shape)}"
                  for k, v in out.items() if k in expected and v.shape != expected[k].shape]  # fmt: skip
    if missing or unexpected or bad_shapes:  # one line: the command line reports errors as one line
        raise ValueError(f"cannot map the checkpoint onto {cfg}: unexpected keys: {unexpected}; "
                         f"missing keys: {missing}; shape mismatches: {bad_shapes}")  # fmt: skip
    return {k: v.float() for k, v in out.items()}


def convert(src: str | Path, dst: str | Path, levels: list[int] | None = None, stats: str | Path | None = None,
            dilation_growth: int = 3) -> Path:  # fmt: skip
    """Convert a released tokenizer .pth into a checkpoint folder at `dst`.

    Args:
        src: the released file, e.g. fsq_net_6000000.pth.
        dst: output folder (config.json + model.safetensors [+ stats.safetensors]).
        levels: FSQ levels; default from the number of quantizer dims (`DEFAULT_LEVELS`).
        stats: optional MotionMillion `mean_std/` folder (Mean.npy, Std.npy) or stats.safetensors to bundle.
        dilation_growth: ResStack dilation growth (3 in every released run).
    """
    model, normalizer = load_released_tokenizer(src, levels, stats, dilation_growth)
    return save_tokenizer(model, dst, stats=normalizer)


def load_released_tokenizer(src: str | Path, levels: list[int] | None = None, stats: str | Path | None = None,
                            dilation_growth: int = 3):  # fmt: skip
    """The released tokenizer `src` as a `MotionTokenizer`, and its `Normalizer` read from `stats` (None without);
    the arguments are those of `convert`."""
    sd = load_released_state_dict(src)
    cfg, patcher = released_config(sd, levels, dilation_growth)
    if patcher and cfg.feature_dim in (2 * 263, 2 * 272):
        raise ValueError(f"encoder input has {cfg.feature_dim} channels: a Haar patcher with patch size 2; unsupported")
    model = MotionTokenizer(cfg)
    model.load_state_dict(convert_state_dict(sd, cfg, patcher))
    normalizer = None
    if stats is not None:
        from motionmill.motion.normalize import Normalizer

        normalizer = Normalizer.load(stats)
        if normalizer.dim != cfg.feature_dim:
            raise ValueError(f"stats have {normalizer.dim} dims but the tokenizer has {cfg.feature_dim}")
    return model.eval(), normalizer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src", help="released tokenizer, e.g. fsq_net_6000000.pth")
    parser.add_argument("dst", help="output checkpoint folder")
    parser.add_argument("--levels", help="comma-separated FSQ levels, e.g. 8,8,8,5,5,5 (default from the shapes)")
    parser.add_argument("--stats", help="MotionMillion mean_std/ folder or stats.safetensors to bundle")
    parser.add_argument("--dilation-growth", type=int, default=3)
    args = parser.parse_args(argv)
    levels = [int(v) for v in args.levels.split(",")] if args.levels else None
    out = convert(args.src, args.dst, levels=levels, stats=args.stats, dilation_growth=args.dilation_growth)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
