"""Tests of the caption grammar: coverage of paraphrases, modifiers named, order, held-out phrasings, grammar."""

from __future__ import annotations

import re

import numpy as np
import pytest

from motionmill.synth.captions import (
    HELDOUT_TEMPLATES,
    SUBJECTS,
    TEMPLATES,
    captions_for,
    gerund,
    is_heldout_phrasing,
    third_person,
)
from motionmill.synth.catalog import ACTIONS, MODIFIER_VALUES
from motionmill.synth.plan import ClipPlan, Segment

# Words that must appear (any one of them) in a caption naming a modifier value.
KEYWORDS: dict[tuple[str, object], tuple[str, ...]] = {
    ("speed", "slow"): ("slow", "slowly", "unhurriedly", "leisurely"),
    ("speed", "fast"): ("quick", "quickly", "fast", "rapidly", "briskly"),
    ("direction", "forward"): ("forward", "forwards", "ahead"),
    ("direction", "backward"): ("backward", "backwards", "reverse"),
    ("direction", "left"): ("left", "leftward"),
    ("direction", "right"): ("right", "rightward"),
    ("turn", 90): ("left", "leftward"),
    ("turn", -90): ("right", "rightward"),
    ("turn", 180): ("around", "180 degrees", "half turn", "u-turn"),
    ("turn", -180): ("around", "180 degrees", "half turn", "u-turn"),
    ("side", "left"): ("left",),
    ("side", "right"): ("right",),
    ("side", "both"): ("both",),
    ("reps", 1): ("once", "one time", "1 time", "single time"),
    ("reps", 2): ("twice", "two times", "2 times"),
    ("reps", 3): ("three times", "3 times"),
    ("reps", 4): ("four times", "4 times"),
    ("amplitude", "small"): ("small", "slight", "slightly", "shallow", "little", "gently", "softly"),
    ("amplitude", "big"): ("big", "large", "deep", "deeply", "high", "widely", "fully", "hard", "powerfully", "low",
                           "far"),
    ("style", "energetic"): ("energetically", "energy", "vigorously", "enthusiastically"),
    ("style", "tired"): ("tired", "tiredly", "wearily", "sluggishly"),
    ("style", "cautious"): ("cautiously", "carefully", "warily", "caution"),
}  # fmt: skip

SUBJECT_WORDS = sorted({s for s, _ in SUBJECTS} | {"the dancer", "the fighter", "the athlete"}, key=len, reverse=True)
UPPER = [a for a, s in ACTIONS.items() if s.body == "upper"]


def random_modifiers(rng: np.random.Generator, action: str, p: float = 0.6) -> tuple:
    kinds = [k for k in ACTIONS[action].modifiers if rng.random() < p]
    return tuple((k, MODIFIER_VALUES[k][rng.integers(len(MODIFIER_VALUES[k]))]) for k in kinds)


def random_plan(rng: np.random.Generator, n_segments: int, holdout: tuple = (), layers: bool = True) -> ClipPlan:
    segments, t = [], 0.0
    for _ in range(n_segments):
        action = list(ACTIONS)[rng.integers(len(ACTIONS))]
        layer, layer_mods = None, ()
        if layers and ACTIONS[action].body == "locomotion" and rng.random() < 0.4:
            layer = UPPER[rng.integers(len(UPPER))]
            layer_mods = random_modifiers(rng, layer)
        segments.append(Segment(action, t, t + 2.0, random_modifiers(rng, action), layer, layer_mods))
        t += 2.0
    return ClipPlan(0, 0, "zeroshot" if holdout else "train", tuple(segments), holdout=holdout)


def normalise(text: str) -> str:
    pattern = r"\b(" + "|".join(SUBJECT_WORDS + ["he", "she", "they", "his", "her", "their"]) + r")\b"
    return re.sub(pattern, "X", text.lower())


def contains_any(text: str, words: tuple[str, ...]) -> bool:
    return any(re.search(r"\b" + re.escape(w) + r"\b", text.lower()) for w in words)


@pytest.mark.parametrize(
    "verb, s, ing",
    [("walk", "walks", "walking"), ("run", "runs", "running"), ("jog", "jogs", "jogging"), ("do", "does", "doing"),
     ("side-step", "side-steps", "side-stepping"), ("wave", "waves", "waving"), ("squat", "squats", "squatting"),
     ("punch", "punches", "punching"), ("shimmy", "shimmies", "shimmying"), ("sway", "sways", "swaying"),
     ("tiptoe", "tiptoes", "tiptoeing"), ("kick", "kicks", "kicking"), ("go", "goes", "going"),
     ("bow", "bows", "bowing"), ("rise", "rises", "rising"), ("stretch", "stretches", "stretching")],
)  # fmt: skip
def test_morphology(verb, s, ing):
    assert third_person(verb) == s and gerund(verb) == ing


def test_every_action_has_five_phrasings():
    rng = np.random.default_rng(0)
    for name in ACTIONS:
        plan = ClipPlan(0, 0, "train", (Segment(name, 0.0, 2.0),))
        caps = [c for _ in range(60) for c in captions_for(plan, rng, n=1)]
        assert len({normalise(c.text) for c in caps}) >= 5, name
        assert len({t for c in caps for t in c.templates if t.startswith("act.")}) >= 4, name


def test_every_modifier_is_named_in_every_caption():
    rng = np.random.default_rng(1)
    for name in ACTIONS:
        for _ in range(12):
            mods = random_modifiers(rng, name, p=0.7)
            plan = ClipPlan(0, 0, "train", (Segment(name, 0.0, 2.0, mods),))
            for cap in captions_for(plan, rng, n=3):
                for kind, value in mods:
                    assert contains_any(cap.text, KEYWORDS[kind, value]), (kind, value, cap.text)


def test_layered_and_composed_captions_name_all_modifiers():
    rng = np.random.default_rng(2)
    for _ in range(150):
        plan = random_plan(rng, int(rng.integers(1, 5)))
        caps = captions_for(plan, rng, n=3)
        for cap in caps[:3]:
            for seg in plan.segments:
                for kind, value in seg.modifiers + seg.layer_modifiers:
                    assert contains_any(cap.text, KEYWORDS[kind, value]), (kind, value, cap.text)


def _stem(template_id: str) -> str:
    """A word of the paraphrase that survives inflection: the start of its longest literal word."""
    literal = re.sub(r"\{[^}]*\}", " ", TEMPLATES[template_id]).replace("^", "")
    word = max(literal.split(), key=len).lower()
    return word[:4] if len(word) >= 5 else word[:3]


def test_compositions_mention_every_segment_in_order():
    rng = np.random.default_rng(3)
    for _ in range(200):
        plan = random_plan(rng, int(rng.integers(2, 5)), layers=False)
        caps = captions_for(plan, rng, n=3)
        assert len(caps) == 3 + len(plan.segments)
        for cap in caps[:3]:
            acts = [t for t in cap.templates if t.startswith("act.")]
            assert [t.split(".")[1] for t in acts] == [s.action for s in plan.segments]
            pos, text = -1, cap.text.lower()
            for tid in acts:
                pos = text.find(_stem(tid), pos + 1)
                assert pos >= 0, (tid, cap.text)
        for cap, seg in zip(caps[3:], plan.segments, strict=True):
            assert (cap.start, cap.end) == (seg.start, seg.end)
            assert [t.split(".")[1] for t in cap.templates if t.startswith("act.")] == [seg.action]


def test_whole_clip_spans_and_layer_named():
    rng = np.random.default_rng(4)
    seg = Segment("walk", 0.0, 3.5, (("direction", "forward"),), "wave", (("side", "right"),))
    plan = ClipPlan(0, 0, "train", (seg,))
    for cap in captions_for(plan, rng, n=5):
        assert (cap.start, cap.end) == (0.0, 3.5)
        acts = {t.split(".")[1] for t in cap.templates if t.startswith("act.")}
        assert acts == {"walk", "wave"} and any(t.startswith("layer.") for t in cap.templates)


def test_heldout_templates_never_used_outside_zeroshot():
    rng = np.random.default_rng(5)
    for _ in range(400):
        plan = random_plan(rng, int(rng.integers(1, 5)))
        for cap in captions_for(plan, rng, n=3):
            assert not set(cap.templates) & HELDOUT_TEMPLATES, cap


def test_heldout_templates_preferred_for_phrasing_clips():
    rng = np.random.default_rng(6)
    used = set()
    for _ in range(300):
        plan = random_plan(rng, int(rng.integers(1, 5)), holdout=("phrasing",))
        for cap in captions_for(plan, rng, n=3, allow_heldout=True):
            assert set(cap.templates) & HELDOUT_TEMPLATES, cap
            used |= set(cap.templates) & HELDOUT_TEMPLATES
    assert len(used) >= 0.8 * len(HELDOUT_TEMPLATES)
    with pytest.raises(ValueError, match="allow_heldout"):
        captions_for(random_plan(rng, 1, holdout=("phrasing",)), rng)


def test_heldout_set_is_about_ten_percent_and_spread():
    assert HELDOUT_TEMPLATES <= set(TEMPLATES)
    assert 0.08 <= len(HELDOUT_TEMPLATES) / len(TEMPLATES) <= 0.12
    assert {t.split(".")[0] for t in HELDOUT_TEMPLATES} == {"act", "shape", "comp", "layer"}
    assert is_heldout_phrasing("comp.after_ing") and not is_heldout_phrasing("comp.then")
    with pytest.raises(KeyError):
        is_heldout_phrasing("nope")


def test_captions_of_a_clip_differ_beyond_subject():
    rng = np.random.default_rng(7)
    for _ in range(200):
        plan = random_plan(rng, int(rng.integers(1, 5)))
        texts = [normalise(c.text) for c in captions_for(plan, rng, n=3)[:3]]
        assert len(set(texts)) == 3, texts


def test_grammar_spot_checks():
    rng = np.random.default_rng(8)
    base_verbs = {t.replace("^", "").split()[0] for k, t in TEMPLATES.items() if k.startswith("act.")}
    third = {third_person(v) for v in base_verbs}
    after_subject = re.compile(r"\b(" + "|".join(SUBJECT_WORDS) + r"|he|she) ([\w-]+)", re.IGNORECASE)
    for _ in range(300):
        for cap in captions_for(random_plan(rng, int(rng.integers(1, 5))), rng, n=3):
            text = cap.text
            assert text[0].isupper() and text.endswith(".") and "  " not in text and " ," not in text, text
            assert ".." not in text and not re.search(r"\. [a-z]", text), text
            for _, word in after_subject.findall(text):
                assert word.endswith("s") or word.endswith("ing") or word in ("is", "can", "who"), text
            for word in re.findall(r"\bthey (\w+)", text):
                assert word not in third, text
            assert not re.search(r"\ba person (walk|run|jump|do) ", text), text


def test_deterministic():
    plans = [random_plan(np.random.default_rng(9), k) for k in (1, 2, 3, 4)]
    a = [captions_for(p, np.random.default_rng(10), n=3) for p in plans]
    b = [captions_for(p, np.random.default_rng(10), n=3) for p in plans]
    assert a == b
