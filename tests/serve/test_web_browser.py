"""The web page of `motionmill serve` in headless Chromium with no network: type a prompt, generate, the player
advances, the motion is listed in the session's history, and a GLB and a BVH download; every request the page makes
goes to the server itself.

Headless Chromium as `browser_factory.local_page` runs it; without it the test skips with the reason.
"""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="motionmill serve needs the [serve] extra")
pytest.importorskip("transformers", reason="the built-in text encoder needs the [text] extra")

from browser_factory import local_page  # noqa: E402
from motionmill.serve.api import ServeSettings, serving  # noqa: E402


@pytest.fixture
def browser_page():
    with local_page(accept_downloads=True) as page:
        yield page


def test_generate_play_and_download_from_the_page(browser_page, tmp_path):
    page, elsewhere = browser_page
    with serving(ServeSettings(port=0, store=str(tmp_path / "store"))) as url:
        page.goto(url + "/")
        page.fill("#prompt", "a person walks forward")
        page.fill("#seconds", "2")
        page.fill("#candidates", "1")
        page.click("#generate")
        page.wait_for_selector("#list li", timeout=60_000)
        assert "a person walks forward" in page.inner_text("#list li")
        page.wait_for_selector("#downloads button[data-format=glb]", timeout=30_000)
        player = page.frame_locator("#player").locator("canvas")
        player.wait_for(timeout=30_000)
        frame = page.frames[1]
        frame.wait_for_function("() => window.motionmill && window.motionmill.nFrames > 1", timeout=30_000)
        first = frame.evaluate("() => window.motionmill.frame()")
        frame.wait_for_function(f"() => window.motionmill.frame() !== {first}", timeout=10_000)  # it plays
        for name, magic in (("glb", b"glTF"), ("bvh", b"HIERARCHY")):
            with page.expect_download(timeout=30_000) as download:
                page.click(f"#downloads button[data-format='{name}']")
            path = tmp_path / f"motion.{name}"
            download.value.save_as(path)
            assert path.read_bytes().startswith(magic), name
        assert page.inner_text("#status") == ""
    assert elsewhere == []
