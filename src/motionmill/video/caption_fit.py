"""Fitting the offline captioner's action classifier on the built-in corpus (`motionmill video fit-captioner`).

Training data: clips of the train split of the built-in corpus (seed 7), each frame labelled with the action of the
plan segment it lies in and with the upper-body action layered on it ("none" when there is none). Motion recovered
from video is not as clean as these clips, so every training example is disturbed the way pose estimation disturbs
a motion (measured in the closed loop, video/closed_loop.py): per-joint tremor of a centimetre or two, slow offsets
of a few centimetres per joint, a body 15% smaller or larger, and a path whose scale is off by up to 30% (the depth
of a person comes from their size in the image) and that wanders slowly. The checkpoint kept is the one with the
best frame accuracy on disturbed clips of the val split.

Shape legend: N clips, T frames, J joints (22), F features, B batch.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from motionmill.synth.catalog import ACTIONS
from motionmill.synth.corpus import LAYERABLE, UPPER, make_clip, split_of
from motionmill.video.caption import FEATURES, ActionClassifier, motion_features
from motionmill.video.lift import smooth

__all__ = ["FitConfig", "disturb", "fit_action_classifier", "labelled_clips"]

ACTION_LABELS = sorted(ACTIONS)
LAYER_LABELS = ["none", *sorted(UPPER)]
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
    seed: int = 0
    corpus_seed: int = 7


def labelled_clips(split: str, count: int, corpus_seed: int = 7) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The first `count` built-in clips of `split` as (joints (T, J, 3) float32, action labels (T,), layer labels)."""
    out, index = [], 0
    while len(out) < count:
        if split_of(corpus_seed, index) == split:
            clip = make_clip(corpus_seed, index, captions=False)
            times = np.arange(len(clip.joints)) / clip.fps
            actions = np.full(len(times), IGNORE, np.int64)
            layers = np.full(len(times), IGNORE, np.int64)
            for seg in clip.plan.segments:
                inside = (times >= seg.start) & (times < seg.end)
                actions[inside] = ACTION_LABELS.index(seg.action)
                layer = seg.layer if seg.action in LAYERABLE else None
                layers[inside] = LAYER_LABELS.index(layer) if layer else 0
            out.append((clip.joints.astype(np.float32), actions, layers))
        index += 1
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


def _example(clip, rng: np.random.Generator, window: int, disturbed: bool) -> tuple[np.ndarray, ...]:
    joints, actions, layers = clip
    if len(joints) > window:
        s = int(rng.integers(0, len(joints) - window + 1))
        joints, actions, layers = joints[s : s + window], actions[s : s + window], layers[s : s + window]
    features = motion_features(disturb(joints, rng) if disturbed else joints, 30.0)
    pad = window - len(features)
    if pad > 0:  # edge values and ignored labels: the network sees a still body, the loss never sees it
        features = np.concatenate([features, np.repeat(features[-1:], pad, 0)])
        actions = np.concatenate([actions, np.full(pad, IGNORE)])
        layers = np.concatenate([layers, np.full(pad, IGNORE)])
    return features, actions, layers


def _batch(clips, rng, size: int, window: int, disturbed: bool = True):
    import torch

    chosen = rng.integers(0, len(clips), size)
    examples = [_example(clips[i], rng, window, disturbed) for i in chosen]
    return tuple(torch.from_numpy(np.stack(parts)) for parts in zip(*examples, strict=True))


def _accuracy(net, batches, mean, std) -> float:
    import torch

    right = total = 0
    net.eval()
    with torch.no_grad():
        for features, actions, _ in batches:
            logits, _ = net((features - mean) / std)
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
    sample = np.concatenate([motion_features(disturb(j, rng), 30.0) for j, _, _ in train[:500]])
    mean, std = sample.mean(0), sample.std(0) + 1e-3
    val_rng = np.random.default_rng(config.seed + 1)
    val_batches = [_batch(val[i : i + 50], val_rng, 50, config.window) for i in range(0, len(val), 50)]
    net = ActionNet(ActionNetConfig(features=FEATURES, actions=len(ACTION_LABELS), layers=len(LAYER_LABELS),
                                    width=config.width))  # fmt: skip
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.lr, total_steps=config.steps, pct_start=0.05)
    mean_t, std_t = torch.from_numpy(mean), torch.from_numpy(std)
    best, best_state, history, start = -1.0, None, [], time.time()
    bar = tqdm(range(1, config.steps + 1), desc="fit captioner", unit="step", disable=not progress)
    for step in bar:
        features, actions, layers = _batch(train, rng, config.batch, config.window)
        action_logits, layer_logits = net((features - mean_t) / std_t)
        loss = torch.nn.functional.cross_entropy(action_logits.flatten(0, 1), actions.flatten(), ignore_index=IGNORE)
        loss = loss + 0.5 * torch.nn.functional.cross_entropy(layer_logits.flatten(0, 1), layers.flatten(),
                                                              ignore_index=IGNORE)  # fmt: skip
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
            "val": f"first {config.val_clips} val clips, disturbed", "recipe": asdict(config),
            "val_frame_accuracy": round(best, 4), "history": history,
            "seconds": round(time.time() - start)}  # fmt: skip
    return ActionClassifier(net, ACTION_LABELS, LAYER_LABELS, mean, std, info, "fitted")
