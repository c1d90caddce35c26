"""The prompts report in a real headless browser: offline page, players that play on view, and the rating form
storing ratings through `motionmill eval serve`'s server into SQLite.

Playwright drives Debian's `chromium` binary (no browser download); without either the tests skip with the reason.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from browser_factory import local_page
from motion_factory import random_motion
from motionmill.export.report import PromptEntry, write_prompts_report
from motionmill.serve.ratings import DB_FILE, RatingStore, serving

PROMPTS = {
    "000_walk": "a person walks forward",
    "001_jump": 'a person </script> jumps & "waves"',
    "002_turn": "a person turns around",
}


def write_report(folder) -> None:
    entries = [PromptEntry(pid, text, random_motion(i, frames=60)[1], metrics={"foot_skating": 0.1}, model="tiny")
               for i, (pid, text) in enumerate(PROMPTS.items())]  # fmt: skip
    write_prompts_report(entries, folder, "Prompts")


@pytest.fixture
def browser_page():
    """(page, attempted non-local requests) in headless chromium; every such request is aborted."""
    with local_page() as page:
        yield page


@pytest.fixture
def server(tmp_path):
    write_report(tmp_path)
    with serving(tmp_path, port=0) as srv:
        yield srv


def player_state(page, prompt_id: str) -> dict:
    return page.evaluate(
        "(id) => { const p = window.motionmillReport.player(id); return {frame: p.frame(), playing: p.playing()}; }",
        prompt_id,
    )


def rate(page, key: str, scores: tuple[int, int, int], rater: str, comment: str = "") -> None:
    form = page.locator(f"#{key}-form")
    for name, score in zip(("text_alignment", "naturalness", "plausibility"), scores, strict=True):
        form.locator(f"input[name={name}][value='{score}']").check()
    form.locator("textarea[name=comment]").fill(comment)
    form.locator("input[name=rater]").fill(rater)


def test_players_play_on_view_and_ratings_land_in_sqlite(browser_page, server, tmp_path):
    page, blocked = browser_page
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server.url)
    page.wait_for_function("window.motionmillReport && window.motionmillReport.promptIds.length === 3")

    # The player on screen plays: its frame index advances by itself.
    page.wait_for_function("window.motionmillReport.player('000_walk').frame() >= 5", timeout=10_000)
    assert player_state(page, "000_walk")["playing"]
    # One far below the fold waits; scrolled into view, it plays too.
    assert player_state(page, "002_turn") == {"frame": 0, "playing": False}
    page.locator("#p2").scroll_into_view_if_needed()
    page.wait_for_function("window.motionmillReport.player('002_turn').frame() >= 5", timeout=10_000)

    # A good rating through the form is stored with the prompt from the report's index.
    rate(page, "p0", (4, 5, 2), rater="ana", comment="feet slide a bit")
    page.locator("#p0-form button[type=submit]").click()
    status = page.locator("#p0-form .status")
    status.filter(has_text="Saved as rating #1").wait_for(timeout=10_000)
    rows = RatingStore(tmp_path / DB_FILE).rows()
    assert [{k: r[k] for k in ("id", "prompt_id", "prompt", "model", "rater", "comment")} for r in rows] == [
        {"id": 1, "prompt_id": "000_walk", "prompt": PROMPTS["000_walk"], "model": "tiny", "rater": "ana",
         "comment": "feet slide a bit"}
    ]  # fmt: skip
    assert (rows[0]["text_alignment"], rows[0]["naturalness"], rows[0]["plausibility"]) == (4, 5, 2)

    # A tampered rating of 7 is refused by the server with a visible message, and nothing is stored.
    rate(page, "p1", (3, 3, 3), rater="ana")
    page.locator("#p1-form input[name=text_alignment]:checked").evaluate("el => { el.value = '7'; }")
    page.locator("#p1-form button[type=submit]").click()
    error = page.locator("#p1-form .status.error")
    error.wait_for(timeout=10_000)
    assert error.is_visible()
    assert "text_alignment" in error.inner_text() and "1 to 5, got 7" in error.inner_text()
    assert len(RatingStore(tmp_path / DB_FILE).rows()) == 1

    # Nothing but the local server was asked for anything.
    assert blocked == []
    assert requests and all(urlsplit(u).hostname == "127.0.0.1" for u in requests), requests


def test_a_file_page_says_ratings_need_the_server(browser_page, tmp_path):
    page, blocked = browser_page
    write_report(tmp_path)
    page.goto((tmp_path / "report.html").as_uri())
    page.wait_for_function("window.motionmillReport !== undefined")
    notice = page.locator("#offline")
    assert notice.is_visible() and f"motionmill eval serve {tmp_path}" in notice.inner_text()
    rate(page, "p0", (5, 5, 5), rater="ana")
    page.locator("#p0-form button[type=submit]").click()
    assert "ratings need the server" in page.locator("#p0-form .status.error").inner_text()
    assert blocked == [] and not (tmp_path / DB_FILE).exists()
