"""Captions with one repetition count or turn angle changed."""

import re

import pytest

from motionmill.text.details import change_detail


@pytest.mark.parametrize(
    ("text", "choices"),
    [
        ("A man jumps twice.", {"A man jumps once.", "A man jumps three times."}),
        ("claps 3 times", {"claps 2 times", "claps 4 times"}),
        ("punches a single time", {"punches twice"}),
        ("jumps once", {"jumps twice"}),
        ("turns 90 degrees to the left", {"turns 180 degrees to the left"}),
        ("Turns 180 degrees", {"Turns 90 degrees"}),
        ("jogs with a half turn to the right", {"jogs with a quarter turn to the right"}),
    ],
)
def test_one_detail_changes_in_the_same_style(text, choices):
    assert change_detail(text) in choices
    assert change_detail(text) == change_detail(text)  # the same caption always gets the same variant


@pytest.mark.parametrize("text", ["A person walks forward.", "Once done, she waves.", "claps at once", "turns left"])
def test_captions_without_a_count_or_angle_have_no_variant(text):
    assert change_detail(text) is None


def test_exactly_one_number_changes_in_a_caption_with_several():
    text = "First, a woman jumps 2 times, then claps 4 times and turns 90 degrees."
    changed = change_detail(text)
    numbers = re.findall(r"\d+", text), re.findall(r"\d+", changed)
    assert sum(a != b for a, b in zip(*numbers, strict=True)) == 1
