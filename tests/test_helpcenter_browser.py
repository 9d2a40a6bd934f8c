"""The help center in headless Chromium: it works with JavaScript off and by keyboard alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.browser_support import browser_page, require_browser
from tests.conftest import make_settings
from tests.webapp import Served, serve

pytestmark = pytest.mark.browser


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    require_browser()
    async with serve(make_settings(f"sqlite+aiosqlite:///{tmp_path}/crmbot.db")) as s:
        yield s


async def test_search_read_and_vote_by_keyboard_with_javascript_off(served: Served) -> None:
    from playwright.async_api import expect

    async with browser_page(javascript=False, locale="sv-SE") as page:
        await page.goto(served.base + "/help/")
        assert page.url.endswith("/help/sv/")
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name="Hoppa till innehållet")).to_be_focused()
        await page.keyboard.press("Enter")  # the skip link jumps past the header
        assert page.url.endswith("#main")
        await page.get_by_role("searchbox", name="Sök i hjälpcentret").focus()
        await page.keyboard.type("vad kostar frakten")
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/help/sv/search?q=*")
        await page.get_by_role("main").get_by_role("link", name="Vad kostar frakten?").focus()
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/help/sv/delivery-cost")
        assert await page.get_by_role("heading", level=1).inner_text() == "Vad kostar frakten?"

        await page.get_by_role("textbox", name="Kommentar (valfritt)").focus()
        await page.keyboard.type("Tydligt!")
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("button", name="Ja")).to_be_focused()
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/help/sv/delivery-cost?voted=1*")
        assert await page.get_by_role("status").inner_text() == "Tack för din återkoppling!"


async def test_the_chat_opens_with_the_article_as_context(served: Served) -> None:
    from playwright.async_api import expect

    async with browser_page() as page:
        await page.goto(served.base + "/help/en/returns")
        await page.get_by_role("button", name="Open the support chat").click()
        box = page.get_by_role("textbox", name="Your message")
        await expect(box).to_have_value("I read “How do I return an item?” and still need help: ")
        await expect(box).to_be_focused()
