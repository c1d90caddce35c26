"""Tests for the prompts report page: self-contained, prompts escaped, one player and form per prompt, index.json."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

from motion_factory import random_motion
from motionmill.export.report import INDEX_FILE, PromptEntry, read_index, write_prompts_report

NASTY_PROMPT = 'a person </script><script>alert("x")</script> <b>jumps</b> & "waves" <!-- 走る'


def entries() -> list[PromptEntry]:
    return [
        PromptEntry("000_walk", "a person walks forward", random_motion(0, frames=20)[1], fps=20,
                    metrics={"foot_skating": 0.12, "similarity": float("nan")}, reference={"foot_skating": 0.05},
                    model="tiny"),
        PromptEntry("001_nasty", NASTY_PROMPT, random_motion(1, frames=12)[1]),
    ]  # fmt: skip


def test_page_needs_no_network(tmp_path):
    doc = write_prompts_report(entries(), tmp_path, "Prompts").read_text(encoding="utf-8")
    lowered = doc.lower()
    assert "http://" not in lowered and "https://" not in lowered and "//cdn" not in lowered
    assert "<link" not in lowered and "@import" not in lowered and "url(" not in lowered
    assert "@font-face" not in lowered
    assert not re.search(r"\b(?:src|href|action)\s*=", lowered)  # no resource is loaded, no form leaves the page
    assert not re.search(r"\b(?:xmlhttprequest|websocket|eventsource|importscripts)\b", lowered)
    assert re.findall(r"fetch\(([^,)]*)", doc) == ['"ratings"']  # the one request: relative, to the page's origin


def test_prompts_and_ids_are_escaped(tmp_path):
    doc = write_prompts_report(entries(), tmp_path, "<i>Prompts</i>").read_text(encoding="utf-8")
    # Only our own scripts: the code and one data block per prompt; nothing in a prompt opens or closes a tag.
    assert doc.count("<script") == doc.count("</script>") == 3
    assert "<b>" not in doc and "<!--" not in doc and "<i>" not in doc
    texts = re.findall(r'<p class="text">(.*?)</p>', doc, flags=re.S)
    assert [html.unescape(t) for t in texts] == ["a person walks forward", NASTY_PROMPT]
    assert html.unescape(re.search(r"<title>(.*?)</title>", doc).group(1)) == "<i>Prompts</i>"


def test_each_prompt_has_a_player_metrics_and_a_rating_form(tmp_path):
    doc = write_prompts_report(entries(), tmp_path, "Prompts").read_text(encoding="utf-8")
    for key, frames in (("p0", 20), ("p1", 12)):
        data = json.loads(re.search(rf'id="{key}-motion-data">(.*?)</script>', doc, flags=re.S).group(1))
        assert data["n_frames"] == frames
        assert f'id="{key}-form"' in doc and f'id="{key}-view"' in doc
    for name in ("text_alignment", "naturalness", "plausibility"):
        assert doc.count(f'name="{name}" value="5"') == 2
    assert doc.count('name="rater"') == doc.count('name="comment"') == 2
    assert "<th>reference</th>" in doc and "<td>foot_skating</td><td>0.12</td><td>0.05</td>" in doc
    assert "<td>similarity</td><td>&ndash;</td>" in doc  # NaN shows as a dash
    assert "motionmill eval serve" in doc  # what a file:// reader is told to run


def test_index_lists_the_prompts(tmp_path):
    write_prompts_report([e.__dict__ for e in entries()], tmp_path, "Prompts")  # mappings work too
    index = read_index(tmp_path)
    assert index["title"] == "Prompts"
    assert [p["prompt_id"] for p in index["prompts"]] == ["000_walk", "001_nasty"]
    first = index["prompts"][0]
    assert first["prompt"] == "a person walks forward" and first["model"] == "tiny"
    assert first["frames"] == 20 and first["fps"] == 20
    assert first["metrics"] == {"foot_skating": 0.12, "similarity": None}  # strict JSON: no NaN
    assert json.loads((tmp_path / INDEX_FILE).read_text(encoding="utf-8"))["prompts"][1]["prompt"] == NASTY_PROMPT


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"prompt_id": "000_walk"}, "appears twice"),
        ({"prompt_id": " "}, "non-empty"),
        ({"prompt_id": "x" * 201}, "at most 200"),
        ({"joints": np.zeros((4, 24, 3))}, "24 joints"),
    ],
)
def test_bad_entries_raise_value_error(tmp_path, change, problem):
    bad = entries()
    bad[1] = PromptEntry(**{**bad[1].__dict__, **change})
    with pytest.raises(ValueError, match=problem):
        write_prompts_report(bad, tmp_path, "Prompts")
    assert list(tmp_path.iterdir()) == []


def test_no_entries_and_missing_index_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="at least one prompt"):
        write_prompts_report([], tmp_path, "Prompts")
    with pytest.raises(FileNotFoundError, match="not a prompts report folder"):
        read_index(tmp_path)
