"""Train, evaluate and apply the FSQ tokenizer on a corpus.

Commands: `motionmill train tokenizer` (a recipe + a corpus -> a run folder), `motionmill eval tokenizer`
(reconstruction MPJPE, acceleration error, codebook usage and perplexity on a split) and `motionmill tokenize`
(token ids for every clip of a corpus, written shard by shard so an interrupted run resumes).

A run folder holds its resolved recipe (`config.yaml`), `metrics.jsonl` and `checkpoint/`, which is also a
tokenizer folder: `checkpoints.tokenizer.load_tokenizer(run)` needs nothing else.

Shape legend: B batch, T frames, F features, N tokens.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from motionmill.checkpoints.tokenizer import load_tokenizer, save_tokenizer
from motionmill.data.datasets import WindowDataset
from motionmill.data.store import Corpus
from motionmill.eval.metrics import acceleration_error, codebook_usage, mpjpe
from motionmill.motion.features272 import decode_joints
from motionmill.tokenizer.model import MotionTokenizer, TokenizerConfig
from motionmill.training.loop import TrainConfig, join_processes, seeded_model, train
from motionmill.utils.config import build_dataclass, run_recipe, save_recipe
from motionmill.utils.io import atomic_write, npy_bytes
from motionmill.utils.provenance import write_run_provenance

__all__ = [
    "TokenizerDataConfig",
    "TokenizerInitConfig",
    "evaluate_tokenizer",
    "reconstruct",
    "tokenize_corpus",
    "tokenizer_task",
    "train_tokenizer",
]

SECTIONS = ("model", "train", "data", "init")


@dataclass
class TokenizerDataConfig:
    """What the tokenizer trains on."""

    window: int = 64
    """Frames per training window."""
    samples: int = 0
    """Windows per epoch; 0 means one per training clip."""
    eval_clips: int = 64
    """Validation clips reconstructed at each evaluation."""
    max_eval_frames: int = 300
    """Evaluation clips are cut to this many frames."""


@dataclass
class TokenizerInitConfig:
    """Where a tokenizer run starts: fresh weights, or the weights of another tokenizer."""

    tokenizer: str = ""
    """A tokenizer run or folder whose weights, shape and normalisation stats the run starts from; empty for fresh
    weights (--init)."""
    train: str = "all"
    """all, or decoder: the rest stays frozen, so every clip keeps its codes and a generator trained on them stays
    valid; only how codes turn back into motion changes."""

    def __post_init__(self) -> None:
        if self.train not in ("all", "decoder"):
            raise ValueError(f"init.train must be all or decoder, got {self.train!r}")
        if self.train == "decoder" and not self.tokenizer:
            raise ValueError("init.train: decoder needs a tokenizer to start from (init.tokenizer or --init)")


def _initial_model(model_values: dict, init: TokenizerInitConfig) -> tuple[MotionTokenizer, object]:
    """The model a run starts from and, when it starts from another tokenizer, that tokenizer's stats (its encoder
    expects features normalised by them)."""
    if not init.tokenizer:
        model_cfg = TokenizerConfig.from_name(model_values.pop("preset", "tiny"), **model_values)
        return MotionTokenizer(model_cfg), None
    source, stats = load_tokenizer(init.tokenizer)
    if stats is None:
        raise ValueError(f"{init.tokenizer}: the tokenizer has no normalisation stats to start from")
    shape = sorted(key for key in model_values if not key.endswith("_weight"))
    if shape:
        raise ValueError(f"model: {shape} cannot be set when starting from {init.tokenizer}, whose shape is kept; "
                         "only the loss weights (*_weight) can")  # fmt: skip
    model = MotionTokenizer(build_dataclass(TokenizerConfig, {**asdict(source.cfg), **model_values}, "model"))
    model.load_state_dict(source.state_dict())
    if init.train == "decoder":
        for name, param in model.named_parameters():
            param.requires_grad_(name.startswith("decoder."))
    return model, stats


def tokenizer_task(model: MotionTokenizer, batch: torch.Tensor):
    """Reconstruction loss of a batch of normalised windows (B, T, F)."""
    recon, _, latents = model(batch, return_latents=True)
    return model.loss(batch, recon, latents=latents)


def _open_corpus(path: str | Path, feature_dim: int) -> tuple[Corpus, object]:
    corpus = Corpus(path)
    if corpus.feature_dim != feature_dim:
        raise ValueError(f"{path}: the corpus has {corpus.feature_dim}-dim features but the tokenizer expects "
                         f"{feature_dim} (model.feature_dim)")  # fmt: skip
    try:
        stats = corpus.stats()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: the corpus has no normalisation stats (stats.safetensors); "
                                "rebuild it with motionmill corpus build") from None  # fmt: skip
    if stats.dim != feature_dim:
        raise ValueError(f"{path}/stats.safetensors has {stats.dim} dims, expected {feature_dim}")
    return corpus, stats


def train_tokenizer(config: str | None, corpus: str, out: str, steps: int | None = None, init: str | None = None,
                    progress: bool = True) -> dict:  # fmt: skip
    """Train a tokenizer, from fresh weights or from the tokenizer `init` (replaces init.tokenizer of the recipe);
    rerunning with the same --out resumes exactly where the run stopped."""
    run = Path(out)
    recipe = run_recipe(config, run, SECTIONS, steps)
    if init is not None:
        recipe["init"]["tokenizer"] = init
    init_cfg = build_dataclass(TokenizerInitConfig, recipe["init"], "init")
    train_cfg = build_dataclass(TrainConfig, recipe["train"], "train")
    data_cfg = build_dataclass(TokenizerDataConfig, recipe["data"], "data")
    ranks = join_processes(train_cfg)
    model, init_stats = seeded_model(lambda: _initial_model(dict(recipe["model"]), init_cfg), train_cfg)
    model_cfg = model.cfg
    data, stats = _open_corpus(corpus, model_cfg.feature_dim)
    if init_stats is not None:
        stats = init_stats
    dataset = WindowDataset(data, "train", data_cfg.window, stats, data_cfg.samples or None, train_cfg.seed)
    val_split = "val" if len(data.indices("val", min_frames=model_cfg.stride * 2)) else "train"
    if ranks.is_main:
        run.mkdir(parents=True, exist_ok=True)
        save_recipe(run / "config.yaml",
                    {"model": {**recipe["model"]}, "train": train_cfg, "data": data_cfg, "init": init_cfg})  # fmt: skip
        write_run_provenance(run, Path(corpus), data.manifest, "train", recipe, val_split)
    val_clips = data.indices(val_split, min_frames=model_cfg.stride * 2)[: data_cfg.eval_clips]

    def task(model, batch):
        loss, logs = tokenizer_task(model, batch)
        return loss, logs, float(len(batch))  # the loss is a mean over windows of the same length

    def evaluate(model):
        return evaluate_tokenizer(model, stats, data, val_clips, data_cfg.max_eval_frames)

    return train(model, task, dataset, train_cfg, run, lambda m, f: save_tokenizer(m, f, stats),
                 evaluate=evaluate, progress=progress, forward_methods=("encode", "decode"))  # fmt: skip


@torch.no_grad()
def reconstruct(model: MotionTokenizer, stats, clips: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Denormalised reconstructions of (T_i, F) clips, and their code ids."""
    stride = model.cfg.stride
    lengths = torch.tensor([len(c) // stride * stride for c in clips])
    x = torch.zeros(len(clips), int(lengths.max()), model.cfg.feature_dim)
    for b, c in enumerate(clips):
        x[b, : lengths[b]] = torch.from_numpy(stats.normalize(c[: lengths[b]]))
    ids, token_lengths = model.encode(x, lengths)
    recon = stats.denormalize(model.decode(ids, token_lengths)).numpy()
    return [recon[b, : lengths[b]] for b in range(len(clips))], ids.numpy()


def evaluate_tokenizer(model: MotionTokenizer, stats, corpus: Corpus, clip_indices, max_frames: int = 300,
                       batch_size: int = 32) -> dict[str, float]:  # fmt: skip
    """MPJPE (mm, pelvis-aligned), acceleration error (m/s^2), codebook usage and perplexity on some clips."""
    model.eval()
    errors, accels, weights, all_ids = [], [], [], []
    for start in range(0, len(clip_indices), batch_size):
        clips = [corpus.window(int(i), 0, max_frames) for i in clip_indices[start : start + batch_size]]
        recons, ids = reconstruct(model, stats, clips)
        for clip, recon in zip(clips, recons, strict=True):
            truth, pred = decode_joints(clip[: len(recon)].astype(np.float64)), decode_joints(recon.astype(np.float64))
            errors.append(mpjpe(pred, truth))
            accels.append(acceleration_error(pred, truth))
            weights.append(len(recon))
        all_ids.append(ids.reshape(-1))
    usage = codebook_usage(np.concatenate(all_ids), model.cfg.codebook_size)
    return {"mpjpe_mm": float(np.average(errors, weights=weights)), "accel_error": float(np.mean(accels)),
            "codebook_usage": usage["usage"], "perplexity": usage["perplexity"]}  # fmt: skip


def eval_tokenizer(tokenizer: str, corpus: str, split: str = "test", max_clips: int = 0) -> dict[str, float]:
    """Reconstruction metrics of a trained tokenizer on a corpus split (prints and returns them)."""
    model, stats = load_tokenizer(tokenizer)
    if stats is None:
        raise ValueError(f"{tokenizer}: the tokenizer folder has no stats.safetensors")
    data = Corpus(corpus)
    clips = data.indices(split, min_frames=model.cfg.stride * 2)
    if len(clips) == 0:
        raise ValueError(f"{corpus}: no clips in split {split!r}")
    metrics = evaluate_tokenizer(model, stats, data, clips[: max_clips or None])
    print(json.dumps({"split": split, "clips": int(len(clips[: max_clips or None])), **metrics}, indent=2))
    return metrics


def tokenize_corpus(tokenizer: str, corpus: str, out: str | None = None, batch_size: int = 64) -> Path:
    """Token ids of every clip, one `tokens/shard-XXXXX.npy` (int32, clips back to back) + `.json` index
    (token offset and count per clip row) per corpus shard; existing shards are kept, so reruns resume."""
    from tqdm import tqdm

    model, stats = load_tokenizer(tokenizer)
    if stats is None:
        raise ValueError(f"{tokenizer}: the tokenizer folder has no stats.safetensors")
    data = Corpus(corpus)
    folder = Path(out) if out else Path(corpus) / "tokens" / Path(tokenizer).resolve().name
    shards = data.table.column("shard").to_numpy()
    for s in tqdm(np.unique(shards), desc="tokenize", unit="shard"):
        index_path = folder / f"shard-{s:05d}.json"
        if index_path.is_file():
            continue
        rows = np.flatnonzero(shards == s)
        ids_all, index, offset = [], {"rows": [], "offset": [], "count": []}, 0
        for b in range(0, len(rows), batch_size):
            clips = [data.clip(int(i)) for i in rows[b : b + batch_size]]
            _, ids = reconstruct(model, stats, clips)
            for i, r in zip(rows[b : b + batch_size], ids, strict=True):
                kept = r[r >= 0].astype(np.int32)
                index["rows"].append(int(i))
                index["offset"].append(offset)
                index["count"].append(len(kept))
                ids_all.append(kept)
                offset += len(kept)
        atomic_write(folder / f"shard-{s:05d}.npy", npy_bytes(np.concatenate(ids_all)))
        atomic_write(index_path, json.dumps(index))  # written last: marks the shard complete
    info = {"tokenizer": str(Path(tokenizer).resolve()), "codebook_size": model.cfg.codebook_size,
            "stride": model.cfg.stride, "shards": int(len(np.unique(shards)))}  # fmt: skip
    atomic_write(folder / "tokens.json", json.dumps(info, indent=2))
    print(f"tokens of {len(data)} clips written to {folder}")
    return folder
