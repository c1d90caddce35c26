"""Train our text-motion evaluator on a corpus (`motionmill train evaluator`).

Data: one random caption per training clip per epoch, with the motion cut to the caption's time span when it has
one, then randomly cropped to `max_frames` (300 = 10 s at 30 fps) if longer (`data.datasets.TextMotionDataset`);
features are normalised with the corpus stats, which the checkpoint keeps. Text states come from the embedding
cache, computed once per caption before training. Batches group clips of similar length (less padding); each
batch is also a set of in-batch negatives, so the model cannot lean on length alone. With `data.mirror_pairs`, each
clip whose caption names a side ("turns left", "waves with the right hand") is joined in its batch by its left/right
mirror image captioned with the sides swapped (`text.sides`): a negative that differs from it only in side, which
in-batch negatives of other clips seldom are. With `data.detail_negatives`, each caption that states a repetition
count or a turn angle also brings that caption with the number changed (`text.details`, "claps twice" for "claps
three times") as an extra text that no motion of the batch may match. With `data.twin_negatives` (built-in
corpora only), each clip whose caption names a modifier brings its twin (`synth.twins`: the same clip with one named
detail per segment changed, "turns 180 degrees" for "turns 90 degrees", played over the same caption span) as an
extra motion that no caption of the batch may match: it teaches the motion side to tell counts, angles, speeds and
sides apart, which a best-of-N reranker needs. Augmentations of built-in clips obey the held-out rules of
`synth.holdout` like the clips themselves (`augmentable_rows`): no mirror image, changed caption or twin of a train
clip describes a combination held out for the zero-shot split.

Loss: symmetric InfoNCE with a fixed temperature, captions repeated in a batch excluded as negatives
(`evaluator.tmr.contrastive_loss`). Validation: R@1 and R@3 of text -> motion retrieval in batches of 32,
the protocol's batch size (`eval.metrics.r_precision` with a fixed shuffle), on the val split (the train
split when val has fewer than 2 clips).

A run folder holds `config.yaml`, `metrics.jsonl` and `checkpoint/`, which is also an evaluator folder:
`inference.evaluator.evaluator_from_spec(run)` needs nothing else.

Shape legend: B batch, L text tokens, T frames, F features, E embedding width.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motionmill.checkpoints.evaluator import save_evaluator
from motionmill.data.datasets import TextMotionDataset, collate_padded
from motionmill.data.store import Corpus
from motionmill.eval.metrics import r_precision
from motionmill.evaluator.tmr import EvaluatorConfig, TextMotionEvaluator, contrastive_loss
from motionmill.motion.container import Motion
from motionmill.synth.corpus import plan_clip
from motionmill.synth.holdout import clean_detail_changes, clean_mirror
from motionmill.synth.twins import Twin, twin_motion
from motionmill.text.details import change_detail
from motionmill.text.sides import mirror_text, names_a_side
from motionmill.training.distributed import ONE_PROCESS, Ranks, gather_rows, main_first
from motionmill.training.loop import TrainConfig, join_processes, seeded_model, train
from motionmill.utils.config import build_dataclass, run_recipe, save_recipe
from motionmill.utils.provenance import write_run_provenance

__all__ = [
    "EvaluatorDataConfig",
    "add_mirror_pairs",
    "augmentable_rows",
    "builtin_twins",
    "evaluator_task",
    "make_collate",
    "text_ids",
    "train_evaluator",
    "training_texts",
]

SECTIONS = ("model", "train", "data")
PROTOCOL_BATCH = 32  # R-precision batch size of the HumanML3D protocol (docs/evaluation.md)


@dataclass
class EvaluatorDataConfig:
    """What the evaluator trains on."""

    text_encoder: str = "minilm"
    """Text encoder spec (minilm, bert:/path, hf:/path); its per-token states feed the text side."""
    min_frames: int = 16
    """Shorter clips are skipped, and shorter caption spans fall back to the whole clip."""
    max_frames: int = 300
    """Longest motion in frames (10 s at 30 fps); longer ones are randomly cropped in training, cut at inference."""
    filter_same_text: bool = True
    """Do not treat pairs with the same caption text as negatives."""
    mirror_pairs: bool = False
    """Add to each training batch the mirror image of every clip whose caption names a side, with the sides of its
    caption swapped (hard negatives for left/right)."""
    detail_negatives: bool = False
    """Add to each training batch, as texts no motion may match, its captions with one count or angle changed."""
    twin_negatives: bool = False
    """Add to each training batch, as motions no caption may match, the twins of its clips (`synth.twins`: one
    named detail changed per segment); needs a built-in corpus."""
    eval_items: int = 1024
    """Validation pairs scored at each evaluation (in batches of 32)."""

    def __post_init__(self) -> None:
        if not 2 <= self.min_frames <= self.max_frames:
            raise ValueError(f"need 2 <= data.min_frames <= data.max_frames, got {self.min_frames}, {self.max_frames}")
        if self.eval_items < 2:
            raise ValueError(f"data.eval_items must be >= 2, got {self.eval_items}")


def _builtin_key(clip_id: str) -> tuple[int, int] | None:
    """(seed, index) of a built-in clip id ("builtin/SEED/INDEX"); None for clips of other sources."""
    source, _, rest = clip_id.partition("/")
    if source != "builtin":
        return None
    seed, _, index = rest.partition("/")
    return int(seed), int(index)


def augmentable_rows(corpus: Corpus, rows) -> tuple[set[int], set[int]]:
    """Rows among `rows` whose mirror image, and rows whose captions with one changed detail, describe no held-out
    combination (`synth.holdout`): every row of other sources, built-in rows by their plan."""
    ids = corpus.table.column("id").to_pylist()
    mirror, details = set(), set()
    for row in map(int, rows):
        key = _builtin_key(ids[row])
        segments = plan_clip(*key).segments if key else ()
        if clean_mirror(segments):
            mirror.add(row)
        if clean_detail_changes(segments):
            details.add(row)
    return mirror, details


def add_mirror_pairs(items: list[dict], stats, allowed: set[int] | None = None) -> list[dict]:
    """`items`, then the mirror image of each item whose caption names a side, captioned with the sides swapped;
    only items of `allowed` clip rows when given (`augmentable_rows`).

    Items hold normalised features; the mirror is exact on de-normalised ones (`Motion.mirror`).
    """
    mirrored = []
    for item in items:
        if names_a_side(item["text"]) and (allowed is None or int(item["clip"]) in allowed):
            features = Motion(stats.denormalize(item["motion"].double().numpy())).mirror().features
            motion = torch.from_numpy(stats.normalize(features).astype(np.float32))
            mirrored.append({**item, "text": mirror_text(item["text"]), "motion": motion})
    return items + mirrored


def builtin_twins(corpus: Corpus, rows, stats, progress: bool = True) -> dict[int, Twin]:
    """Twins (`synth.twins.twin_motion`) of the built-in clips among corpus `rows`, features normalised with
    `stats` and kept as float16 (about 2 GB for 16,000 clips); clips of other sources, and clips that name no
    detail, have none."""
    from tqdm import tqdm

    twins, ids = {}, corpus.table.column("id").to_pylist()
    for row in tqdm(rows, desc="twins", unit="clip", disable=not progress):
        key = _builtin_key(ids[int(row)])
        if key is None:
            continue
        twin = twin_motion(*key)
        if twin is not None:
            features = stats.normalize(twin.features).astype(np.float16)
            twins[int(row)] = dataclasses.replace(twin, features=features)
    return twins


def twin_items(items: list[dict], twins: dict[int, Twin], max_frames: int) -> list[torch.Tensor]:
    """The twin windows of `items` (normalised features) that play a changed segment for at least a second or
    half the window: what the item's frames [start, start + length) become in its clip's twin, at most
    `max_frames` long."""
    out = []
    for item in items:
        twin = twins.get(int(item["clip"]))
        if twin is None:
            continue
        start, stop = twin.window(item["start"], item["start"] + item["length"])
        stop = min(stop, start + max_frames)
        if twin.changed[start:stop].sum() >= min(30, (stop - start) // 2):
            out.append(torch.from_numpy(twin.features[start:stop].astype(np.float32)))
    return out


def make_collate(cache, mirror_stats=None, detail_negatives: bool = False, twins: dict[int, Twin] | None = None,
                 max_frames: int = 300, allowed: tuple[set[int], set[int]] | None = None):  # fmt: skip
    """Batches of {"text_states" (B, L, D), "text_mask" (B, L), "motion" (B, T, F), "motion_mask" (B, T),
    "text_id" (B,)}, where equal caption texts share a text_id (a hash of the text, so ids agree across processes).
    With `mirror_stats` (the normaliser of the items' features), side-naming items are followed by their mirror
    pairs (`add_mirror_pairs`); with `detail_negatives`,
    the batch also has "negative_states" (K, L', D), "negative_mask" (K, L') and "negative_id" (K,): its captions
    with one count or angle changed, ids shared with any equal caption of the batch; with `twins` (row -> Twin,
    `builtin_twins`), "negative_motion" (M, T', F) and "negative_motion_mask" (M, T'): its clips' twin windows.
    `allowed` (`augmentable_rows`) limits mirror images and changed captions to the clip rows it names."""
    mirror_rows, detail_rows = allowed or (None, None)

    def collate(items: list[dict]) -> dict:
        extra_motions = twin_items(items, twins, max_frames) if twins else []
        texts_to_change = [it["text"] for it in items if detail_rows is None or int(it["clip"]) in detail_rows]
        if mirror_stats is not None:
            items = add_mirror_pairs(items, mirror_stats, mirror_rows)
        batch = collate_padded(items)
        states, mask = cache.get(batch["text"])
        out = {"text_states": states.float(), "text_mask": mask, "motion": batch["motion"],
               "motion_mask": batch["mask"], "text_id": text_ids(batch["text"])}  # fmt: skip
        negatives = list(dict.fromkeys(filter(None, map(change_detail, texts_to_change)))) if detail_negatives else []
        if negatives:
            states, mask = cache.get(negatives)
            out.update(negative_states=states.float(), negative_mask=mask, negative_id=text_ids(negatives))
        if extra_motions:
            padded = collate_padded([{"text": "", "motion": m, "length": len(m), "clip": -1} for m in extra_motions])
            out.update(negative_motion=padded["motion"], negative_motion_mask=padded["mask"])
        return out

    return collate


def text_ids(texts: list[str]) -> torch.Tensor:
    """(N,) int64 ids equal exactly for equal texts: 63 bits of a BLAKE2 hash (a collision between two captions of
    one batch is about as likely as 1 in 10^14)."""
    digests = (hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest() for t in texts)
    return torch.tensor([int.from_bytes(d, "little") >> 1 for d in digests], dtype=torch.int64)


def training_texts(captions: list[list[dict]], mirror_pairs: bool, detail_negatives: bool) -> set[str]:
    """Every text a training batch may hold: the captions, their side-swapped forms, their changed details."""
    texts = {c["text"] for clip in captions for c in clip}
    if mirror_pairs:
        texts |= {mirror_text(t) for t in texts if names_a_side(t)}
    if detail_negatives:
        texts |= set(filter(None, map(change_detail, texts)))
    return texts


def evaluator_task(model: TextMotionEvaluator, batch: dict, filter_same_text: bool = True,
                   ranks: Ranks = ONE_PROCESS):  # fmt: skip
    """Symmetric InfoNCE of a batch of pairs (and its negative-only texts and motions, if any); logs the in-batch
    text -> motion top-1 accuracy. On several processes the embeddings of every rank are gathered, so each rank
    computes the loss of the whole global batch, as one process would."""
    text, motion = model(batch["text_states"], batch["text_mask"], batch["motion"], batch["motion_mask"])
    negatives = negative_motions = text.new_zeros(0, text.shape[1])
    negative_ids = batch["text_id"].new_zeros(0)
    if "negative_states" in batch:
        negatives = model.encode_text(batch["negative_states"], batch["negative_mask"])
        negative_ids = batch["negative_id"]
    if "negative_motion" in batch:
        negative_motions = model.encode_motion(batch["negative_motion"], batch["negative_motion_mask"])
    text, motion, negatives, negative_motions = gather_rows([text, motion, negatives, negative_motions], ranks)
    ids, negative_ids = gather_rows([batch["text_id"], negative_ids], ranks)
    same = ids[:, None] == ids[None, :] if filter_same_text else None
    negative_same = ids[:, None] == negative_ids[None, :]  # a changed caption equal to a true one
    loss, accuracy = contrastive_loss(text, motion, model.cfg.temperature, same,
                                      negatives if len(negatives) else None, negative_same if len(negatives) else None,
                                      negative_motions if len(negative_motions) else None)  # fmt: skip
    return loss, {"batch_acc": accuracy.item()}


@torch.no_grad()
def _evaluate(model: TextMotionEvaluator, val: TextMotionDataset, collate, n_items: int) -> dict[str, float]:
    """R@1 and R@3 of the first `n_items` validation pairs, ranked in batches of 32 (fewer if val is smaller)."""
    model.eval()
    device = next(model.parameters()).device
    n = min(n_items, len(val))
    text, motion = [], []
    for start in range(0, n, 64):
        batch = {k: v.to(device) for k, v in collate([val[i] for i in range(start, min(start + 64, n))]).items()}
        t, m = model(batch["text_states"], batch["text_mask"], batch["motion"], batch["motion_mask"])
        text.append(t.double().cpu().numpy())
        motion.append(m.double().cpu().numpy())
    size = min(PROTOCOL_BATCH, n)
    hits = r_precision(np.concatenate(text), np.concatenate(motion), np.random.default_rng(0), size, min(3, size))
    return {"R@1": float(hits[0]), "R@3": float(hits[-1])}


def train_evaluator(config: str | None, corpus: str, out: str, steps: int | None = None,
                    progress: bool = True) -> dict:  # fmt: skip
    """Train an evaluator; rerunning with the same --out resumes exactly where the run stopped."""
    from motionmill.text.cache import EmbeddingCache
    from motionmill.text.encoders import load_text_encoder

    run = Path(out)
    recipe = run_recipe(config, run, SECTIONS, steps)
    train_cfg = build_dataclass(TrainConfig, recipe["train"], "train")
    data_cfg = build_dataclass(EvaluatorDataConfig, recipe["data"], "data")
    ranks = join_processes(train_cfg)
    data = Corpus(corpus)
    if data.feature_dim != 272:
        raise ValueError(f"{corpus}: the evaluator reads 272-dim features, the corpus has {data.feature_dim}")
    stats = data.stats()
    encoder = load_text_encoder(data_cfg.text_encoder)
    model_values = dict(recipe["model"])
    model_cfg = EvaluatorConfig.from_name(model_values.pop("preset", "tiny"), **model_values,
                                          text_dim=encoder.dim, feature_dim=data.feature_dim)  # fmt: skip
    if ranks.is_main:
        run.mkdir(parents=True, exist_ok=True)
        save_recipe(run / "config.yaml", {"model": recipe["model"], "train": train_cfg, "data": data_cfg})
    dataset = TextMotionDataset(data, "train", data_cfg.min_frames, data_cfg.max_frames, stats, train_cfg.seed)
    val_split = "val" if len(data.indices("val", min_frames=data_cfg.min_frames)) >= 2 else "train"
    val = TextMotionDataset(data, val_split, data_cfg.min_frames, data_cfg.max_frames, stats, seed=12345)
    if ranks.is_main:
        write_run_provenance(run, Path(corpus), data.manifest, "train", recipe, val_split)
    cache = EmbeddingCache(Path(corpus) / "text_cache", encoder)
    allowed = augmentable_rows(data, dataset.clips) if data_cfg.mirror_pairs or data_cfg.detail_negatives else None
    texts = training_texts(dataset.texts, data_cfg.mirror_pairs, data_cfg.detail_negatives)
    with main_first(ranks):
        cache.precompute(sorted(texts | {c["text"] for clip in val.texts for c in clip}))
    collate = make_collate(cache)
    twins = None
    if data_cfg.twin_negatives:
        twins = builtin_twins(data, dataset.clips, stats, progress and ranks.is_main)
        if not twins:
            raise ValueError(f"{corpus}: data.twin_negatives needs built-in clips that name a detail; found none")
    train_collate = make_collate(cache, stats if data_cfg.mirror_pairs else None, data_cfg.detail_negatives, twins,
                                 data_cfg.max_frames, allowed)  # fmt: skip
    info = {"text_encoder": data_cfg.text_encoder, "fps": float(data.manifest.get("fps", 30.0)),
            "max_frames": data_cfg.max_frames}  # fmt: skip

    def task(model, batch):
        return evaluator_task(model, batch, data_cfg.filter_same_text, ranks)

    def evaluate(model):
        return _evaluate(model, val, collate, data_cfg.eval_items)

    model = seeded_model(lambda: TextMotionEvaluator(model_cfg), train_cfg)
    return train(model, task, dataset, train_cfg, run,
                 lambda m, folder: save_evaluator(m, folder, stats, info), collate_fn=train_collate,
                 lengths=dataset.lengths(), evaluate=evaluate, progress=progress,
                 forward_methods=("encode_text", "encode_motion"))  # fmt: skip
