"""The free-form evaluation set: new words, valid plans, scored like corpus clips."""

from __future__ import annotations

import re

import numpy as np
import pytest

from motionmill.eval.alignment import alignment_clips
from motionmill.eval.freeform import (
    FREEFORM_DEV_PROMPTS,
    FREEFORM_PROMPTS,
    SHARED_CORE,
    freeform_clips,
    freeform_items,
    parse_plan,
)
from motionmill.synth import captions as grammar
from motionmill.synth.corpus import plan_clip
from motionmill.synth.expectations import expected_predicates, score_motion

# Words that carry no content: articles, pronouns, prepositions, auxiliaries, conjunctions, sequencing words.
FUNCTION_WORDS = frozenset(
    "a an the this that these those he she they it him her them his hers their its himself herself themselves "
    "someone somebody some1 i you we me my your our and or but n so nor then next after afterwards later finally "
    "first second third lastly before once while as when until of to in on at by for with w from up down off over "
    "into onto out toward towards along about like than all just way is are was be been being has have had do does "
    "did done not no very quite bit a few little one's each both every who which what where also again there here "
    "eventually subsequently having followed finished to begin".split()
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _words(text: str) -> list[str]:
    return [part for word in re.findall(r"[a-z0-9']+(?:-[a-z0-9']+)*", text.lower()) for part in word.split("-")]


@pytest.fixture(scope="module")
def training_words() -> set[str]:
    """Every word (and stem) of the caption grammar's templates and of the captions of 8,000 train plans."""
    words = set()
    for text in list(grammar.TEMPLATES.values()) + [p for table in grammar._MODIFIER_PHRASES.values()
                                                    for phrases in table.values() for p in phrases]:  # fmt: skip
        words.update(_words(re.sub(r"[{}^|:]", " ", text)))
    words.update(w for subject, pronoun in grammar.SUBJECTS for w in _words(f"{subject} {pronoun}"))
    for index in range(8000):
        plan = plan_clip(0, index)
        if plan.split == "train":
            for caption in grammar.captions_for(plan, np.random.default_rng([0, index, 3])):
                words.update(_words(caption.text))
    return words | {_stem(w) for w in words}


def test_the_set_has_at_least_150_prompts_with_predicates():
    items = freeform_items()
    assert len(items) >= 150
    assert len({item["text"] for item in items}) == len(items)
    clips = freeform_clips()
    assert sum(bool(expected_predicates(c.plan)) for c in clips) >= 150


@pytest.mark.parametrize("path", [FREEFORM_PROMPTS, FREEFORM_DEV_PROMPTS], ids=["freeform", "freeform_dev"])
def test_content_words_outside_the_shared_core_never_occur_in_training_captions(training_words, path):
    seen = {}
    for item in freeform_items(path):
        for word in _words(item["text"]):
            if word in FUNCTION_WORDS or word in SHARED_CORE or word.isdigit():
                continue
            if word in training_words or _stem(word) in training_words:
                seen.setdefault(word, item["text"])
    assert not seen, f"free-form words found in training captions: {seen}"
    assert not (SHARED_CORE & {"walk", "run", "jump", "clap", "wave", "kick", "punch", "squat"})


def test_ground_truth_satisfies_its_own_predicates():
    clips = freeform_clips()
    scores = [score_motion(c.plan, c.joints, c.fps) for c in clips]
    accuracy = sum(s["satisfied"] for s in scores) / sum(s["total"] for s in scores)
    assert accuracy > 0.95
    assert freeform_clips(3)[0].joints.tobytes() == clips[0].joints.tobytes()  # reproducible


def test_bad_plans_are_rejected_with_the_reason():
    with pytest.raises(ValueError, match=r"item\[0\]: unknown action 'fly'"):
        parse_plan(["fly"], "item")
    with pytest.raises(ValueError, match="kick side must be one of"):
        parse_plan(["kick side=both"], "item")
    with pytest.raises(ValueError, match="takes no modifier 'turn=90'"):
        parse_plan(["jump turn=90"], "item")
    with pytest.raises(ValueError, match="carry a layered action"):
        parse_plan(["squat + clap"], "item")
    assert parse_plan(["walk direction=left turn=90 + clap reps=2"]) == [
        ("walk", (("direction", "left"), ("turn", 90)), "clap", (("reps", 2),))
    ]


def _content_words(path) -> set[str]:
    return {_stem(w) for item in freeform_items(path) for w in _words(item["text"])
            if w not in FUNCTION_WORDS and w not in SHARED_CORE and not w.isdigit()}  # fmt: skip


def test_the_development_set_is_apart_from_the_evaluation_set():
    """Tuning on the development prompts must not tune on the evaluation prompts' words."""
    dev = freeform_items(FREEFORM_DEV_PROMPTS)
    assert len(dev) >= 70
    assert not {item["text"] for item in dev} & {item["text"] for item in freeform_items()}
    shared = _content_words(FREEFORM_DEV_PROMPTS) & _content_words(FREEFORM_PROMPTS)
    assert len(shared) <= 8, f"development prompts share these words with the evaluation set: {sorted(shared)}"


def test_alignment_reads_either_set_by_split_name():
    dev = alignment_clips("freeform_dev", 5)
    assert [c.captions[0].text for c in dev] == [item["text"] for item in freeform_items(FREEFORM_DEV_PROMPTS)[:5]]
    assert alignment_clips("freeform", 2)[0].captions[0].text == freeform_items()[0]["text"]
    with pytest.raises(ValueError, match="unknown free-form set 'freeform_x'"):
        alignment_clips("freeform_x", 1)
