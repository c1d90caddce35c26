"""Fitting the offline captioner's action classifier on the built-in corpus (`motionmill video fit-captioner`).

Training data: clips of the train split of the built-in corpus (seed 7), each frame labelled with the action of the
plan segment it lies in and with the upper-body action layered on it ("none" when there is none). Motion recovered
from video is not as clean as these clips, and a classifier fitted on clean clips names the wrong action on it, so
every training window is spoilt in one of two ways:

* with the real errors of the video pipeline: train clips rendered to video and recovered by the whole pipeline
  (`bench/closed_loop.py --split train --save DIR`, given as `recovered`) are trained on, and their feature errors
  against the motion that was rendered (a sequence per clip) are added to the features of other clips, at a random
  offset (`residual_rate` of the windows);
* otherwise by `disturb`, which imitates pose estimation: per-joint tremor of a centimetre or two, slow offsets of
  a few centimetres per joint, a body 15% smaller or larger, and a path whose scale is off by up to 30% and that
  wanders slowly.

The checkpoint kept is the one with the best frame accuracy on val clips spoilt the same way (the errors added to
them come from train clips: no val or test motion is ever recovered for fitting).

Shape legend: N clips, T frames, J joints (22), F features, B batch.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from motionmill.motion.signal import smooth
from motionmill.synth.catalog import ACTIONS
from motionmill.synth.corpus import LAYERABLE, UPPER, make_clip, split_of
from motionmill.video.caption import FEATURES, ActionClassifier, motion_features
from motionmill.video.closed_loop import split_indices

__all__ = ["FitConfig", "disturb", "fit_action_classifier", "labelled_clips"]

ACTION_LABELS = sorted(ACTIONS)
LAYER_LABELS = ["none", *sorted(UPPER)]
SIDE_LABELS = ["left", "right", "both"]
IGNORE = -100


@dataclass(frozen=True)
class FitConfig:
    train_clips: int = 6000
    val_clips: int = 300
    steps: int = 2000
    batch: int = 32
    window: int = 150
    """Frames per training example (5 s): clips are cut or padded to it."""
    lr: float = 2e-3
    weight_decay: float = 0.01
    width: int = 128
    eval_every: int = 250
    recovered: str | None = None
    """Folder of motions recovered by the video pipeline from rendered train clips (`recovered_clips`): they are
    trained on, and their feature errors against the rendered motion are added to other clips."""
    residual_rate: float = 0.6
    """Share of training windows that get a real recovered motion's feature error instead of `disturb`."""
    seed: int = 0
    corpus_seed: int = 7


def _labels(plan, frames: int, first: int = 0) -> np.ndarray:
    """(frames, 4) labels of frames [first, first + frames) of a clip with this plan: action, layer, repetitions per
    second (NaN where the plan does not fix the number) and side (IGNORE where it does not fix one)."""
    times = (first + np.arange(frames)) / plan.fps
    labels = np.full((frames, 4), IGNORE, np.float32)
    labels[:, 2] = np.nan
    for seg in plan.segments:
        inside = (times >= seg.start) & (times < seg.end)
        labels[inside, 0] = ACTION_LABELS.index(seg.action)
        layer = seg.layer if seg.action in LAYERABLE else None
        labels[inside, 1] = LAYER_LABELS.index(layer) if layer else 0
        if seg.modifier("reps") is not None:
            labels[inside, 2] = seg.modifier("reps") / seg.duration
        if seg.modifier("side") in SIDE_LABELS:
            labels[inside, 3] = SIDE_LABELS.index(seg.modifier("side"))
    return labels


def labelled_clips(split: str, count: int, corpus_seed: int = 7) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first `count` built-in clips of `split` as (joints (T, J, 3) float32, labels (T, 4) of `_labels`)."""
    clips = (make_clip(corpus_seed, index, captions=False) for index in split_indices(split, count, corpus_seed))
    return [(clip.joints.astype(np.float32), _labels(clip.plan, len(clip.joints))) for clip in clips]


def recovered_clips(folder: str | Path, corpus_seed: int = 7) -> list[tuple[np.ndarray, ...]]:
    """Motions the video pipeline recovered from rendered train clips (`bench/closed_loop.py --split train --save
    DIR`) as (recovered joints, rendered joints of the same frames, labels of `_labels`).

    Raises ValueError for a clip outside the train split: val and test clips must never shape the classifier.
    """
    out = []
    for path in sorted(Path(folder).glob("*.npz")):
        saved = np.load(path)
        index, start = int(saved["index"]), int(saved["start"])
        if split_of(corpus_seed, index) != "train":
            raise ValueError(f"{path}: clip {index} is in the {split_of(corpus_seed, index)} split, not train")
        clip = make_clip(corpus_seed, index, captions=False)
        joints = saved["joints"].astype(np.float32)
        truth = clip.joints[start : start + len(joints)].astype(np.float32)
        joints = joints[: len(truth)]
        out.append((joints, truth, _labels(clip.plan, len(truth), start)))
    if not out:
        raise ValueError(f"{folder}: no recovered clips (.npz files of bench/closed_loop.py --save)")
    return out


def disturb(joints: np.ndarray, rng: np.random.Generator, fps: float = 30.0) -> np.ndarray:
    """A copy of (T, J, 3) joints with the errors of a motion recovered from video (module docstring)."""
    j = joints.astype(np.float64)
    T = len(j)
    pelvis = j[:, :1].copy()
    body = (j - pelvis) * rng.uniform(0.85, 1.15)
    body += smooth(rng.normal(0, rng.uniform(0.0, 0.02), body.shape), 1.0)  # tremor
    body += smooth(rng.normal(0, rng.uniform(0.0, 0.04), body.shape), fps) * np.sqrt(fps)  # slow offsets
    start = pelvis[:1]
    path = (pelvis - start) * np.array([rng.uniform(0.7, 1.3), 1.0, rng.uniform(0.7, 1.3)])
    path += smooth(rng.normal(0, 0.05, (T, 1, 3)), fps) * np.sqrt(fps) * np.array([1.0, 0.2, 1.0])
    return (start + path + body).astype(np.float32)


def _example(clip, rng: np.random.Generator, window: int, residual: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """One training window: the clip with the feature error of a real recovered motion (`residual`, taken at a
    random offset and repeated to the window's length), or else disturbed by `disturb`."""
    joints, labels = clip
    if len(joints) > window:
        s = int(rng.integers(0, len(joints) - window + 1))
        joints, labels = joints[s : s + window], labels[s : s + window]
    if residual is None:
        features = motion_features(disturb(joints, rng), 30.0)
    else:
        error = np.concatenate([residual, residual[::-1]])  # mirrored in time: the repeat has no jump
        error = np.roll(error, -int(rng.integers(len(error))), axis=0)
        features = motion_features(joints, 30.0)
        features = features + np.resize(error, features.shape)
    pad = window - len(features)
    if pad > 0:  # edge values and ignored labels: the network sees a still body, the loss never sees it
        features = np.concatenate([features, np.repeat(features[-1:], pad, 0)])
        padding = np.full((pad, 4), IGNORE, np.float32)
        padding[:, 2] = np.nan
        labels = np.concatenate([labels, padding])
    return features, labels


def _batch(clips, rng, size: int, window: int, residuals=(), residual_rate: float = 0.0):
    import torch

    examples = []
    for i in rng.integers(0, len(clips), size):
        use = len(residuals) and rng.random() < residual_rate
        examples.append(_example(clips[i], rng, window, residuals[int(rng.integers(len(residuals)))] if use else None))
    return tuple(torch.from_numpy(np.stack(parts)) for parts in zip(*examples, strict=True))


def _loss(outputs, labels):
    """Cross-entropy of the action (weight 1), layer and side (0.5 each), squared error of the repetition rate
    (per second; weight 1), each over the frames whose label is known."""
    import torch
    from torch.nn.functional import cross_entropy

    actions, layers, rate, sides = outputs
    loss = cross_entropy(actions.flatten(0, 1), labels[..., 0].long().flatten(), ignore_index=IGNORE)
    loss = loss + 0.5 * cross_entropy(layers.flatten(0, 1), labels[..., 1].long().flatten(), ignore_index=IGNORE)
    if (labels[..., 3] != IGNORE).any():
        loss = loss + 0.5 * cross_entropy(sides.flatten(0, 1), labels[..., 3].long().flatten(), ignore_index=IGNORE)
    known = ~torch.isnan(labels[..., 2])
    if known.any():
        loss = loss + ((rate[known] - labels[..., 2][known]) ** 2).mean()
    return loss


def _accuracy(net, batches, mean, std) -> float:
    import torch

    right = total = 0
    net.eval()
    with torch.no_grad():
        for features, labels in batches:
            logits = net((features - mean) / std)[0]
            actions = labels[..., 0].long()
            known = actions != IGNORE
            right += int((logits.argmax(-1) == actions)[known].sum())
            total += int(known.sum())
    net.train()
    return right / max(total, 1)


def fit_action_classifier(config: FitConfig = FitConfig(), progress: bool = True) -> ActionClassifier:
    """Fit the classifier on train clips; keep the step with the best frame accuracy on disturbed val clips."""
    import copy

    import torch
    from tqdm.auto import tqdm

    from motionmill.video.action_net import ActionNet, ActionNetConfig

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train = labelled_clips("train", config.train_clips, config.corpus_seed)
    val = labelled_clips("val", config.val_clips, config.corpus_seed)
    residuals: list[np.ndarray] = []
    if config.recovered:
        for recovered, truth, labels in recovered_clips(config.recovered, config.corpus_seed):
            residuals.append(motion_features(recovered, 30.0) - motion_features(truth, 30.0))
            train.append((recovered, labels))  # the real thing, too
    mix = {"residuals": residuals, "residual_rate": config.residual_rate}
    sample = np.concatenate([_batch(train, rng, 1, config.window, **mix)[0][0].numpy() for _ in range(500)])
    mean, std = sample.mean(0), sample.std(0) + 1e-3
    val_rng = np.random.default_rng(config.seed + 1)
    val_batches = [_batch(val[i : i + 50], val_rng, 50, config.window, **mix) for i in range(0, len(val), 50)]
    net = ActionNet(ActionNetConfig(features=FEATURES, actions=len(ACTION_LABELS), layers=len(LAYER_LABELS),
                                    sides=len(SIDE_LABELS), width=config.width))  # fmt: skip
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, config.lr, total_steps=config.steps, pct_start=max(0.05, 2 / config.steps)
    )  # a warm-up of 2+ steps
    mean_t, std_t = torch.from_numpy(mean), torch.from_numpy(std)
    best, best_state, history, start = -1.0, None, [], time.time()
    bar = tqdm(range(1, config.steps + 1), desc="fit captioner", unit="step", disable=not progress)
    for step in bar:
        features, labels = _batch(train, rng, config.batch, config.window, **mix)
        loss = _loss(net((features - mean_t) / std_t), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % config.eval_every == 0 or step == config.steps:
            accuracy = _accuracy(net, val_batches, mean_t, std_t)
            history.append({"step": step, "loss": round(loss.item(), 4), "val_frame_accuracy": round(accuracy, 4)})
            if accuracy > best:
                best, best_state = accuracy, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    info = {"corpus": f"builtin (seed {config.corpus_seed})", "train": f"first {config.train_clips} train clips",
            "val": f"first {config.val_clips} val clips, disturbed like the training windows", "recipe": asdict(config),
            "val_frame_accuracy": round(best, 4), "history": history,
            "seconds": round(time.time() - start)}  # fmt: skip
    return ActionClassifier(net, ACTION_LABELS, LAYER_LABELS, mean, std, info, "fitted", SIDE_LABELS)
