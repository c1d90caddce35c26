"""Train the text-conditioned generator on a tokenised corpus (`motionmill train generator`).

Data: one random caption per clip per epoch; when the caption covers a time span, only that span's tokens are
used (HumanML3D's convention). Augmentation as in MotionMillion: with p = 1/3 the first or the last motion token is
dropped. Text states come from the embedding cache, computed once per caption before training, so the text model
never runs per step. Text dropout (p = 0.1 by default) teaches the null condition that classifier-free guidance needs.
A `length_condition` model is told each sequence's length in tokens, hidden with p = 0.1 (`length_dropout`) so
that sampling without a duration still works.

Loss: next-token cross-entropy over motion positions; the last text position predicts the first code and END is a
target after the last code (docs/models.md).

Shape legend: B batch, L text tokens, N motion tokens, V output classes (K + 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from motionmill.checkpoints.generator import save_generator
from motionmill.data.store import Corpus
from motionmill.generator.model import GeneratorConfig, MotionGenerator
from motionmill.training.distributed import main_first
from motionmill.training.loop import TrainConfig, join_processes, seeded_model, train
from motionmill.utils.config import build_dataclass, run_recipe, save_recipe
from motionmill.utils.provenance import write_run_provenance

__all__ = ["GeneratorDataConfig", "TokenTextDataset", "generator_task", "train_generator"]

SECTIONS = ("model", "train", "data")


@dataclass
class GeneratorDataConfig:
    """What the generator trains on."""

    text_encoder: str = "minilm"
    """Text encoder spec (minilm, t5:/path, hf:/path)."""
    min_tokens: int = 4
    """Captions whose span holds fewer motion tokens are skipped (the whole clip is used instead)."""
    text_dropout: float = 0.1
    """Probability of replacing a caption by the null condition (enables classifier-free guidance)."""
    length_dropout: float = 0.1
    """With a `length_condition` model: probability of hiding the target length, so sampling without one works."""
    edge_drop: float = 1.0 / 3.0
    """Probability of dropping the first or the last motion token (each half of it)."""
    eval_items: int = 256
    """Validation items scored at each evaluation."""


def load_tokens(folder: str | Path) -> dict[int, np.ndarray]:
    """Token ids per corpus row from a `motionmill tokenize` folder."""
    folder = Path(folder)
    if not (folder / "tokens.json").is_file():
        raise FileNotFoundError(f"{folder}: no tokens.json; run motionmill tokenize first")
    out = {}
    for index_path in sorted(folder.glob("shard-*.json")):
        index = json.loads(index_path.read_text())
        ids = np.load(index_path.with_suffix(".npy"))
        for row, offset, count in zip(index["rows"], index["offset"], index["count"], strict=True):
            out[row] = ids[offset : offset + count]
    return out


class TokenTextDataset(Dataset):
    """(caption, motion tokens) pairs; randomness is a pure function of (seed, epoch, index)."""

    def __init__(self, corpus: Corpus, tokens: dict[int, np.ndarray], split: str, stride: int, max_tokens: int,
                 cfg: GeneratorDataConfig, seed: int = 0):  # fmt: skip
        self.tokens, self.stride, self.max_tokens, self.cfg, self.seed = tokens, stride, max_tokens, cfg, seed
        texts = corpus.table.column("texts").to_pylist()
        fps = corpus.table.column("fps").to_numpy()
        usable = (int(i) for i in corpus.indices(split) if texts[i])
        self.rows = [i for i in usable if len(tokens.get(i, ())) >= cfg.min_tokens]
        if not self.rows:
            raise ValueError(f"{corpus.root}: no tokenised, captioned clips in split {split!r}")
        self.texts = [texts[i] for i in self.rows]
        self.fps = [float(fps[i]) for i in self.rows]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def all_texts(self) -> list[str]:
        return sorted({c["text"] for caps in self.texts for c in caps})

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        caption = self.texts[index][int(rng.integers(len(self.texts[index])))]
        ids = self._span(self.tokens[self.rows[index]], caption, self.fps[index])
        if len(ids) > self.max_tokens:
            start = int(rng.integers(0, len(ids) - self.max_tokens + 1))
            ids = ids[start : start + self.max_tokens]
        u = rng.random()
        if len(ids) > self.cfg.min_tokens and u < self.cfg.edge_drop:
            ids = ids[1:] if u < self.cfg.edge_drop / 2 else ids[:-1]
        # drawn here, not in the training step, so they do not depend on how a batch is split between processes
        drop_text, hide_length = rng.random() < self.cfg.text_dropout, rng.random() < self.cfg.length_dropout
        return {"text": caption["text"], "tokens": torch.from_numpy(ids.astype(np.int64)), "drop_text": drop_text,
                "hide_length": hide_length}  # fmt: skip

    def _span(self, ids: np.ndarray, caption: dict, fps: float) -> np.ndarray:
        start, end = float(caption.get("start") or 0.0), float(caption.get("end") or 0.0)
        if end <= start:
            return ids
        first = int(np.floor(start * fps / self.stride))
        last = int(np.ceil(end * fps / self.stride))
        part = ids[first:last]
        return part if len(part) >= self.cfg.min_tokens else ids


def make_collate(cache, pad_id: int):
    """Batches of {"text_states" (B, L, D), "text_mask" (B, L), "tokens" (B, N) PAD-padded, "lengths" (B,),
    "drop_text" (B,), "hide_length" (B,)}."""

    def collate(items: list[dict]) -> dict:
        states, mask = cache.get([it["text"] for it in items])
        lengths = torch.tensor([len(it["tokens"]) for it in items])
        tokens = torch.full((len(items), int(lengths.max())), pad_id, dtype=torch.long)
        for b, it in enumerate(items):
            tokens[b, : lengths[b]] = it["tokens"]
        flags = {key: torch.tensor([bool(it.get(key, False)) for it in items]) for key in ("drop_text", "hide_length")}
        return {"text_states": states.float(), "text_mask": mask, "tokens": tokens, "lengths": lengths, **flags}

    return collate


def generator_task(model: MotionGenerator, batch: dict):
    """Next-token cross-entropy over motion positions, END included, PAD ignored. Rows flagged `drop_text` get the
    null condition; a `length_condition` model is told each sequence's length, hidden (0) in rows flagged
    `hide_length` (both flags optional)."""
    tokens, lengths = batch["tokens"], batch["lengths"]
    B, N = tokens.shape
    drop = batch.get("drop_text")
    told = None
    if model.cfg.length_condition:
        hide = batch.get("hide_length")
        told = lengths if hide is None else torch.where(hide, 0, lengths)
    logits = model(batch["text_states"], batch["text_mask"], tokens, drop_text=drop, lengths=told)  # (B, N + 1, V)
    targets = torch.full((B, N + 1), -100, dtype=torch.long, device=tokens.device)
    valid = torch.arange(N, device=tokens.device)[None] < lengths[:, None]
    targets[:, :N] = torch.where(valid, tokens, torch.full_like(tokens, -100))
    targets[torch.arange(B), lengths] = model.cfg.end_id
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=-100)
    scored = targets != -100
    acc = (logits.argmax(-1) == targets)[scored].float().mean()
    return loss, {"token_acc": acc.item()}


def train_generator(config: str | None, corpus: str, tokenizer: str, out: str, steps: int | None = None,
                    progress: bool = True) -> dict:  # fmt: skip
    """Train a generator; rerunning with the same --out resumes exactly."""
    from motionmill.checkpoints.tokenizer import load_tokenizer
    from motionmill.text.cache import EmbeddingCache
    from motionmill.text.encoders import load_text_encoder
    from motionmill.training.tokenizer import tokenize_corpus

    run = Path(out)
    recipe = run_recipe(config, run, SECTIONS, steps)
    train_cfg = build_dataclass(TrainConfig, recipe["train"], "train")
    ranks = join_processes(train_cfg)
    data_cfg = build_dataclass(GeneratorDataConfig, recipe["data"], "data")
    tok_model, _ = load_tokenizer(tokenizer)
    data = Corpus(corpus)
    token_dir = Path(corpus) / "tokens" / Path(tokenizer).resolve().name
    with main_first(ranks):
        if not (token_dir / "tokens.json").is_file():
            tokenize_corpus(tokenizer, corpus, str(token_dir))
    tokens = load_tokens(token_dir)
    encoder = load_text_encoder(data_cfg.text_encoder)
    model_values = dict(recipe["model"])
    model_cfg = GeneratorConfig.from_name(model_values.pop("preset", "tiny"), **model_values,
                                          vocab_codes=tok_model.cfg.codebook_size, text_dim=encoder.dim)  # fmt: skip
    if ranks.is_main:
        run.mkdir(parents=True, exist_ok=True)
        save_recipe(run / "config.yaml", {"model": recipe["model"], "train": train_cfg, "data": data_cfg})
        save_recipe(run / "sources.yaml", {"model": {"tokenizer": str(Path(tokenizer).resolve()),
                                                     "corpus": str(Path(corpus).resolve())}})  # fmt: skip
        write_run_provenance(run, Path(corpus), data.manifest, "train",
                             {**recipe, "tokenizer": str(Path(tokenizer).resolve())}, "val")  # fmt: skip
    dataset = TokenTextDataset(data, tokens, "train", tok_model.cfg.stride, model_cfg.max_motion_tokens, data_cfg,
                               train_cfg.seed)  # fmt: skip
    val = _validation(data, tokens, tok_model.cfg.stride, model_cfg, data_cfg)
    cache = EmbeddingCache(Path(corpus) / "text_cache", encoder)
    with main_first(ranks):
        cache.precompute(dataset.all_texts() + (val.all_texts() if val else []))
    collate = make_collate(cache, model_cfg.pad_id)
    model = seeded_model(lambda: MotionGenerator(model_cfg), train_cfg)

    def task(m, batch):
        loss, logs = generator_task(m, batch)
        return loss, logs, float((batch["lengths"] + 1).sum())  # the loss averages over codes and END

    def evaluate(m):
        return _evaluate(m, val, collate, data_cfg.eval_items) if val else {}

    # batches of similar clip lengths: padding a random batch to its longest clip would more than double the work
    lengths = [min(len(tokens[r]), model_cfg.max_motion_tokens) for r in dataset.rows]
    return train(model, task, dataset, train_cfg, run, save_generator, collate_fn=collate, lengths=lengths,
                 evaluate=evaluate, progress=progress)  # fmt: skip


def _validation(data, tokens, stride, model_cfg, data_cfg) -> TokenTextDataset | None:
    val_cfg = GeneratorDataConfig(**{**data_cfg.__dict__, "edge_drop": 0.0, "text_dropout": 0.0, "length_dropout": 0.0})
    try:
        return TokenTextDataset(data, tokens, "val", stride, model_cfg.max_motion_tokens, val_cfg, seed=12345)
    except ValueError:
        return None


@torch.no_grad()
def _evaluate(model, val: TokenTextDataset, collate, n_items: int, batch_size: int = 32) -> dict:
    model.eval()
    losses, accs, weights = [], [], []
    device = next(model.parameters()).device
    for start in range(0, min(n_items, len(val)), batch_size):
        items = [val[i] for i in range(start, min(start + batch_size, n_items, len(val)))]
        batch = {k: v.to(device) for k, v in collate(items).items()}
        loss, logs = generator_task(model, batch)
        losses.append(loss.item())
        accs.append(logs["token_acc"])
        weights.append(len(items))
    return {"loss": float(np.average(losses, weights=weights)), "token_acc": float(np.average(accs, weights=weights))}
