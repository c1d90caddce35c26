"""Splitting a prompt into the steps it lists in order."""

import pytest

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
