"""Headless Chromium (the Debian package) driven by Playwright, for the pages' browser tests.

Without a chromium binary or the playwright package the tests skip, except under CI=true,
where a missing browser is a failure (.ci/run installs both).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import IN_CI

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 15_000


def require_browser() -> Any:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is required under CI (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        if IN_CI:
            pytest.fail("the playwright package is required under CI (pip install -e '.[dev]')")
        pytest.skip("playwright not installed")
    return async_playwright


@contextlib.asynccontextmanager
async def browser_page(*, javascript: bool = True, locale: str = "en-GB",
                       width: int = 1000) -> AsyncIterator[Any]:
    async_playwright = require_browser()
    os.environ.pop("PLAYWRIGHT_BROWSERS_PATH", None)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = await browser.new_context(viewport={"width": width, "height": 720},
                                            locale=locale, java_script_enabled=javascript)
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        try:
            yield page
        finally:
            await browser.close()
