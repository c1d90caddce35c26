"""Tests for the self-contained HTML viewer: no network references, exact embedded data, safe titles, working JS."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from motion_factory import random_motion
from motionmill.export.html import html_document, write_html
from motionmill.motion.skeleton import SMPL22

NASTY_TITLE = 'walks </script><script>alert("x")</script> <b>bold</b> & "quoted" <!-- 走る'


def motion(frames: int = 24) -> np.ndarray:
    return random_motion(3, frames=frames)[1]


def embedded(doc: str) -> dict:
    blocks = re.findall(r'<script type="application/json" id="motion-data">(.*?)</script>', doc, flags=re.S)
    assert len(blocks) == 1
    return json.loads(blocks[0])


def test_page_needs_no_network():
    doc = html_document(motion(), fps=30, title="walk")
    lowered = doc.lower()
    assert "http://" not in lowered and "https://" not in lowered
    assert "<link" not in lowered and "@import" not in lowered and "url(" not in lowered
    assert not re.search(r"\b(?:src|href)\s*=", lowered)  # no resource of any kind is loaded
    assert not re.search(r"\b(?:fetch|xmlhttprequest|websocket|eventsource|importscripts)\b", lowered)
    assert lowered.count("<script") == 2  # the data block and the inline viewer, nothing else
    assert "<canvas" in lowered


def test_embedded_positions_decode_to_the_joints_within_a_millimetre():
    joints = motion(30)
    data = embedded(html_document(joints, fps=20, title="t"))
    decoded = np.asarray(data["positions"], dtype=np.float64).reshape(data["n_frames"], data["n_joints"], 3)
    decoded /= data["scale"]
    assert decoded.shape == joints.shape
    assert np.abs(decoded - joints).max() <= 0.0005 + 1e-9  # rounded to the nearest millimetre
    assert all(isinstance(v, int) for v in data["positions"][:50])  # compact integers, not floats
    assert data["fps"] == 20 and data["title"] == "t"
    assert data["parents"] == list(SMPL22.parents)
    assert data["chains"] == [list(c) for c in SMPL22.chains]
    assert sorted(data["left"] + data["right"]) == sorted(j for pair in SMPL22.mirror_pairs for j in pair)


def test_title_is_escaped_everywhere():
    doc = html_document(motion(4), fps=30, title=NASTY_TITLE)
    assert doc.count("</script>") == 2  # only our own two closing tags
    assert doc.count("<script") == 2
    assert "<b>" not in doc and "<!--" not in doc
    page_title = re.search(r"<title>(.*?)</title>", doc, flags=re.S).group(1)
    assert html.unescape(page_title) == NASTY_TITLE
    assert embedded(doc)["title"] == NASTY_TITLE


def test_viewer_exposes_its_controls_and_test_api():
    doc = html_document(motion(4), fps=30)
    for needle in ('id="play"', 'id="scrub"', 'id="speed"', 'id="loop"', "window.motionmill", "nFrames", "seek"):
        assert needle in doc
    assert 'max="3"' in doc  # the slider spans the frames


def test_write_html_is_atomic_and_writes_the_document(tmp_path):
    joints = motion(8)
    out = write_html(joints, tmp_path / "viewer.html", fps=24, title="jump")
    assert out.read_text(encoding="utf-8") == html_document(joints, fps=24, title="jump")
    assert [p.name for p in tmp_path.iterdir()] == ["viewer.html"]


@pytest.mark.parametrize(
    "joints, fps, problem",
    [
        (np.full((3, 22, 3), np.inf), 30, "infinite"),
        (np.zeros((3, 22, 2)), 30, "shape"),
        (np.zeros((3, 24, 3)), 30, "24 joints"),
        (np.zeros((3, 22, 3)), -1, "fps"),
    ],
)
def test_bad_input_raises_value_error(tmp_path, joints, fps, problem):
    with pytest.raises(ValueError, match=problem):
        write_html(joints, tmp_path / "bad.html", fps=fps)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless chromium is not installed")
def test_page_runs_in_headless_chromium(tmp_path):
    doc = html_document(motion(30), fps=30, title=NASTY_TITLE)
    probe = (
        "<script>const m = window.motionmill; m.pause(); m.seek(6);"
        'document.body.dataset.check = [m.nFrames, m.frame(), m.playing()].join(",");</script></body>'
    )
    page = tmp_path / "page.html"
    page.write_text(doc.replace("</body>", probe), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    flags += ["--disable-component-update", "--no-first-run", "--virtual-time-budget=500", "--dump-dom"]
    dom = subprocess.run(["chromium", *flags, page.as_uri()], capture_output=True, text=True, timeout=60).stdout
    assert 'data-check="30,6,false"' in dom  # the API works: 30 frames, seek moved to frame 6, paused
    assert '<span id="time">0.20 / 1.00 s</span>' in dom  # the viewer drew frame 6 and filled the time label
