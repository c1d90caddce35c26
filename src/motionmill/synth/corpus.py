"""The built-in corpus: clip number `index` of corpus `seed`, as a pure function of the two.

`plan_clip` draws a ClipPlan (1-4 segments of catalogue actions with modifiers, sometimes an upper-body action
layered on a gait) and its split; `make_clip` turns it into rotations, joints, 272-dim features and captions.
Every random draw comes from `np.random.default_rng([seed, index, stream])` with one stream per concern (split,
plan, motion, captions), so a clip is reproducible bit for bit, clips are independent of each other (any worker can
make any clip), and changing the caption grammar does not change the motion.

Splits: 80% train, 5% val, 10% test, 5% zeroshot. Train/val/test plans never contain a held-out combination
(synth.holdout); zeroshot plans contain at least one, named in ClipPlan.holdout.

Shape legend: T frames, J joints, F features.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motionmill.synth.actions import segment_seconds
from motionmill.synth.catalog import ACTIONS
from motionmill.synth.compose import compose
from motionmill.synth.holdout import HELDOUT_LAYERINGS, HELDOUT_PAIRS, HELDOUT_SEQUENCES, RULES, heldout_rules
from motionmill.synth.plan import ClipPlan, Segment

__all__ = ["SPLITS", "Clip", "make_clip", "plan_clip", "split_of"]

SPLITS = {"train": 0.80, "val": 0.05, "test": 0.10, "zeroshot": 0.05}
FPS = 30.0
STREAMS = {"split": 0, "plan": 1, "motion": 2, "captions": 3}
N_SEGMENTS = {1: 0.45, 2: 0.3, 3: 0.15, 4: 0.1}  # probabilities of the number of segments
MODIFIER_RATE = 0.4  # chance that each supported modifier kind is used
LAYER_RATE = 0.25  # chance that a gait carries an upper-body action
MAX_SECONDS = 10.0  # segments are dropped past this (clips are 2-10 s, docs/evaluation.md)
LAYERABLE = ("walk", "jog", "run", "sneak", "march", "side_step")  # gaits that can carry an upper-body action
UPPER = tuple(a.name for a in ACTIONS.values() if a.body == "upper")


@dataclass
class Clip:
    """One corpus clip."""

    plan: ClipPlan
    rotations: np.ndarray
    """(T, J, 3, 3) local rotations; index 0 is the global root rotation."""
    joints: np.ndarray
    """(T, J, 3) world positions in metres, y up, floor at 0."""
    air: np.ndarray
    """(T,) flight height in metres (> 0 only while airborne in a jump)."""
    captions: list = field(default_factory=list)
    """synth.captions.Caption items (text, start, end, template ids); empty if the grammar is unavailable."""

    @property
    def fps(self) -> float:
        return self.plan.fps

    def motion(self):
        """The clip as a motion.container.Motion (272-dim features)."""
        from motionmill.motion.container import Motion

        return Motion.from_rotations(self.rotations, self.joints, self.plan.fps)


def _rng(seed: int, index: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, index, STREAMS[stream]])


def split_of(seed: int, index: int) -> str:
    """The split of clip (seed, index): train, val, test or zeroshot (80/5/10/5)."""
    u = _rng(seed, index, "split").random()
    for name, p in SPLITS.items():
        if u < p:
            return name
        u -= p
    return "zeroshot"


def _modifiers(action: str, rng: np.random.Generator) -> tuple[tuple[str, object], ...]:
    spec = ACTIONS[action]
    out = []
    for kind in spec.modifiers:
        if rng.random() < MODIFIER_RATE:
            values = spec.values(kind)
            out.append((kind, values[rng.integers(len(values))]))
    return tuple(out)


def _draw(rng: np.random.Generator, previous: str | None, clean: bool) -> tuple:
    """(action, modifiers, layer, layer modifiers) for one segment; with `clean`, free of held-out combinations."""
    names = tuple(ACTIONS)
    while True:
        action = names[rng.integers(len(names))]
        mods, layer, layer_mods = _modifiers(action, rng), None, ()
        if action in LAYERABLE and rng.random() < LAYER_RATE:
            layer = UPPER[rng.integers(len(UPPER))]
            layer_mods = _modifiers(layer, rng)
        seg = Segment(action, 0.0, 1.0, mods, layer, layer_mods)
        pair = (Segment(previous, 0.0, 1.0), seg) if previous else (seg,)
        if not clean or not heldout_rules(pair):
            return action, mods, layer, layer_mods


def _inject(rule: str, rng: np.random.Generator) -> list[tuple]:
    """Segments (as _draw tuples) that break the held-out rule `rule`."""
    if rule == "action_modifier":
        action, pair = HELDOUT_PAIRS[rng.integers(len(HELDOUT_PAIRS))]
        mods = tuple(m for m in _modifiers(action, rng) if m[0] != pair[0]) + (pair,)
        return [(action, mods, None, ())]
    if rule == "composition":
        a, b = HELDOUT_SEQUENCES[rng.integers(len(HELDOUT_SEQUENCES))]
        return [(a, _modifiers(a, rng), None, ()), (b, _modifiers(b, rng), None, ())]
    if rule == "layering":
        a, b = HELDOUT_LAYERINGS[rng.integers(len(HELDOUT_LAYERINGS))]
        return [(a, _modifiers(a, rng), b, _modifiers(b, rng))]
    return []


def plan_clip(seed: int, index: int) -> ClipPlan:
    """The plan of clip (seed, index): its split, its segments with times and modifiers, and its held-out rules."""
    split = split_of(seed, index)
    rng = _rng(seed, index, "plan")
    n = int(rng.choice(list(N_SEGMENTS), p=list(N_SEGMENTS.values())))
    rule = RULES[rng.integers(len(RULES))] if split == "zeroshot" else None
    drawn = _inject(rule, rng) if rule else []
    at = int(rng.integers(max(1, n - len(drawn) + 1)))  # where the injected segments go
    free = max(0, n - len(drawn))
    items = [None] * min(at, free) + drawn + [None] * (free - min(at, free))
    segments, t, previous = [], 0.0, None
    for i, item in enumerate(items):
        if item is None:
            item = _draw(rng, previous, clean=split != "zeroshot")
        action, mods, layer, layer_mods = item
        seconds = segment_seconds(action, mods, rng)
        if segments and t + seconds > MAX_SECONDS and i >= at + len(drawn):  # never cut the held-out part
            break
        segments.append(Segment(action, round(t, 4), round(t + seconds, 4), mods, layer, layer_mods))
        t, previous = t + seconds, action
    holdout = heldout_rules(segments) + (("phrasing",) if rule == "phrasing" else ())
    return ClipPlan(seed, index, split, tuple(segments), FPS, holdout)


def _captions(plan: ClipPlan, seed: int, index: int) -> list:
    try:
        from motionmill.synth.captions import captions_for
    except ImportError:  # the caption grammar is optional while it is being written
        return []
    return captions_for(plan, _rng(seed, index, "captions"), allow_heldout=plan.split == "zeroshot")


def make_clip(seed: int, index: int, captions: bool = True) -> Clip:
    """Clip (seed, index): plan, rotations, joints, flight heights and captions; identical bytes on every call."""
    plan = plan_clip(seed, index)
    k = compose(plan, _rng(seed, index, "motion"))
    return Clip(plan, k.rotations, k.joints, k.air, _captions(plan, seed, index) if captions else [])
