"""The caption grammar of the built-in corpus: plans -> several paraphrased English descriptions.

Captions follow HumanML3D's conventions (`texts/*.txt`, docs/representation.md): a few free-form descriptions of the
whole clip, each with a time span, written in the third person present tense. Every caption names each action and
every modifier a segment carries, so text and motion agree by construction; wording varies through verb paraphrases,
sentence shapes, composition connectors, layering patterns, subjects and modifier synonyms.

Every template has a stable string id (append new ones, never renumber):
- ``act.<action>.<i>``: verb-phrase paraphrases of an action, in base form;
- ``shape.*``: sentence shapes for one clause;
- ``comp.*``: connectors for sequences of 2-4 segments;
- ``layer.*``: patterns for an upper-body action performed during a locomotion segment.

About 10% of the ids are held out (HELDOUT_TEMPLATES): they never appear in train/val/test captions and are
preferred for zero-shot clips whose plan holds out "phrasing", so a model can be tested on unseen wordings.

Template mini-language: ``{S}``/``{s}`` subject (capitalised or not), ``{p}`` its pronoun, ``{poss}`` the possessive,
``{i:form}`` clause i in form ``3sg`` ("walks"), ``base`` ("walk"), ``ing`` ("walking") or ``pro`` (agreeing with
the pronoun). In verb phrases ``^`` marks the verbs to inflect (the first word when none is marked) and
``{kind:variant|default}`` places a modifier phrase; modifiers without a slot are appended in a fixed order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from motionmill.synth.catalog import ACTIONS
from motionmill.synth.plan import ClipPlan, Segment

__all__ = [
    "HELDOUT_TEMPLATES",
    "SUBJECTS",
    "TEMPLATES",
    "Caption",
    "captions_for",
    "gerund",
    "is_heldout_phrasing",
    "third_person",
]


@dataclass(frozen=True)
class Caption:
    """One description of a time span of a clip."""

    text: str
    start: float
    """Seconds from the clip start."""
    end: float
    templates: tuple[str, ...]
    """Ids of the templates used, in order of use."""


# ---------------------------------------------------------------------------------------------------------------
# Data: verb-phrase paraphrases per action (base form).
# ---------------------------------------------------------------------------------------------------------------
_PHRASES: dict[str, tuple[str, ...]] = {
    "walk": ("walk", "take a few steps", "move {direction} on foot", "make {poss} way {direction|along}",
             "take several steps"),
    "jog": ("jog", "trot", "move {direction} at a jog", "jog along", "do some jogging"),
    "run": ("run", "go at a run", "go running", "break into a run", "run along"),
    "sneak": ("sneak", "tiptoe", "creep", "walk on tiptoes", "move stealthily"),
    "march": ("march", "walk {direction} in a marching style", "stride {direction} like a soldier",
              "march like a soldier", "step {direction} in a military march"),
    "skip": ("skip", "skip along", "move with skipping steps", "bounce along in skips", "travel in a skipping gait"),
    "hop": ("hop {side:on|on one foot}", "jump {side:on|on one leg}", "do one-legged hops {side:on}",
            "bounce {side:on|on one foot}", "hop around {side:on|on a single leg}"),
    "side_step": ("side-step {direction}", "step sideways {direction}", "shuffle {direction}",
                  "take side steps {direction}", "move laterally {direction}"),
    "turn_in_place": ("turn {turn:bare} in place", "turn {turn:bare} on the spot", "pivot {turn:bare}",
                      "rotate {turn:bare} while standing", "change direction by turning {turn:bare}"),
    "spin": ("spin {turn:bare}", "twirl {turn:bare}", "do a spin {turn:bare}", "spin {turn:bare} on the spot",
             "whirl {turn:bare}"),
    "jumping_jack": ("do jumping jacks", "perform jumping jacks", "do star jumps",
                     "jump while spreading {poss} arms and legs", "do a set of jumping jacks"),
    "squat": ("squat", "do {amplitude:adj} squats", "bend the knees into a {amplitude:adj} squat",
              "lower into a {amplitude:adj} squat", "crouch down into a {amplitude:adj} squat"),
    "lunge": ("lunge", "do lunges", "step into a lunge", "perform lunges", "drop into a lunge"),
    "high_knees": ("do high knees", "jog in place with high knees", "run on the spot lifting the knees high",
                   "march in place raising the knees high", "perform high-knee drills"),
    "arm_circles": ("do arm circles", "circle {side:obj|the arms}", "rotate {side:obj|the arms} in circles",
                    "make circles with {side:obj|the arms}", "swing {side:obj|the arms} around in circles"),
    "toe_touch": ("touch {poss} toes", "^bend down and ^touch {poss} toes", "reach down to {poss} toes",
                  "bend forward to touch the toes", "do toe touches"),
    "side_bend": ("bend {side:dir|sideways}", "lean {side:dir|sideways}", "do side bends {side:dir}",
                  "tilt the upper body {side:dir|sideways}", "stretch sideways {side:dir}"),
    "torso_twist": ("twist the torso", "rotate the upper body from side to side", "do torso twists",
                    "swivel the upper body", "twist at the waist"),
    "calf_raise": ("do calf raises", "rise onto {poss} toes", "lift {poss} heels off the ground",
                   "go up on tiptoes", "raise up onto the balls of {poss} feet"),
    "stretch": ("stretch {side:dir}", "do a stretch {side:dir}", "stretch {poss} body {side:dir}",
                "lean into a stretch {side:dir}", "extend {poss} arms in a stretch {side:dir}"),
    "punch": ("punch", "throw punches", "punch the air", "jab", "throw a punch"),
    "uppercut": ("throw an uppercut", "do uppercuts", "punch upward", "throw uppercut punches",
                 "strike upward with an uppercut"),
    "kick": ("kick", "kick the air", "do a front kick", "throw a kick", "kick forward"),
    "side_kick": ("do a side kick", "kick to the side", "throw a side kick", "kick sideways", "perform a side kick"),
    "block": ("block", "raise a forearm to block", "put up a guard", "make a blocking motion",
              "defend with a block"),
    "elbow_strike": ("throw an elbow strike", "strike", "elbow an imaginary opponent", "do an elbow strike",
                     "swing an elbow"),
    "sway": ("sway", "sway from side to side", "rock from side to side", "sway {poss} body",
             "move side to side to a rhythm"),
    "shimmy": ("shimmy", "shake {poss} shoulders", "do a shimmy", "shimmy the shoulders", "wiggle {poss} shoulders"),
    "bow": ("bow", "take a {amplitude:adj} bow", "bend forward in a {amplitude:adj} bow",
            "make a {amplitude:adj} bow", "give a {amplitude:adj} bow"),
    "cheer": ("cheer", "cheer with raised arms", "celebrate", "throw {poss} arms up in celebration",
              "pump {poss} fists in the air"),
    "salute": ("salute", "give a salute", "make a military salute",
               "raise {side:obj|a hand} to the forehead in salute", "salute smartly"),
    "jump": ("jump", "leap", "do a {amplitude:adj} jump {direction}", "spring {direction}",
             "take a {amplitude:adj} leap {direction}"),
    "throw": ("throw", "throw a ball", "make a throwing motion", "toss something", "hurl an object"),
    "dribble": ("dribble", "dribble a ball", "bounce a basketball", "dribble a basketball",
                "bounce a ball on the floor"),
    "swing_bat": ("swing a bat", "swing a baseball bat", "take a swing with a bat", "swing an imaginary bat",
                  "hit an imaginary ball with a bat"),
    "shoot_basketball": ("shoot a basketball", "take a jump shot", "shoot a ball toward a hoop",
                         "throw a basketball at the hoop", "make a basketball shot"),
    "wave": ("wave", "wave hello", "wave goodbye", "wave {side:obj|a hand}", "give a friendly wave"),
    "clap": ("clap", "clap {poss} hands", "applaud", "clap hands together", "give a round of applause"),
    "point": ("point", "point {direction}", "point at something {direction}", "point a finger {direction}",
              "gesture {direction} with a pointed finger"),
    "raise_arms": ("raise {side:obj|the arms}", "lift {side:obj|the arms}", "put {side:obj|the arms} up",
                   "raise {side:obj|the arms} overhead", "stretch {side:obj|the arms} upward"),
    "reach_up": ("reach up", "reach upward", "reach for something overhead", "stretch up to reach something",
                 "extend {side:obj|a hand} upward"),
    "pick_up": ("pick something up", "pick up an object", "bend down to pick something up",
                "lift an object from the ground", "grab something off the floor"),
    "look_around": ("look around", "glance around", "look from side to side", "turn {poss} head to look around",
                    "scan the surroundings"),
    "shrug": ("shrug", "shrug {poss} shoulders", "give a shrug", "lift {poss} shoulders in a shrug",
              "raise {poss} shoulders"),
    "nod": ("nod", "nod {poss} head", "give a nod", "nod in agreement", "bob {poss} head up and down"),
    "scratch_head": ("scratch {poss} head", "scratch the head", "rub {poss} head", "scratch {poss} head in confusion",
                     "^reach up and ^scratch {poss} head"),
    "stand": ("stand still", "stand in place", "stay still", "remain standing", "stand idle"),
}  # fmt: skip

# Body part named by a "side" modifier, per action (default: hand). The first is the most natural.
_LIMBS: dict[str, tuple[str, ...]] = {
    "hop": ("foot", "leg"), "lunge": ("leg",), "kick": ("leg", "foot"), "side_kick": ("leg", "foot"),
    "punch": ("fist", "hand", "arm"), "uppercut": ("fist", "arm"), "block": ("arm", "forearm"),
    "elbow_strike": ("elbow", "arm"), "arm_circles": ("arm",), "throw": ("arm", "hand"), "raise_arms": ("arm",),
}  # fmt: skip

# ---------------------------------------------------------------------------------------------------------------
# Data: modifier phrases, keyed by "kind" or "kind:variant" then by value. {limb}, {limbs}, {poss} are filled in.
# ---------------------------------------------------------------------------------------------------------------
_MODIFIER_PHRASES: dict[str, dict[object, tuple[str, ...]]] = {
    "speed": {
        "slow": ("slowly", "at a slow pace", "unhurriedly", "at a leisurely pace"),
        "fast": ("quickly", "fast", "at a fast pace", "rapidly", "briskly"),
    },
    "direction": {
        "forward": ("forward", "forwards", "ahead"),
        "backward": ("backward", "backwards", "in reverse"),
        "left": ("to the left", "leftward", "toward the left"),
        "right": ("to the right", "rightward", "toward the right"),
    },
    "turn": {
        90: ("and ^turn left", "and ^turn 90 degrees to the left", "and ^make a left turn",
             "with a quarter turn to the left"),
        -90: ("and ^turn right", "and ^turn 90 degrees to the right", "and ^make a right turn",
              "with a quarter turn to the right"),
        180: ("and ^turn around", "and ^turn 180 degrees to the left", "and ^make a U-turn to the left",
              "with a half turn to the left"),
        -180: ("and ^turn around", "and ^turn 180 degrees to the right", "and ^make a U-turn to the right",
               "with a half turn to the right"),
    },
    "turn:bare": {
        90: ("left", "to the left", "90 degrees to the left", "leftward by 90 degrees"),
        -90: ("right", "to the right", "90 degrees to the right", "rightward by 90 degrees"),
        180: ("around", "all the way around", "180 degrees to the left", "around to the left"),
        -180: ("around", "all the way around", "180 degrees to the right", "around to the right"),
    },
    "side": {
        "left": ("with the left {limb}", "using the left {limb}", "with {poss} left {limb}"),
        "right": ("with the right {limb}", "using the right {limb}", "with {poss} right {limb}"),
        "both": ("with both {limbs}", "using both {limbs}"),
    },
    "side:obj": {
        "left": ("the left {limb}", "{poss} left {limb}"),
        "right": ("the right {limb}", "{poss} right {limb}"),
        "both": ("both {limbs}", "both of {poss} {limbs}"),
    },
    "side:on": {
        "left": ("on the left {limb}", "on {poss} left {limb}"),
        "right": ("on the right {limb}", "on {poss} right {limb}"),
        "both": ("on both {limbs}",),
    },
    "side:dir": {
        "left": ("to the left", "toward the left side", "to {poss} left"),
        "right": ("to the right", "toward the right side", "to {poss} right"),
        "both": ("to both sides", "to both sides in turn"),
    },
    "reps": {
        1: ("once", "one time", "1 time", "a single time"),
        2: ("twice", "two times", "2 times"),
        3: ("three times", "3 times"),
        4: ("four times", "4 times"),
    },
    "amplitude": {
        "small": ("slightly", "a little", "with small movements"),
        "big": ("with big movements", "widely", "with large movements"),
    },
    "amplitude:adj": {"small": ("small",), "big": ("big",)},
    "style": {
        "energetic": ("energetically", "with a lot of energy", "vigorously", "enthusiastically"),
        "tired": ("tiredly", "wearily", "in a tired way", "sluggishly"),
        "cautious": ("cautiously", "carefully", "warily", "with caution"),
    },
}  # fmt: skip

# Per-action replacements of the tables above, where the generic word would read oddly.
_ACTION_PHRASES: dict[tuple[str, str], dict[object, tuple[str, ...]]] = {
    ("squat", "amplitude"): {"small": ("slightly", "only a little"), "big": ("deeply", "all the way down deep")},
    ("squat", "amplitude:adj"): {"small": ("shallow", "small"), "big": ("deep",)},
    ("bow", "amplitude"): {"small": ("slightly", "a little"), "big": ("deeply", "low")},
    ("bow", "amplitude:adj"): {"small": ("slight", "small"), "big": ("deep", "low")},
    ("jump", "amplitude:adj"): {"small": ("small", "little"), "big": ("big", "high")},
    ("stretch", "amplitude"): {"small": ("gently", "slightly"), "big": ("fully", "deeply")},
    ("side_bend", "amplitude"): {"small": ("slightly", "gently"), "big": ("deeply", "far")},
    ("throw", "amplitude"): {"small": ("softly", "gently"), "big": ("hard", "powerfully")},
}

# Order in which modifiers without a slot are appended ("walks forward slowly three times and turns left").
_APPEND_ORDER = ("direction", "side", "amplitude", "speed", "style", "reps", "turn")

# ---------------------------------------------------------------------------------------------------------------
# Data: sentence shapes, composition connectors and layering patterns.
# ---------------------------------------------------------------------------------------------------------------
_SHAPES: dict[str, str] = {
    "shape.plain": "{S} {0:3sg}.",
    "shape.progressive": "{S} is {0:ing}.",
    "shape.fragment": "{0:ing}.",
    "shape.who": "{S} who {0:3sg}.",
    "shape.shows": "This motion shows {s} {0:ing}.",
    "shape.seen": "{S} can be seen {0:ing}.",
    "shape.we_see": "We see {s} {0:ing}.",
}

# Connector id -> templates for 2, 3 and 4 segments.
_CONNECTORS: dict[str, tuple[str, str, str]] = {
    "comp.then": ("{S} {0:3sg}, then {1:3sg}.", "{S} {0:3sg}, then {1:3sg}, then {2:3sg}.",
                  "{S} {0:3sg}, then {1:3sg}, then {2:3sg}, then {3:3sg}."),
    "comp.and_then": ("{S} {0:3sg} and then {1:3sg}.", "{S} {0:3sg}, {1:3sg} and then {2:3sg}.",
                      "{S} {0:3sg}, {1:3sg}, {2:3sg} and then {3:3sg}."),
    "comp.after_that": ("{S} {0:3sg}. After that, {p} {1:pro}.",
                        "{S} {0:3sg}. Next, {p} {1:pro}. After that, {p} {2:pro}.",
                        "{S} {0:3sg}. Next, {p} {1:pro}. Then {p} {2:pro}. Finally, {p} {3:pro}."),
    "comp.first_finally": ("First, {s} {0:3sg}, then {1:3sg}.", "First, {s} {0:3sg}, then {1:3sg} and finally {2:3sg}.",
                           "First, {s} {0:3sg}, then {1:3sg}, then {2:3sg} and finally {3:3sg}."),
    "comp.before": ("{S} {0:3sg} before {1:ing}.", "{S} {0:3sg} and {1:3sg} before {2:ing}.",
                    "{S} {0:3sg}, {1:3sg} and {2:3sg} before {3:ing}."),
    "comp.starts_by": ("{S} starts by {0:ing} and then {1:3sg}.",
                       "{S} starts by {0:ing}, then {1:3sg} and ends by {2:ing}.",
                       "{S} starts by {0:ing}, then {1:3sg}, then {2:3sg} and ends by {3:ing}."),
    "comp.is_ing": ("{S} is {0:ing}, then {1:ing}.", "{S} is {0:ing}, then {1:ing}, then {2:ing}.",
                    "{S} is {0:ing}, then {1:ing}, then {2:ing}, then {3:ing}."),
    "comp.fragment": ("{0:ing}, then {1:ing}.", "{0:ing}, {1:ing}, then {2:ing}.",
                      "{0:ing}, {1:ing}, {2:ing}, then {3:ing}."),
    "comp.after_ing": ("After {0:ing}, {s} {1:3sg}.", "After {0:ing}, {s} {1:3sg} and then {2:3sg}.",
                       "After {0:ing}, {s} {1:3sg}, {2:3sg} and then {3:3sg}."),
    "comp.once_done": ("{S} {0:3sg}. Once done, {p} {1:pro}.", "{S} {0:3sg}. Once done, {p} {1:pro} and then {2:pro}.",
                       "{S} {0:3sg}. Once done, {p} {1:pro}, {2:pro} and then {3:pro}."),
}  # fmt: skip

# Layering: {a:F} is the locomotion clause, {l:F} the layered action, F the form asked of the whole clause.
_LAYERS: dict[str, str] = {
    "layer.while": "{a:F} while {l:ing}",
    "layer.same_time": "{a:F} and {l:F} at the same time",
    "layer.while_also": "{a:F} while also {l:ing}",
    "layer.as": "{l:F} as {p} {a:pro}",
}

# Subjects with their pronoun; category-specific ones are added when a segment of that category is in the clip.
SUBJECTS: tuple[tuple[str, str], ...] = (
    ("a person", "they"), ("someone", "they"), ("the person", "they"), ("a man", "he"), ("the man", "he"),
    ("a woman", "she"), ("the woman", "she"), ("a figure", "they"), ("the character", "they"),
)  # fmt: skip
_CATEGORY_SUBJECTS = {"dance": ("the dancer", "they"), "martial_arts": ("the fighter", "they"),
                      "sports": ("the athlete", "they"), "fitness": ("the athlete", "they")}  # fmt: skip
_POSSESSIVE = {"he": "his", "she": "her", "they": "their"}

TEMPLATES: dict[str, str] = {
    **{f"act.{a}.{i}": t for a, ts in _PHRASES.items() for i, t in enumerate(ts)},
    **_SHAPES,
    **{k: v[0] for k, v in _CONNECTORS.items()},
    **_LAYERS,
}
"""Every template id -> its text (connectors show their 2-segment form)."""

# Held out from train/val/test (26 of 256 templates): two sentence shapes, two connectors, one layering pattern and
# one paraphrase of 21 actions spread over all categories.
HELDOUT_TEMPLATES: frozenset[str] = frozenset(
    ("shape.seen", "shape.we_see", "comp.after_ing", "comp.once_done", "layer.as")
    + tuple(
        f"act.{a}.4"
        for a in ("walk", "run", "march", "side_step", "spin", "jumping_jack", "squat", "toe_touch", "calf_raise",
                  "punch", "side_kick", "elbow_strike", "sway", "bow", "jump", "swing_bat", "wave", "point",
                  "pick_up", "nod", "stand")
    )
)  # fmt: skip


def is_heldout_phrasing(template_id: str) -> bool:
    """Whether `template_id` is reserved for zero-shot phrasing clips."""
    if template_id not in TEMPLATES:
        raise KeyError(f"unknown caption template {template_id!r}")
    return template_id in HELDOUT_TEMPLATES


# ---------------------------------------------------------------------------------------------------------------
# Morphology.
# ---------------------------------------------------------------------------------------------------------------
_IRREGULAR_3SG = {"do": "does", "go": "goes", "have": "has", "be": "is"}
_IRREGULAR_ING = {"be": "being", "see": "seeing", "tiptoe": "tiptoeing"}


def third_person(verb: str) -> str:
    """Third person singular present of a base-form verb: walk -> walks, do -> does, side-step -> side-steps."""
    head, _, last = verb.rpartition("-")
    prefix = head + "-" if head else ""
    if last in _IRREGULAR_3SG:
        return prefix + _IRREGULAR_3SG[last]
    if re.search(r"(s|sh|ch|x|z|o)$", last):
        return prefix + last + "es"
    if re.search(r"[^aeiou]y$", last):
        return prefix + last[:-1] + "ies"
    return prefix + last + "s"


def gerund(verb: str) -> str:
    """Present participle of a base-form verb: run -> running, wave -> waving, side-step -> side-stepping."""
    head, _, last = verb.rpartition("-")
    prefix = head + "-" if head else ""
    if last in _IRREGULAR_ING:
        return prefix + _IRREGULAR_ING[last]
    if last.endswith("ie"):
        return prefix + last[:-2] + "ying"
    if last.endswith("e") and not last.endswith(("ee", "oe", "ye")):
        return prefix + last[:-1] + "ing"
    # one-syllable consonant-vowel-consonant words double the final consonant ("qu" counts as a consonant)
    if re.fullmatch(r"[^aeiou]*[aeiou][^aeiouwxy]", last.replace("qu", "qw")):
        return prefix + last + last[-1] + "ing"
    return prefix + last + "ing"


_INFLECT = {"base": lambda v: v, "3sg": third_person, "ing": gerund}


# ---------------------------------------------------------------------------------------------------------------
# Rendering.
# ---------------------------------------------------------------------------------------------------------------
class _Chooser:
    """Random choices among template ids, honouring the held-out policy; records the ids it picked."""

    def __init__(self, rng: np.random.Generator, allow_heldout: bool, prefer_heldout: bool):
        self.rng, self.allow, self.prefer = rng, allow_heldout, prefer_heldout
        self.used: list[str] = []

    def one(self, options: Sequence):
        return options[int(self.rng.integers(len(options)))]

    def template(self, ids: Sequence[str], force: bool = False) -> str:
        """Pick an id; with prefer_heldout, held-out ids win always when `force` and half the time otherwise."""
        ids = [i for i in ids if self.allow or i not in HELDOUT_TEMPLATES]
        held = [i for i in ids if i in HELDOUT_TEMPLATES]
        if self.prefer and held and (force or self.rng.random() < 0.5):
            ids = held
        choice = self.one(ids)
        self.used.append(choice)
        return choice


_SLOT = re.compile(r"\{(\w+)(?::(\w+))?(?:\|([^}]*))?\}")


def _modifier_phrase(action: str, key: str, value, ctx: dict, ch: _Chooser) -> str:
    """One phrase naming modifier `value`, from the action-specific table if any, else the generic one."""
    table = _ACTION_PHRASES.get((action, key)) or _MODIFIER_PHRASES[key]
    limb = ch.one(_LIMBS.get(action, ("hand",)))
    limbs = "feet" if limb == "foot" else limb + "s"
    return ch.one(table[value]).replace("{limbs}", limbs).replace("{limb}", limb).replace("{poss}", ctx["poss"])


def _verb_phrase(action: str, modifiers: tuple, form: str, ctx: dict, ch: _Chooser) -> str:
    """An action's paraphrase with every modifier named, inflected to `form` (base, 3sg or ing)."""
    ids = [f"act.{action}.{i}" for i in range(len(_PHRASES[action]))]
    template = TEMPLATES[ch.template(ids)]
    if "^" not in template:
        template = "^" + template
    mods, used = dict(modifiers), set()

    def fill(m: re.Match) -> str:
        kind, variant, default = m.group(1), m.group(2), m.group(3) or ""
        if kind == "poss":
            return ctx["poss"]
        if kind not in mods:
            return default
        used.add(kind)
        return _modifier_phrase(action, f"{kind}:{variant}" if variant else kind, mods[kind], ctx, ch)

    text = _SLOT.sub(fill, template)
    kinds = [k for k in _APPEND_ORDER if k in mods and k not in used]
    extra = [_modifier_phrase(action, k, mods[k], ctx, ch) for k in kinds]
    if "speed" in kinds and "style" in kinds:  # two manner adverbs read better joined: "briskly and wearily"
        i = kinds.index("style")
        extra[i - 1 : i + 1] = [f"{extra[i - 1]} and {extra[i]}"]
    text = " ".join([text, *extra])
    return re.sub(r"\^([\w-]+)", lambda m: _INFLECT[form](m.group(1)), text)


def _clause(seg: Segment, form: str, ctx: dict, ch: _Chooser) -> str:
    """A segment as a verb phrase in `form` (base, 3sg, ing or pro), layering its upper-body action if any."""
    if form == "pro":
        form = "base" if ctx["p"] == "they" else "3sg"
    if seg.layer is None:
        return _verb_phrase(seg.action, seg.modifiers, form, ctx, ch)
    pattern = TEMPLATES[ch.template(sorted(_LAYERS))]
    parts = {"a": (seg.action, seg.modifiers), "l": (seg.layer, seg.layer_modifiers)}

    def fill(m: re.Match) -> str:
        if m.group(0) == "{p}":
            return ctx["p"]
        action, mods = parts[m.group(1)]
        f = {"F": form, "pro": "base" if ctx["p"] == "they" else "3sg"}.get(m.group(2), m.group(2))
        return _verb_phrase(action, mods, f, ctx, ch)

    return re.sub(r"\{(\w)(?::(\w+))?\}", fill, pattern)


def _sentence(template: str, segments: Sequence[Segment], ctx: dict, ch: _Chooser) -> str:
    """Fill a shape or connector template, then tidy spacing and capitalise each sentence."""

    def fill(m: re.Match) -> str:
        key, form = m.group(1), m.group(2)
        if form is None:
            return ctx[key]
        return _clause(segments[int(key)], form, ctx, ch)

    text = re.sub(r"\{(\w+)(?::(\w+))?\}", fill, template)
    text = re.sub(r"\s+", " ", text).replace(" ,", ",").replace(" .", ".").strip()
    return re.sub(r"(^|[.!?] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def _subject(plan: ClipPlan, ch: _Chooser) -> dict:
    cats = {ACTIONS[s.action].category for s in plan.segments}
    options = SUBJECTS + tuple(_CATEGORY_SUBJECTS[c] for c in sorted(cats) if c in _CATEGORY_SUBJECTS)
    s, p = ch.one(options)
    return {"s": s, "S": s[0].upper() + s[1:], "p": p, "poss": _POSSESSIVE[p]}


def _caption(plan: ClipPlan, segments: Sequence[Segment], ch: _Chooser) -> tuple[str, tuple[str, ...]]:
    """One caption of `segments` (a whole clip or one segment) and the template ids it used."""
    ch.used = []
    ctx = _subject(plan, ch)
    if len(segments) == 1:
        template = _SHAPES[ch.template(sorted(_SHAPES), force=True)]
    else:
        template = _CONNECTORS[ch.template(sorted(_CONNECTORS), force=True)][len(segments) - 2]
    return _sentence(template, segments, ctx, ch), tuple(ch.used)


def _normalised(text: str) -> str:
    """Caption text with subjects and pronouns replaced, to compare wordings."""
    words = sorted({s for s, _ in SUBJECTS} | {s for s, _ in _CATEGORY_SUBJECTS.values()}, key=len, reverse=True)
    pattern = r"\b(" + "|".join(words + ["he", "she", "they", "his", "her", "their"]) + r")\b"
    return re.sub(pattern, "X", text.lower())


def captions_for(plan: ClipPlan, rng: np.random.Generator, n: int = 3, allow_heldout: bool = False,
                 per_segment: bool = True) -> list[Caption]:  # fmt: skip
    """Captions of a clip plan: `n` differently worded ones for the whole clip, then one per segment.

    Args:
        plan: the clip; 1 to 4 segments.
        rng: the only source of randomness; the same plan and rng state give the same captions.
        n: number of whole-clip captions (spanning 0 to plan.duration seconds).
        allow_heldout: whether held-out phrasings may be used; required when plan.holdout contains "phrasing",
            in which case every caption uses at least one held-out template.
        per_segment: for multi-segment clips, also return one caption per segment with that segment's span.

    Returns:
        The whole-clip captions, then the per-segment ones in segment order.
    """
    if not 1 <= len(plan.segments) <= 4:
        raise ValueError(f"clip {plan.index} has {len(plan.segments)} segments; captions support 1 to 4")
    prefer = "phrasing" in plan.holdout
    if prefer and not allow_heldout:
        raise ValueError(f"clip {plan.index} holds out phrasing: call captions_for with allow_heldout=True")
    ch = _Chooser(rng, allow_heldout, prefer)
    out: list[Caption] = []
    seen: set[str] = set()
    for _ in range(n):
        for _attempt in range(20):  # wordings must differ beyond the subject; give up on tiny template spaces
            text, ids = _caption(plan, plan.segments, ch)
            if _normalised(text) not in seen:
                break
        seen.add(_normalised(text))
        out.append(Caption(text, 0.0, float(plan.duration), ids))
    if per_segment and len(plan.segments) > 1:
        for seg in plan.segments:
            text, ids = _caption(plan, (seg,), ch)
            out.append(Caption(text, float(seg.start), float(seg.end), ids))
    return out
