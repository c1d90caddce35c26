"""MotionMillion's released text-to-motion generator (`LLaMAHF`) as a motionmill generator folder, in one copy.

Layout of the released file (MotionMillion-Codes `models/lit_llama/model_hf.py`, saved by `train_t2m_llama.py`): a
dict whose "trans" entry is the state dict of `LLaMAHF`, keys prefixed "module." when saved under DDP or accelerate,
beside optimizer and scheduler states. K is the tokenizer's true codebook size (64,000 for the levels
[8, 8, 8, 5, 5, 5] of their nominal 65,536), d the width, 2048 the width of flan-t5-xl's states:

    transformer.wte.weight                (K + 2, d)  codes, END = K, PAD = K + 1  -> tok_emb.weight
    transformer.h.{i}.rms_1.scale         (d,)                                      -> blocks.{i}.attn_norm.weight
    transformer.h.{i}.attn.c_attn.weight  (3d, d)     rows [q | k | v], head-major  -> blocks.{i}.attn.qkv.weight
    transformer.h.{i}.attn.c_proj.weight  (d, d)                                    -> blocks.{i}.attn.proj.weight
    transformer.h.{i}.rms_2.scale         (d,)                                      -> blocks.{i}.mlp_norm.weight
    transformer.h.{i}.mlp.c_fc1.weight    (hidden, d) the SiLU branch               -> blocks.{i}.mlp.gate.weight
    transformer.h.{i}.mlp.c_fc2.weight    (hidden, d)                               -> blocks.{i}.mlp.up.weight
    transformer.h.{i}.mlp.c_proj.weight   (d, hidden)                               -> blocks.{i}.mlp.down.weight
    transformer.ln_f.scale                (d,)                                      -> norm.weight
    lm_head.weight                        (K + 1, d)  PAD is never predicted        -> head.weight
    llama_proj.weight, llama_proj.bias    (d, 2048), (d,)                           -> text_proj.weight, .bias

Not in the weights, so set here: the head count (their size table, by depth and width; otherwise `n_head`), the
block size (301 = 150 text + 150 motion + END in every released run), interleaved RoPE, the biased text projection
and no null condition (their training never drops the text, so the model cannot guide).

Memory: a 7B checkpoint must not be held twice. `torch.load(mmap=True)` maps the file without reading it; renaming
keys moves no data; the model is built on the meta device and `load_state_dict(assign=True)` takes the mapped
tensors as its parameters; the safetensors file is then written one tensor at a time straight from the mapping. The
peak is about one file size of mapped pages (`bench/import_memory.py`). Tensors keep their dtype (their checkpoints
are bf16: training cast the model); `load_generator` reads them into fp32 parameters, as their inference does.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
import sys
from pathlib import Path

import torch

from motionmill.checkpoints.folder import CONFIG_NAME, WEIGHTS_NAME
from motionmill.checkpoints.released import read_state_dict
from motionmill.generator.model import GeneratorConfig, MotionGenerator
from motionmill.utils.io import atomic_path, atomic_write

__all__ = [
    "HEADS",
    "build_generator",
    "import_generator",
    "read_released_generator",
    "released_generator_config",
    "write_generator_folder",
]

HEADS = {(8, 512): 8, (12, 768): 12, (24, 1024): 16, (36, 1280): 20, (48, 1536): 24, (24, 3200): 32,
         (24, 4096): 32, (28, 4096): 32, (36, 4096): 32, (40, 5120): 40, (60, 6656): 52, (80, 8192): 64}  # fmt: skip
"""Attention heads of their size table (`llama_configs`: 44M to 65B), keyed by (layers, width)."""

_NAMES = (  # released name -> ours; {i} is the block index
    ("transformer.wte.weight", "tok_emb.weight"),
    ("transformer.h.{i}.rms_1.scale", "blocks.{i}.attn_norm.weight"),
    ("transformer.h.{i}.attn.c_attn.weight", "blocks.{i}.attn.qkv.weight"),
    ("transformer.h.{i}.attn.c_proj.weight", "blocks.{i}.attn.proj.weight"),
    ("transformer.h.{i}.rms_2.scale", "blocks.{i}.mlp_norm.weight"),
    ("transformer.h.{i}.mlp.c_fc1.weight", "blocks.{i}.mlp.gate.weight"),
    ("transformer.h.{i}.mlp.c_fc2.weight", "blocks.{i}.mlp.up.weight"),
    ("transformer.h.{i}.mlp.c_proj.weight", "blocks.{i}.mlp.down.weight"),
    ("transformer.ln_f.scale", "norm.weight"),
    ("lm_head.weight", "head.weight"),
    ("llama_proj.weight", "text_proj.weight"),
    ("llama_proj.bias", "text_proj.bias"),
)
_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}


def _rename(key: str, table: tuple[tuple[str, str], ...]) -> str | None:
    """`key` through the first (pattern, template) pair whose pattern it matches; None if none does."""
    for source, target in table:
        if m := re.fullmatch(re.escape(source).replace(r"\{i\}", r"(\d+)"), key):
            return target.replace("{i}", m[1]) if m.groups() else target
    return None


def ours_name(key: str) -> str | None:
    """Our name of a released key (without "module."), or None for a key that is not theirs."""
    return _rename(key, _NAMES)


def released_name(key: str) -> str:
    """The released name of one of our keys (for error messages; our name when it has none)."""
    return _rename(key, tuple((b, a) for a, b in _NAMES)) or key


def _read_trans(path: str | Path) -> dict[str, torch.Tensor]:
    """The released state dict, memory-mapped, without "module." prefixes."""
    path = Path(path)
    obj = read_state_dict(path, "generator checkpoint", entry="trans", mmap=True)
    sd = obj.get("trans", obj) if isinstance(obj, dict) else obj
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        found = sorted(map(str, obj))[:8] if isinstance(obj, dict) else type(obj).__name__
        hint = " ('net' is the tokenizer's entry: pass that file as the tokenizer)" if "net" in list(found) else ""
        raise ValueError(f"{path}: expected MotionMillion's generator checkpoint, a dict whose 'trans' entry is the "
                         f"state dict of LLaMAHF (or that state dict); found {found}{hint}")  # fmt: skip
    return {key.removeprefix("module."): value for key, value in sd.items()}


def released_generator_config(sd: dict[str, torch.Tensor], n_head: int | None = None) -> GeneratorConfig:
    """The `GeneratorConfig` of a released state dict (keys without "module."), sizes read from the shapes."""
    wte, proj = sd.get("transformer.wte.weight"), sd.get("llama_proj.weight")
    if wte is None or proj is None or wte.ndim != 2 or proj.ndim != 2:
        names = sorted({".".join(k.split(".")[:2]) for k in sd})[:8]
        raise ValueError(f"not MotionMillion's generator (LLaMAHF): no 2-d transformer.wte.weight and "
                         f"llama_proj.weight; its names start with {names}")  # fmt: skip
    layers = {int(m[1]) for k in sd if (m := re.match(r"transformer\.h\.(\d+)\.", k))}
    fc1 = sd.get("transformer.h.0.mlp.c_fc1.weight")
    n_layer, dim = max(layers, default=-1) + 1, int(wte.shape[1])
    if n_head is None and (n_layer, dim) not in HEADS:
        raise ValueError(f"{n_layer} layers of width {dim} are not in MotionMillion's size table, so the head count "
                         "is unknown: pass --n-head")  # fmt: skip
    return GeneratorConfig(vocab_codes=int(wte.shape[0]) - 2, n_layer=n_layer, n_head=n_head or HEADS[n_layer, dim],
                           dim=dim, hidden=int(fc1.shape[0]) if fc1 is not None else None, text_dim=int(proj.shape[1]),
                           max_text_tokens=150, max_motion_tokens=150, rope_interleaved=True, text_proj_bias=True,
                           null_condition=False)  # fmt: skip


def _check_layout(ours: dict[str, torch.Tensor], unexpected: list[str], cfg: GeneratorConfig, path: Path) -> None:
    """Raise listing, by their released names, the keys missing or unexpected and the shapes that do not fit."""
    with torch.device("meta"):
        expected = MotionGenerator(cfg).state_dict()
    missing = sorted(released_name(k) for k in expected.keys() - ours.keys())
    shapes = [f"{released_name(k)}: {tuple(v.shape)} != {tuple(expected[k].shape)}"
              for k, v in sorted(ours.items()) if k in expected and v.shape != expected[k].shape]  # fmt: skip
    if missing or unexpected or shapes:  # one line, as the command line reports errors; long lists are cut
        parts = [f"{what}: {keys[:8]}" + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
                 for what, keys in (("missing keys", missing), ("unexpected keys", sorted(unexpected)),
                                    ("shape mismatches", shapes)) if keys]  # fmt: skip
        raise ValueError(f"{path} does not match MotionMillion's generator layout for {cfg.n_layer} layers of "
                         f"width {cfg.dim} and {cfg.vocab_codes} codes: {'; '.join(parts)}")  # fmt: skip


def read_released_generator(path: str | Path, n_head: int | None = None
                            ) -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:  # fmt: skip
    """The config and our-named tensors of a released generator file; the tensors are views of the mapped file
    (nothing is read but the shapes), checked against the layout."""
    sd = _read_trans(path)
    cfg = released_generator_config(sd, n_head)
    ours, unexpected = {}, []
    for key, value in sd.items():
        name = ours_name(key)
        if name is None:
            unexpected.append(key)
        else:
            ours[name] = value
    _check_layout(ours, unexpected, cfg, Path(path))
    return cfg, ours


def build_generator(cfg: GeneratorConfig, tensors: dict[str, torch.Tensor]) -> MotionGenerator:
    """A `MotionGenerator` whose parameters are `tensors` themselves (built on the meta device, so no weights are
    allocated and none are copied), in eval mode."""
    with torch.device("meta"):
        model = MotionGenerator(cfg)
    model.load_state_dict(tensors, strict=True, assign=True)
    return model.eval()


def _write_safetensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """A safetensors file written tensor by tensor from the tensors' own memory (no serialised copy in RAM, which
    `safetensors.torch.save` would build)."""
    if sys.byteorder != "little":
        raise ValueError("safetensors stores little-endian data; writing it on a big-endian machine is unsupported")
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, t in tensors.items():
        if t.dtype not in _DTYPES:
            raise ValueError(f"{name}: dtype {t.dtype} has no safetensors name here")
        size = t.numel() * t.element_size()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format allows trailing spaces; 8-byte alignment lets readers map the data
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for t in tensors.values():  # contiguous() copies only a tensor that is not already laid out densely
            f.write(memoryview(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy()))


def write_generator_folder(model: MotionGenerator, folder: str | Path) -> Path:
    """The folder `load_generator` reads (config.json + model.safetensors), weights streamed from `model`'s own
    tensors; the config is written last, as every model folder's."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_safetensors(model.state_dict(), folder / WEIGHTS_NAME)
    atomic_write(folder / CONFIG_NAME, json.dumps(dataclasses.asdict(model.cfg), indent=2, sort_keys=True) + "\n")
    return folder


def import_generator(src: str | Path, dst: str | Path, n_head: int | None = None) -> Path:
    """Read the released generator `src` and write it as the generator folder `dst`."""
    cfg, tensors = read_released_generator(src, n_head)
    return write_generator_folder(build_generator(cfg, tensors), dst)
