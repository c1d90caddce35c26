"""The published evaluation loaders' item selection, reproduced draw for draw on a motionmill corpus.

Two loaders decide which frames and captions the published text-to-motion numbers are computed on:

- HumanML3D's (`Text2MotionDatasetV2` in https://github.com/EricGuo5513/text-to-motion, `data/dataset.py`, 20 fps,
  unit 4): clips of 40 frames or more and fewer than 200; a caption with a time span is its own item, cut to the
  span and held to the same window; the other captions of a clip form the clip's item;
- MotionMillion's (`dataset/dataset_TM_eval_motionmillion.py` in https://github.com/VankouF/MotionMillion-Codes,
  30 fps, unit 4): clips of 60 to 200 frames (200 included), every caption line of a clip on the whole clip.

Both sort their items by length (stably) and skip those shorter than a pointer (`reset_max_len(20)`); each read of an
item picks a random caption (`random.choice`), drops one more unit one time in three
(`np.random.choice(['single', 'single', 'double'])`), and crops at a random start (`random.randint`). A DataLoader
with `shuffle=True, drop_last=True` forms the batches: its iterator first draws a base seed from torch's RNG, then
its RandomSampler draws its own seed from torch's RNG and takes `torch.randperm` of the items.

MotionMillion's loader appends each clip's length twice (once after the length test, once after reading its
captions) but its name once, so the sort pairs the i-th clip with the length of clip i // 2; `length_list` keeps
that order here too (`LoaderRules.lengths_twice`).

`loader_batches` makes these draws from its own RNGs: with `s = run_seed(seed, r)`, `random.Random(s)`,
`np.random.RandomState(s)` and a torch generator seeded with `s` stand for the globals after `random.seed(s)`,
`np.random.seed(s)`, `torch.manual_seed(s)`, and the draws come in the order a single-process DataLoader
(`num_workers=0`) makes them, building the dataset and iterating it once. (The published scripts read items in
worker processes, whose RNGs are seeded from the base seed instead; seeded globals alone do not fix those crops.)

Frame counts are published at the loader's frame rate and converted to the corpus clip's (`LoaderRules.frames`):
HumanML3D's 40 / 200 / 4 frames at 20 fps are 60 / 300 / 6 at 30 fps; MotionMillion's stay 60 / 200 / 4.

Shape legend: N items, B batch size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["LOADERS", "LoaderRules", "LoaderItem", "loader_batches", "loader_entries", "run_seed"]

_NAME_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVW"
"""HumanML3D's loader names a span item by one random letter of these before the clip id."""


@dataclass(frozen=True)
class LoaderRules:
    """One published loader's windows (in frames at `fps`) and habits."""

    name: str
    fps: float
    min_frames: int
    max_frames: int
    max_included: bool
    """Whether a clip of exactly `max_frames` stays (MotionMillion: `> 200` is dropped; HumanML3D: `>= 200`)."""
    unit: int
    spans: bool
    """Whether captions with a time span become their own items (HumanML3D) or describe the whole clip."""
    lengths_twice: bool
    """MotionMillion's doubled `length_list` (module docstring)."""
    pointer_length: int = 20
    """`reset_max_len(20)`: items shorter than this many frames are skipped."""

    def frames(self, count: int, fps: float) -> int:
        """`count` frames at the loader's frame rate, as frames at `fps`."""
        return int(round(count * fps / self.fps))

    def keeps(self, length: int, fps: float) -> bool:
        """Whether a clip (or span) of `length` frames at `fps` is inside the window."""
        low, high = self.frames(self.min_frames, fps), self.frames(self.max_frames, fps)
        return low <= length and (length <= high if self.max_included else length < high)


LOADERS = {
    "humanml3d": LoaderRules("humanml3d", 20.0, 40, 200, False, 4, True, False),
    "motionmillion": LoaderRules("motionmillion", 30.0, 60, 200, True, 4, False, True),
}


class LoaderItem(NamedTuple):
    """One item as a loader returns it: caption `text` on frames [first, last) of corpus clip `row` at `fps`."""

    row: int
    first: int
    last: int
    fps: float
    text: str


class _Entry(NamedTuple):
    """One entry of a loader's dataset: frames [first, last) of clip `row` and the captions one is picked from."""

    row: int
    first: int
    last: int
    fps: float
    captions: tuple[str, ...]


def run_seed(seed: int, run: int) -> int:
    """The 32-bit seed `s` of run `run`'s loader draws (`random.seed(s)`, `np.random.seed(s)`, `torch.manual_seed(s)`
    in the published code)."""
    return int(np.random.SeedSequence([seed, run]).generate_state(1)[0])


def loader_entries(rules: LoaderRules, clips: list[dict], py: random.Random) -> tuple[list[_Entry], int]:
    """The dataset a loader builds from `clips`, in its sorted order, and its pointer.

    Args:
        rules: the loader.
        clips: in split-file order, {"row", "id", "frames", "fps", "texts": [{"text", "start", "end"}]}.
        py: python RNG; HumanML3D's loader draws a name letter for every span item it keeps.

    Returns:
        (entries sorted as the loader sorts them, index of the first entry read).
    """
    entries, lengths, names = [], [], set()
    for clip in clips:
        frames, fps = int(clip["frames"]), float(clip["fps"])
        if not rules.keeps(frames, fps):
            continue
        if rules.lengths_twice:
            lengths.append(frames)
        whole = []
        for caption in clip["texts"]:
            start, end = _tag(caption.get("start")), _tag(caption.get("end"))
            if not rules.spans or (start == 0.0 and end == 0.0):
                whole.append(caption["text"])
                continue
            first, last = int(start * fps), int(end * fps)
            length = max(0, min(last, frames) - min(first, frames))  # a Python slice of the clip
            if not rules.keeps(length, fps):
                continue
            name = py.choice(_NAME_LETTERS) + "_" + clip["id"]
            while name in names:
                name = py.choice(_NAME_LETTERS) + "_" + clip["id"]
            names.add(name)
            entries.append(_Entry(int(clip["row"]), first, first + length, fps, (caption["text"],)))
            lengths.append(length)
        if whole:
            names.add(clip["id"])
            entries.append(_Entry(int(clip["row"]), 0, frames, fps, tuple(whole)))
            lengths.append(frames)
    keys = lengths[: len(entries)]  # MotionMillion: the doubled list, cut to the names (module docstring)
    order = sorted(range(len(entries)), key=lambda i: keys[i])  # stable, as the loaders' sort
    sorted_keys = np.array([keys[i] for i in order])
    fps = float(clips[0]["fps"]) if clips else rules.fps
    pointer = int(np.searchsorted(sorted_keys, rules.frames(rules.pointer_length, fps)))
    return [entries[i] for i in order], pointer


def _tag(value) -> float:
    """A caption's span bound as the loader reads it: missing or NaN is 0."""
    value = 0.0 if value is None else float(value)
    return 0.0 if np.isnan(value) else value


def loader_batches(rules: LoaderRules, clips: list[dict], seed: int, batch_size: int = 32) -> list[list[LoaderItem]]:
    """One pass of the loader over `clips` with its RNGs seeded with `seed`: the batches of items it yields.

    Args:
        rules: the loader (`LOADERS`).
        clips: as for `loader_entries`.
        seed: the seed of python's, numpy's and torch's RNGs (`run_seed`).
        batch_size: DataLoader batch; the incomplete last batch is dropped.

    Returns:
        The batches in order, each of `batch_size` items.
    """
    py, npr = random.Random(seed), np.random.RandomState(seed)
    torch_rng = torch.Generator().manual_seed(seed)
    entries, pointer = loader_entries(rules, clips, py)
    count = len(entries) - pointer
    torch.empty((), dtype=torch.int64).random_(generator=torch_rng)  # the iterator's base seed, unused here
    sampler_seed = int(torch.empty((), dtype=torch.int64).random_(generator=torch_rng).item())
    order = torch.randperm(count, generator=torch.Generator().manual_seed(sampler_seed)).tolist() if count else []
    batches = []
    for b in range(count // batch_size):
        batch = []
        for index in order[b * batch_size : (b + 1) * batch_size]:
            entry = entries[pointer + index]
            text = py.choice(entry.captions)
            length = entry.last - entry.first
            unit = rules.frames(rules.unit, entry.fps)
            coin = npr.choice(("single", "single", "double")) if rules.unit < 10 else "single"  # as published
            length = (length // unit - (1 if coin == "double" else 0)) * unit
            start = entry.first + py.randint(0, entry.last - entry.first - length)
            batch.append(LoaderItem(entry.row, start, start + length, entry.fps, text))
        batches.append(batch)
    return batches
