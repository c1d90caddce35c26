"""The free-form evaluation set: prompts in plain English, judged by the predicates of the built-in corpus.

The corpus captions come from one grammar, so a model that scores well on them may only know that grammar. The
free-form prompts (`assets/freeform.yaml`) were written without the caption templates: other verbs, other word
order, slang and typos. Apart from a small shared core (sides, directions, body parts, counts, a few subjects;
`SHARED_CORE`) none of their content words occurs in any training caption, which `tests/eval/test_freeform.py`
checks. Each prompt carries the plan it describes in the corpus vocabulary, so its motion is scored with the same
predicates as a corpus clip (`synth.expectations`) and a ground-truth motion can be made from the plan.

Plan syntax, one string per segment in order: ``ACTION [KIND=VALUE ...] [+ LAYER [KIND=VALUE ...]]``, e.g.
``walk direction=left turn=90 + clap reps=2`` (a walk to the left that turns 90 degrees to the left while clapping
twice). Actions and modifiers are those of `synth.catalog`; a turn is signed, + to the left.

A second, smaller set in the same style and with other wording (`assets/freeform_dev.yaml`, split "freeform_dev")
is the development set: whatever reads free-form text is tuned on it, never on the evaluation set.

Commands: `motionmill eval alignment --split freeform` and `--split freeform_dev` (all prompts unless --clips is
smaller).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import yaml

from motionmill.synth.actions import segment_seconds
from motionmill.synth.captions import Caption
from motionmill.synth.catalog import ACTIONS
from motionmill.synth.compose import compose
from motionmill.synth.corpus import FPS, LAYERABLE, Clip
from motionmill.synth.plan import ClipPlan, Segment

__all__ = [
    "FREEFORM_DEV_PROMPTS",
    "FREEFORM_PROMPTS",
    "FREEFORM_SETS",
    "SHARED_CORE",
    "freeform_clips",
    "freeform_items",
    "parse_plan",
]

FREEFORM_PROMPTS = Path(__file__).resolve().parents[1] / "assets" / "freeform.yaml"
FREEFORM_DEV_PROMPTS = FREEFORM_PROMPTS.with_name("freeform_dev.yaml")
FREEFORM_SETS = {"freeform": FREEFORM_PROMPTS, "freeform_dev": FREEFORM_DEV_PROMPTS}
"""The free-form prompt files by split name."""

SHARED_CORE = frozenset(
    "left right forward forwards backward backwards back side sideways hand hands arm arms leg legs foot feet head "
    "knee knees body once twice times degrees one two three four five quarter half round around man woman person "
    "guy".split()
)
"""Content words a free-form prompt may share with the training captions: sides, directions, body parts, counts and
a few subjects. Every other content word must be new to the corpus."""

SEED = 7  # random stream of the ground-truth motions and segment durations


def _value(kind: str, text: str):
    return int(text) if kind in ("turn", "reps") else text


def _action(spec: str, where: str) -> tuple[str, tuple]:
    name, *pairs = spec.split()
    if name not in ACTIONS:
        raise ValueError(f"{where}: unknown action {name!r}")
    modifiers = []
    for pair in pairs:
        kind, sep, text = pair.partition("=")
        if not sep or kind not in ACTIONS[name].modifiers:
            raise ValueError(
                f"{where}: {name} takes no modifier {pair!r} (kinds: {', '.join(ACTIONS[name].modifiers)})"
            )
        value = _value(kind, text)
        if value not in ACTIONS[name].values(kind):
            raise ValueError(f"{where}: {name} {kind} must be one of {ACTIONS[name].values(kind)}, got {text!r}")
        modifiers.append((kind, value))
    return name, tuple(modifiers)


def parse_plan(specs: list[str], where: str = "plan") -> list[tuple[str, tuple, str | None, tuple]]:
    """(action, modifiers, layer, layer modifiers) per segment spec; ValueError naming `where` and the bad part."""
    out = []
    for k, spec in enumerate(specs):
        main, _, layer = (part.strip() for part in spec.partition("+"))
        action, mods = _action(main, f"{where}[{k}]")
        layer_name, layer_mods = _action(layer, f"{where}[{k}] layer") if layer else (None, ())
        if layer_name is not None and action not in LAYERABLE:
            raise ValueError(f"{where}[{k}]: only {', '.join(LAYERABLE)} carry a layered action, not {action}")
        out.append((action, mods, layer_name, layer_mods))
    return out


@cache
def freeform_items(path: Path = FREEFORM_PROMPTS) -> tuple[dict, ...]:
    """The prompts of the set: ({"text": str, "plan": [segment specs]}, ...), checked."""
    items = yaml.safe_load(Path(path).read_text())
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not item.get("text") or not item.get("plan"):
            raise ValueError(f"{path}: item {i} needs a text and a plan, got {item!r}")
        parse_plan(item["plan"], f"{path}: item {i} plan")
    return tuple(items)


def _plan(index: int, specs: list[str]) -> ClipPlan:
    rng = np.random.default_rng([SEED, index])
    segments, t = [], 0.0
    for action, mods, layer, layer_mods in parse_plan(specs):
        seconds = segment_seconds(action, mods, rng)
        segments.append(Segment(action, round(t, 4), round(t + seconds, 4), mods, layer, layer_mods))
        t += seconds
    return ClipPlan(SEED, index, "freeform", tuple(segments), FPS)


def freeform_clips(count: int | None = None, path: Path = FREEFORM_PROMPTS) -> list[Clip]:
    """The first `count` prompts (all by default) of the set at `path` as clips: plan, ground-truth motion made from
    it, the prompt as the one whole-clip caption."""
    clips = []
    for index, item in enumerate(freeform_items(path)[:count]):
        plan = _plan(index, item["plan"])
        k = compose(plan, np.random.default_rng([SEED, index, 1]))
        clips.append(Clip(plan, k.rotations, k.joints, k.air, [Caption(item["text"], 0.0, plan.duration, ())]))
    return clips
