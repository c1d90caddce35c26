"""Caption lines, caption files and split tables (data/sources/text_files.py)."""

import pytest

from motionmill.data.sources.text_files import (
    named_errors,
    parse_caption_line,
    read_captions,
    read_split_table,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("a person jumps#a/DET person/NOUN jump/VERB#1.5#3.0", {"text": "a person jumps", "start": 1.5, "end": 3.0}),
        ("a man walks#a/DET man/NOUN walk/VERB#0.0#0.0", {"text": "a man walks", "start": 0.0, "end": 0.0}),
        ("waves#wave/VERB#nan#nan", {"text": "waves", "start": 0.0, "end": 0.0}),  # HumanML3D reads NaN as 0
        ("spins#spin/VERB#2.0#1.0", {"text": "spins", "start": 0.0, "end": 0.0}),  # reversed span: whole clip
        ("a plain caption without fields", {"text": "a plain caption without fields", "start": 0.0, "end": 0.0}),
        ("step #2 of a dance#step/NOUN#0.5#1.0", {"text": "step #2 of a dance", "start": 0.5, "end": 1.0}),
        ("   ", None),
        ("#tokens#0.0#0.0", None),
    ],
)
def test_parse_caption_line(line, expected):
    assert parse_caption_line(line) == expected


def test_read_captions_missing_empty_and_blank_lines(tmp_path):
    assert read_captions(tmp_path / "absent.txt") == []
    (tmp_path / "empty.txt").write_text("")
    assert read_captions(tmp_path / "empty.txt") == []
    (tmp_path / "two.txt").write_text("a#x#0.0#0.0\n\n  \nb#y#1.0#2.5\n")
    assert [c["text"] for c in read_captions(tmp_path / "two.txt")] == ["a", "b"]


def test_read_captions_rejects_binary_naming_the_file(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match=r"bad\.txt.*not UTF-8"):
        read_captions(tmp_path / "bad.txt")


def test_split_table_prefers_train_for_duplicates(tmp_path):
    (tmp_path / "train.txt").write_text("a\nb\n")
    (tmp_path / "val.txt").write_text("c\n\nb\n")
    (tmp_path / "test.txt").write_text("d\n")
    assert read_split_table(str(tmp_path)) == {"a": "train", "b": "train", "c": "val", "d": "test"}


def test_named_errors_adds_the_path_once(tmp_path):
    with pytest.raises(ValueError, match=r"^.*f\.npy: broken: boom$"):
        with named_errors(tmp_path / "f.npy", "broken: "):
            raise OSError("boom")
    with pytest.raises(ValueError) as info:
        with named_errors("f.npy"):
            raise ValueError("f.npy: already named")
    assert str(info.value) == "f.npy: already named"
