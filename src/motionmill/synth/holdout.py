"""The zero-shot split of the built-in corpus, as data: combinations that never occur in train, val or test.

MotionMillion's claim is zero-shot generalisation: text whose combination of parts was never seen in training. The
built-in corpus makes that measurable by holding out, from train/val/test, four kinds of combination, each of
whose parts is common in training on its own:
- action-modifier pairs (a jog is seen, going backward is seen, jogging backward is not);
- compositions: ordered pairs of consecutive segments (squat then jump);
- layerings: an upper-body action performed while moving (walking while clapping);
- phrasings: caption templates (ids chosen by synth.captions) used only for zero-shot clips.
A zero-shot plan contains at least one of them; ClipPlan.holdout names which (see `heldout_rules`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from itertools import pairwise

from motionmill.synth.plan import Segment

__all__ = [
    "HELDOUT_LAYERINGS",
    "clean_detail_changes",
    "clean_mirror",
    "detail_changes",
    "mirrored",
    "HELDOUT_PAIRS",
    "HELDOUT_PHRASINGS",
    "HELDOUT_SEQUENCES",
    "RULES",
    "heldout_rules",
    "is_heldout_phrasing",
]

# (action, (modifier kind, value)); each value stays seen in train with other actions, each action with other values.
HELDOUT_PAIRS: tuple[tuple[str, tuple[str, object]], ...] = (
    ("jog", ("direction", "backward")),
    ("kick", ("side", "left")),
    ("wave", ("style", "tired")),
    ("squat", ("amplitude", "big")),
    ("walk", ("turn", -180)),
    ("punch", ("speed", "slow")),
    ("jump", ("direction", "left")),
    ("march", ("style", "energetic")),
    ("arm_circles", ("side", "both")),
    ("sneak", ("direction", "left")),
    ("clap", ("style", "cautious")),
    ("lunge", ("side", "right")),
)

# (earlier action, next action) never played one right after the other.
HELDOUT_SEQUENCES: tuple[tuple[str, str], ...] = (
    ("squat", "jump"),
    ("run", "bow"),
    ("kick", "spin"),
    ("walk", "toe_touch"),
    ("jumping_jack", "wave"),
    ("side_step", "punch"),
)

# (locomotion action, layered upper-body action) never performed together.
HELDOUT_LAYERINGS: tuple[tuple[str, str], ...] = (
    ("walk", "clap"),
    ("jog", "wave"),
    ("march", "punch"),
    ("side_step", "cheer"),
)

# Caption template ids (synth.captions) reserved for zero-shot clips. The caption grammar owns the ids: it adds
# them here (or tags them, see `is_heldout_phrasing`) and uses them only for plans whose holdout has "phrasing".
HELDOUT_PHRASINGS: frozenset[str] = frozenset()

RULES = ("action_modifier", "composition", "layering", "phrasing")


def is_heldout_phrasing(template_id: str) -> bool:
    """Whether a caption template is reserved for zero-shot clips (the caption grammar's list when it has one)."""
    try:
        from motionmill.synth.captions import is_heldout_phrasing as grammar_rule
    except ImportError:
        return template_id in HELDOUT_PHRASINGS or template_id.startswith("zs:")
    return grammar_rule(template_id)


def _pairs(seg: Segment):
    yield from ((seg.action, (k, v)) for k, v in seg.modifiers)
    if seg.layer is not None:
        yield from ((seg.layer, (k, v)) for k, v in seg.layer_modifiers)


def heldout_rules(segments: Iterable[Segment]) -> tuple[str, ...]:
    """The held-out rules (names from RULES, phrasing excepted) that a sequence of segments breaks."""
    segments = tuple(segments)
    found = set()
    if any(p in HELDOUT_PAIRS for seg in segments for p in _pairs(seg)):
        found.add("action_modifier")
    if any((a.action, b.action) in HELDOUT_SEQUENCES for a, b in pairwise(segments)):
        found.add("composition")
    if any((seg.action, seg.layer) in HELDOUT_LAYERINGS for seg in segments):
        found.add("layering")
    return tuple(r for r in RULES if r in found)


# Augmentations of training clips must pass the same rules: a mirror image of "lunge left" is "lunge right", and
# a caption with its turn size changed describes a walk turning 180 degrees, both held out.
_MIRROR = {"left": "right", "right": "left"}


def _mirror_modifiers(modifiers: tuple) -> tuple:
    out = []
    for kind, value in modifiers:
        if kind in ("direction", "side"):
            value = _MIRROR.get(value, value)
        elif kind == "turn":
            value = -value
        out.append((kind, value))
    return tuple(out)


def mirrored(segments: Iterable[Segment]) -> tuple[Segment, ...]:
    """The segments of a clip's left/right mirror image: sides, sideways directions and turns swapped."""
    return tuple(
        dataclasses.replace(seg, modifiers=_mirror_modifiers(seg.modifiers),
                            layer_modifiers=_mirror_modifiers(seg.layer_modifiers))
        for seg in segments
    )  # fmt: skip


def _changed_details(modifiers: tuple) -> Iterator[tuple]:
    for i, (kind, value) in enumerate(modifiers):
        if kind == "reps":
            others = (value - 1, value + 1)
        elif kind == "turn":
            others = ((1 if value > 0 else -1) * (270 - abs(value)),)  # 90 <-> 180 degrees, same side
        else:
            continue
        for other in others:
            yield modifiers[:i] + ((kind, other),) + modifiers[i + 1 :]


def detail_changes(segments: Iterable[Segment]) -> Iterator[tuple[Segment, ...]]:
    """Every copy of `segments` with one repetition count or turn size changed: the clips a caption with one
    changed detail (`text.details.change_detail`) may describe."""
    segments = tuple(segments)
    for i, seg in enumerate(segments):
        for mods in _changed_details(seg.modifiers):
            yield segments[:i] + (dataclasses.replace(seg, modifiers=mods),) + segments[i + 1 :]
        for mods in _changed_details(seg.layer_modifiers):
            yield segments[:i] + (dataclasses.replace(seg, layer_modifiers=mods),) + segments[i + 1 :]


def clean_mirror(segments: Iterable[Segment]) -> bool:
    """Whether the mirror image of a clip breaks no held-out rule."""
    return not heldout_rules(mirrored(segments))


def clean_detail_changes(segments: Iterable[Segment]) -> bool:
    """Whether no caption of a clip with one changed detail can describe a held-out combination."""
    return not any(heldout_rules(changed) for changed in detail_changes(segments))
