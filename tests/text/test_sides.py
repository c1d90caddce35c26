"""Side words swapped for a motion's mirror image."""

import pytest

from motionmill.text.sides import mirror_text, names_a_side


@pytest.mark.parametrize(
    ("text", "mirrored"),
    [
        ("A man turns left, then waves with his right hand.", "A man turns right, then waves with his left hand."),
        ("Left foot forward; RIGHT arm up", "Right foot forward; LEFT arm up"),
        ("steps leftward and rotates rightwards", "steps rightward and rotates leftwards"),
        ("spins clockwise, then counter-clockwise", "spins counterclockwise, then clockwise"),
        ("turns anticlockwise", "turns clockwise"),
    ],
)
def test_side_words_are_swapped_keeping_case(text, mirrored):
    assert mirror_text(text) == mirrored
    assert names_a_side(text)


def test_left_right_swap_is_its_own_inverse():
    text = "After jumping, she hops on her left leg to the right, leftward then rightwards."
    assert mirror_text(mirror_text(text)) == text
    assert mirror_text(text) != text


@pytest.mark.parametrize("text", ["A person walks forward and jumps twice.", "copyright rightly lefty", ""])
def test_text_without_side_words_is_unchanged(text):
    assert mirror_text(text) == text
    assert not names_a_side(text)
