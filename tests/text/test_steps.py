"""Splitting a prompt into the steps it lists in order."""

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from motionmill.synth import captions as grammar
from motionmill.synth.captions import HELDOUT_TEMPLATES
from motionmill.synth.corpus import plan_clip
from motionmill.text import steps
from motionmill.text.steps import split_steps


@pytest.mark.parametrize("text,steps", [
    ("A man walks forward, then turns left. After that, he sits down.",
     ["A man walks forward", "turns left", "he sits down"]),
    ("First, a figure squats two times, then squats and finally lifts an object from the ground.",
     ["a figure squats two times", "squats", "lifts an object from the ground"]),
    ("The person starts by stretching, then jumps and ends by bowing.", ["The person starts by stretching", "jumps",
                                                                         "bowing"]),
    ("After taking a leap, the man shrugs 3 times", ["taking a leap", "the man shrugs 3 times"]),
    ("someone waves before jumping", ["someone waves", "jumping"]),
    ("A man walks. Next, he jogs! Then he runs; finally, he stops.", ["A man walks", "he jogs", "he runs", "he stops"]),
    ("She jogs and then turns around followed by a bow", ["She jogs", "turns around", "a bow"]),
    ("The person jumps, claps and then bows.", ["The person jumps", "claps", "bows"]),  # a listed sequence
    ("Lifting a box, throwing a ball, then skipping.", ["Lifting a box", "throwing a ball", "skipping"]),
    ("After jumping, she waves, claps and then bows", ["jumping", "she waves", "claps", "bows"]),
    ("a man kicks before side-stepping", ["a man kicks", "side-stepping"]),
])  # fmt: skip
def test_sequences_split_in_order_without_their_connectives(text, steps):
    assert split_steps(text) == steps


@pytest.mark.parametrize("text", [
    "a person walks while waving",  # simultaneous: one step
    "a man jumps and claps at the same time",  # plain "and" never splits
    "a person stands before a door",  # "before" + a noun is a place, not an order
    "someone strengthens the arms",  # "then" inside a word
    "a person is running as he waves",
    "a person, tired and slow, walks to the left",  # commas without a sequencing word list no steps
])  # fmt: skip
def test_single_actions_stay_whole(text):
    assert split_steps(text) == [text]


def test_a_prompt_of_connectives_only_is_kept_as_it_is():
    assert split_steps("  Then.  ") == ["Then."]
    assert split_steps("...") == ["..."]


def _phrase(text: str) -> str:
    return " ".join(re.findall(r"[a-z']+", text.lower()))


def _heldout_phrasings() -> set[str]:
    """Literal word sequences (two words or more, slots removed) of the held-out caption templates that no other
    template has: "once done", "can be seen", the held-out verb paraphrases..."""
    forms = {tid: [text] for tid, text in grammar.TEMPLATES.items()}
    forms.update({tid: list(texts) for tid, texts in grammar._CONNECTORS.items()})
    visible = " | ".join(_phrase(t) for tid, texts in forms.items() if tid not in HELDOUT_TEMPLATES for t in texts)
    out = set()
    for tid in HELDOUT_TEMPLATES:
        for text in forms[tid]:
            for fragment in re.split(r"\{[^}]*\}|\^", text):
                phrase = _phrase(fragment)
                if len(phrase.split()) >= 2 and f" {phrase} " not in f" {visible} ":
                    out.add(phrase)
    return out


def test_no_heldout_phrasing_in_the_code_or_in_training_captions():
    phrasings = _heldout_phrasings()
    assert {"once done", "can be seen", "we see"} <= phrasings
    source = Path(steps.__file__).resolve().parents[1]
    own = {source / "synth" / "captions.py"}  # the grammar that defines them
    for path in sorted(set(source.rglob("*.py")) - own):
        text = f" {_phrase(path.read_text())} "
        found = [p for p in phrasings if f" {p} " in text]
        assert not found, f"{path.relative_to(source)} holds held-out phrasing {found}"
    for index in range(4000):
        plan = plan_clip(0, index)
        if plan.split != "train":
            continue
        for caption in grammar.captions_for(plan, np.random.default_rng([0, index, 3])):
            text = f" {_phrase(caption.text)} "
            assert not [p for p in phrasings if f" {p} " in text], caption.text


def test_heldaside_multistep_sentences_split_right():
    """100 free-form multi-step sentences (tests/text/steps_heldaside.yaml) never used to tune the splitter."""
    items = yaml.safe_load((Path(__file__).parent / "steps_heldaside.yaml").read_text())
    assert len(items) == 100
    right = 0
    for item in items:
        got = split_steps(item["text"])
        same_count = len(got) == len(item["steps"])
        right += same_count and all(k.lower() in g.lower() for k, g in zip(item["steps"], got, strict=True))
    assert right >= 95, f"{right} of 100 split right"


@pytest.mark.parametrize("text,steps", [
    ("he jumps and later sits down", ["he jumps", "sits down"]),
    ("she crouches, and afterwards stands up", ["she crouches", "stands up"]),
    ("the guy spins around. subsequently he raises his hands", ["the guy spins around", "he raises his hands"]),
    ("he trots forward, after which he bows", ["he trots forward", "he bows"]),
    ("first he squats, second he jumps, third he waves", ["he squats", "he jumps", "he waves"]),
    ("he kicks once he has finished punching", ["punching", "he kicks"]),
    ("before he sits, he waves", ["he waves", "he sits"]),
    ("He sits. Before that, he waves.", ["he waves", "He sits"]),
    ("He sits, but waves first", ["waves", "He sits"]),
    ("he jumps and claps afterwards", ["he jumps", "claps"]),
    ("A woman hops on one leg; when she is done, she takes a bow", ["A woman hops on one leg", "she takes a bow"]),
    ("Upon landing, she spins", ["landing", "she spins"]),
    ("guy does a pushup n then jumps", ["guy does a pushup", "jumps"]),
])  # fmt: skip
def test_general_english_sequencing(text, steps):
    assert split_steps(text) == steps


def test_simultaneity_never_splits():
    assert split_steps("He walks forward. At the same time, he claps.") == [
        "He walks forward. At the same time, he claps."
    ]
    assert split_steps("she waves as she walks, then sits") == ["she waves as she walks", "sits"]
