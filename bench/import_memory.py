"""Peak memory of `motionmill import motionmillion` against the generator's file size (target: below 1.3x).

The generator has the `1B` preset's shape (`GeneratorConfig.from_name("1B")`: 48 layers of width 1536, 64,000 codes,
2048-d text states; 1.56 B parameters) with random weights, saved in MotionMillion's layout (`{"trans": state dict}`,
"module." prefixes, their key names) as one temporary .pth; the tokenizer is a tiny one with the levels that give
64,000 codes, the stats random and the T5 a tiny random one, all made offline. Two fresh processes then import it:
the whole command, and the generator alone (`import_generator`). Each one's peak resident memory (`ru_maxrss`, which
counts the mapped pages of the file that the process has read) is divided by the file size; a second copy of the
weights would put the ratio above 2.

Run: `python bench/import_memory.py [--dtype bf16|fp32] [--dir /tmp]` (needs about 3x the file size of free disk:
the .pth, the imported pipeline and the generator-only folder; and RAM for the .pth while it is written).
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from motionmill.checkpoints.convert_motionmillion import remap
from motionmill.checkpoints.motionmillion_generator import released_name
from motionmill.generator.model import GeneratorConfig, MotionGenerator
from motionmill.tokenizer.model import MotionTokenizer, TokenizerConfig

TARGET = 1.3
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def write_generator(path: Path, dtype: torch.dtype) -> int:
    """Random weights of the 1B shape in their layout, written to `path`; returns the parameter count."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in MotionGenerator(GeneratorConfig.from_name("1B")).state_dict().items()}
    shapes["text_proj.bias"] = shapes["text_proj.weight"][:1]  # their llama_proj has a bias; ours by default not
    shapes.pop("null_text")  # they have no learned null condition
    trans = {f"module.{released_name(k)}": torch.empty(s, dtype=dtype).normal_(0, 0.02) for k, s in shapes.items()}
    torch.save({"trans": trans, "nb_iter": 0}, path)
    return sum(t.numel() for t in trans.values())


def write_tokenizer(path: Path) -> None:
    """A tiny FSQ tokenizer with 64,000 codes in their layout (no patcher slot, which the converter also reads)."""
    cfg = TokenizerConfig(width=32, down_t=1, depth=1, levels=(8, 8, 8, 5, 5, 5))
    ours_to_theirs = {ours: theirs for theirs, ours in remap(cfg, patcher=False).items()}
    sd = {}
    for key, value in MotionTokenizer(cfg).state_dict().items():
        prefix = max((p for p in ours_to_theirs if key.startswith(p + ".")), key=len)
        sd["module.vqvae." + ours_to_theirs[prefix] + key[len(prefix) :]] = value
    torch.save({"net": sd}, path)


def write_t5(folder: Path) -> None:
    """A random 2-layer T5 encoder with 2048-d states and a word-level tokenizer that appends </s>."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    tok = Tokenizer(models.WordLevel({"<pad>": 0, "</s>": 1, "<unk>": 2, "walk": 3}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                            model_max_length=512).save_pretrained(folder)  # fmt: skip
    config = T5Config(d_model=2048, d_kv=8, num_layers=2, num_heads=2, d_ff=32, vocab_size=4, pad_token_id=0,
                      eos_token_id=1)  # fmt: skip
    T5EncoderModel(config).save_pretrained(folder)


def peak_rss(command: list[str]) -> tuple[int, float]:
    """Peak resident bytes and seconds of a fresh process running `command`."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it; tell Popen so it does not wait again
    if proc.returncode:
        raise SystemExit(f"{command[:4]} failed with status {proc.returncode}")
    return usage.ru_maxrss * 1024, time.perf_counter() - started  # Linux reports kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bf16", help="their checkpoints are bf16")
    parser.add_argument("--dir", default=None, help="where the temporary files go (default: the system's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        params = write_generator(tmp / "gen.pth", DTYPES[args.dtype])
        gc.collect()
        write_tokenizer(tmp / "fsq.pth")
        (tmp / "stats").mkdir()
        np.save(tmp / "stats" / "mean.npy", np.zeros(272, np.float32))
        np.save(tmp / "stats" / "std.npy", np.ones(272, np.float32))
        write_t5(tmp / "t5")
        size = (tmp / "gen.pth").stat().st_size
        print(f"1B-shaped generator: {params / 1e9:.2f} B parameters, {args.dtype}, {size / 2**30:.2f} GiB file")
        command = [sys.executable, "-m", "motionmill.cli", "import", "motionmillion", "--tokenizer",
                   str(tmp / "fsq.pth"), "--generator", str(tmp / "gen.pth"), "--stats", str(tmp / "stats"),
                   "--text-encoder", f"t5:{tmp / 't5'}", "--out", str(tmp / "pipeline")]  # fmt: skip
        alone = [sys.executable, "-c", "import sys; from motionmill.checkpoints.motionmillion_generator import "
                 "import_generator; import_generator(sys.argv[1], sys.argv[2])", str(tmp / "gen.pth"),
                 str(tmp / "generator")]  # fmt: skip
        for name, run in (("motionmill import motionmillion", command), ("import_generator alone", alone)):
            rss, seconds = peak_rss(run)
            print(f"{name}: peak RSS {rss / 2**30:.2f} GiB = {rss / size:.2f}x the file ({seconds:.0f} s); "
                  f"target below {TARGET}x")  # fmt: skip
        check(tmp / "gen.pth", tmp / "pipeline" / "generator" / "model.safetensors")


def check(src: Path, dst: Path) -> None:
    """The imported weights are the file's: every name and shape, and the token embedding bit for bit."""
    from safetensors import safe_open

    trans = torch.load(src, mmap=True, weights_only=True, map_location="cpu")["trans"]
    with safe_open(str(dst), "pt") as f:
        assert len(f.keys()) == len(trans), (len(f.keys()), len(trans))
        for key in f.keys():
            assert f.get_slice(key).get_shape() == list(trans[f"module.{released_name(key)}"].shape), key
        assert torch.equal(f.get_tensor("tok_emb.weight"), trans["module.transformer.wte.weight"])
    print("imported weights checked: every name and shape, and the token embedding bit for bit")


if __name__ == "__main__":
    main()
