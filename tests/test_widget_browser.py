"""The widget in headless Chromium against the real app: the newcomer's path, end to end.

SQLite only (these tests are about the browser). Without a chromium binary they skip, except
under CI=true, where a missing browser is a failure. Playwright drives the Debian chromium
(``executable_path``); ``playwright install`` is never needed.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.messages import OutboundMessage
from storage import outbox
from storage.models import Conversation, Message, utcnow
from storage.models_feedback import Feedback
from tests.browser_support import browser_page, require_browser
from tests.conftest import ROOT, make_settings
from tests.webapp import Served, eventually, serve

pytestmark = pytest.mark.browser

# The docs' screenshot is refreshed only on request: a test run must not change tracked files.
SCREENSHOT = ROOT / "docs" / "img" / "widget.png"
REFRESH_SCREENSHOT = os.environ.get("CRMBOT_TEST_SCREENSHOTS") == "1"
_require_browser = require_browser


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    _require_browser()  # skip (or fail under CI) before paying for an app start
    async with serve(make_settings(f"sqlite+aiosqlite:///{tmp_path}/crmbot.db")) as s:
        yield s


@pytest.fixture
async def page(served: Served) -> AsyncIterator[Any]:
    async with browser_page() as page:
        yield page


async def _ask(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Your message")
    await box.fill(text)
    await box.press("Enter")


async def _agent_reply(served: Served, text: str) -> None:
    """What the Slack relay does: a transcript row and an outbox item in one transaction."""
    async with served.core.sessions.begin() as s:
        conv = await s.scalar(select(Conversation).where(Conversation.channel == "web"))
        assert conv is not None
        s.add(Message(conversation_id=conv.id, direction="out", sender="agent", text=text,
                      created_at=utcnow()))
        outbox.enqueue(s, OutboundMessage("web", conv.chat_id, text), order_key=f"conv:{conv.id}",
                       conversation_id=conv.id)
    served.core.outbox.wake()


async def test_newcomer_path_in_the_demo_shop(served: Served, page: Any) -> None:
    from playwright.async_api import expect

    errors: list[str] = []  # e.g. "Failed to load resource" for the browser's /favicon.ico
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(served.base + "/")
    await expect(page.get_by_role("heading", name="Example Shop")).to_be_visible()
    await page.wait_for_load_state("networkidle")
    assert errors == []
    launcher = page.get_by_role("button", name="Open the support chat")
    await launcher.click()
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    dialog = page.get_by_role("dialog", name="Example Shop support")
    await expect(dialog).to_be_visible()
    log = page.get_by_role("log")
    greeting = log.locator(".msg.greeting")  # an empty chat says hello (shown, not stored)
    await expect(greeting).to_contain_text("Ask me about your order")

    await _ask(page, "where is my order?")
    await expect(log).to_contain_text("shop.example/orders")
    await expect(log).to_contain_text("Did this answer help?")

    await _ask(page, "package")
    await expect(log).to_contain_text("Did you mean one of these?")
    suggestion = log.locator(".msg").last.locator("button").first
    label = await suggestion.text_content()
    assert label and label != "Talk to a person"
    await suggestion.click()
    await expect(log.locator(".msg-customer").last).to_contain_text(label)
    answers = log.locator(".msg-bot:not(.greeting) .text")
    await expect(answers).to_have_count(3)  # answer, suggestions, answer

    await _ask(page, '<img src=x onerror="document.title=1"> <b>bold</b>')
    await expect(log.locator(".msg-customer").last).to_contain_text("<b>bold</b>")
    assert await log.locator("img, b").count() == 0, "customer text is never HTML"

    await page.reload()
    await page.get_by_role("button", name="Open the support chat").click()
    await expect(log).to_contain_text("where is my order?")
    await expect(log).to_contain_text("shop.example/orders")
    assert await log.locator(".msg-customer", has_text="where is my order?").count() == 1

    await _ask(page, "/human")
    await expect(log).to_contain_text("case #")
    await _agent_reply(served, "Hi, this is Anna from support. Your parcel left today.")
    agent = log.locator(".msg-agent")
    await expect(agent).to_contain_text("Anna from support")
    await expect(agent).to_contain_text("Support agent")
    if REFRESH_SCREENSHOT:
        await page.screenshot(path=str(SCREENSHOT))

    await page.get_by_role("button", name="Rate us").click()
    await page.get_by_title("4 of 5 stars").click()
    await page.get_by_label("Tell us more (optional)").fill("Quick help, thanks!")
    await page.get_by_role("button", name="Send feedback").click()
    await expect(page.get_by_text("Thank you! Your feedback was sent.")).to_be_visible()

    async def stored() -> bool:
        async with served.core.sessions() as s:
            row = await s.scalar(select(Feedback))
        return row is not None and row.rating == 4 and row.text == "Quick help, thanks!"

    await eventually(stored)

    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(launcher).to_be_focused()


async def test_mobile_layout_and_feedback_page(served: Served, page: Any) -> None:
    from playwright.async_api import expect

    await page.set_viewport_size({"width": 390, "height": 740})
    await page.goto(served.base + "/feedback")
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    box = await dialog.bounding_box()
    assert box is not None and box["width"] >= 389 and box["height"] >= 739, "full screen"
    await page.get_by_role("button", name="Send feedback").click()
    await expect(page.get_by_text("Please choose a rating")).to_be_visible()
    await page.get_by_title("1 of 5 stars").click()
    await page.get_by_label("Tell us more (optional)").fill("The parcel was damaged.")
    await page.get_by_role("button", name="Send feedback").click()
    await expect(page.get_by_text("Thank you! Your feedback was sent.")).to_be_visible()
    await page.get_by_role("button", name="Back to the chat").click()
    await expect(page.get_by_role("log")).to_contain_text("case #")
    # Full screen, the chat bubble must not sit on the Send button (a click would hit the bubble)
    await page.get_by_role("textbox", name="Your message").fill("It was the blue mug.")
    await page.get_by_role("button", name="Send", exact=True).click(timeout=3000)
    mine = page.get_by_role("log").locator(".msg-customer").last
    await expect(mine).to_contain_text("It was the blue mug.")  # staff own the case now
    await expect(mine).not_to_have_class("msg msg-customer pending")  # stored (acked)


async def test_news_toggle_opts_in_and_follows_a_typed_stop(served: Served, page: Any) -> None:
    from playwright.async_api import expect

    from storage.consent import consent_of_identity

    await page.goto(served.base + "/")
    await page.get_by_role("button", name="Open the support chat").click()
    log = page.get_by_role("log")
    news = page.get_by_role("button", name="News")
    await expect(news).to_have_attribute("aria-pressed", "false")
    await news.click()
    await expect(news).to_have_attribute("aria-pressed", "true")
    await expect(log.locator(".msg-customer").last).to_contain_text("Send me news, please")
    await expect(log).to_contain_text("You're subscribed to our announcements")

    async def consent() -> bool:
        async with served.core.sessions() as s:
            chat_id = await s.scalar(select(Conversation.chat_id)
                                     .where(Conversation.channel == "web"))
        return await consent_of_identity(served.core.sessions, "web", str(chat_id))

    await eventually(consent)
    await page.reload()
    await page.get_by_role("button", name="Open the support chat").click()
    await expect(news).to_have_attribute("aria-pressed", "true")  # from the session frame

    await _ask(page, "stop")
    await expect(log).to_contain_text("You won't get any more announcements from us")
    await expect(news).to_have_attribute("aria-pressed", "false")  # a "news" frame
    assert not await consent()
