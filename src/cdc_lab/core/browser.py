"""Debian's chromium, headless, driven by Playwright: the one way the lab's tests and bench open a browser."""

from __future__ import annotations

import shutil
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

# As root, headless, with nothing reaching outside the machine (chromium's background services would).
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--disable-sync",
    "--no-first-run",
]


class BrowserMissing(RuntimeError):
    """Debian's chromium is not installed; the message says how to get it."""


@contextmanager
def chromium() -> Generator[Any, None, None]:
    """A Playwright browser on Debian's chromium (a fresh profile each launch), closed afterwards."""
    executable = shutil.which("chromium")
    if executable is None:
        raise BrowserMissing("Debian's chromium is not installed (`make lab` installs it): apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=BROWSER_ARGS)
        try:
            yield browser
        finally:
            browser.close()
