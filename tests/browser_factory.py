"""Headless Chromium for the browser tests: Playwright drives Debian's `chromium` binary (no browser download), and
every request that does not stay on this machine is aborted and recorded, so a page that needs the network fails.

Without Playwright or chromium the calling test skips with the reason.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest


def _local(url: str) -> bool:
    """Files, blobs, data and about: URLs, and anything on 127.0.0.1."""
    parts = urlsplit(url)
    return parts.scheme in ("file", "blob", "data", "about") or parts.hostname == "127.0.0.1"


@contextlib.contextmanager
def local_page(**page_options) -> Iterator[tuple[object, list[str]]]:
    """(page, URLs of the requests that tried to leave the machine) in a fresh headless browser."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("headless chromium is not installed (apt-get install chromium)")
    elsewhere: list[str] = []

    def route(route):
        if _local(route.request.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720}, **page_options)
            page.route("**/*", route)
            yield page, elsewhere
        finally:
            browser.close()
