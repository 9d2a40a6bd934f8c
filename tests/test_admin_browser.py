"""The admin UI in headless Chromium: sign in, search, edit two languages, try it, see the new
answer reach a chat customer, restore an older revision (SQLite only: the browser is the point).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.messages import InboundMessage
from tests.admin_support import PASSWORD, Running, running
from tests.conftest import make_settings
from tests.helpers import RecordingChannel

CHROMIUM = shutil.which("chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
NEW_EN = "Parcels arrive within 2 days (edited in the browser)."
NEW_SV = "Paketen kommer inom 2 dagar (ändrat i webbläsaren)."
QUESTION = "when does my parcel land"
SHOTS = os.environ.get("CRMBOT_KEEP_SCREENSHOTS")  # read before clean_env empties it

if CHROMIUM is None and not IN_CI:
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    assert CHROMIUM, "CI must have chromium (.ci/run installs it)"
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context()
            yield await context.new_page()
        finally:
            await browser.close()


async def _customer_asks(srv: Running, channel: RecordingChannel, event: str) -> str:
    """Ingest a chat message, process it, deliver; return the answer part of the first reply
    (the "did this help?" question rides on the same message)."""
    before = len(channel.sent)
    msg = InboundMessage(channel="test", event_id=event, user_id="cust", chat_id="cust",
                         text=QUESTION, kind="text", locale_hint="en")
    result = await srv.core.ingest(msg)
    await srv.core.processor.process_conversation(result.conversation_id)
    for _ in range(100):
        await srv.core.outbox.drain(1.0)
        if len(channel.sent) > before:
            break
        await asyncio.sleep(0.05)
    return channel.sent[before][1].text.split("\n\n")[0]


async def _sign_in(page: Any, landing: str) -> None:
    """Sign in as alice on the login page the admin UI redirected to, and wait until it sends
    the browser on to ``landing`` (where it wanted to go)."""
    await page.get_by_label("User name").fill("alice")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**" + landing)


async def test_admin_journey_in_a_real_browser(tmp_path: Path, page: Any) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/b.db")
    async with running(settings) as srv:
        channel = RecordingChannel()
        srv.core.registry.add(channel)
        old_answer = await _customer_asks(srv, channel, "e0")

        await page.goto(srv.url + "/admin/kb")
        assert "/admin/login" in page.url
        await _sign_in(page, "/admin/kb")

        await page.get_by_label("Search").fill("delivery")
        await page.get_by_role("button", name="Search").click()
        await page.get_by_role("link", name="delivery_time").click()
        await page.wait_for_url("**/admin/kb/e/delivery_time")

        phrasings = page.locator("#en-phrasings")
        await phrasings.fill(await phrasings.input_value() + "\n" + QUESTION)
        await page.locator("#en-answer").fill(NEW_EN)
        await page.get_by_role("tab", name="Svenska").click()
        assert await page.locator("#sv-answer").is_visible()
        assert not await page.locator("#en-answer").is_visible()
        await page.locator("#sv-answer").fill(NEW_SV)
        await page.get_by_role("button", name="Save all languages").click()
        await page.wait_for_selector("text=Saved (2 languages changed)")

        await page.get_by_label("A customer writes…").fill(QUESTION)
        await page.get_by_label("Language", exact=True).select_option("en")
        await page.get_by_role("button", name="Try", exact=True).click()
        output = page.locator("output.try-result")
        await output.get_by_text("Answers with").wait_for()
        assert "delivery_time" in await output.inner_text()
        assert NEW_EN in await output.inner_text()
        await page.screenshot(path=str(tmp_path / "editor.png"), full_page=True)

        assert await _customer_asks(srv, channel, "e1") == NEW_EN

        await page.goto(srv.url + "/admin/kb/e/delivery_time/en/history")
        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.get_by_role("button", name="Restore revision 1").click()
        await page.wait_for_selector("text=Restored revision 1")
        await page.screenshot(path=str(tmp_path / "history.png"), full_page=True)
        restored = await _customer_asks(srv, channel, "e2")
        assert restored != NEW_EN and restored == old_answer
        if SHOTS:
            for name in ("editor.png", "history.png"):
                shutil.copy(tmp_path / name, Path(SHOTS) / name)


async def test_the_report_keeps_the_navigation_and_fits_1280_pixels(
        tmp_path: Path, page: Any) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/r.db")
    async with running(settings) as srv:
        channel = RecordingChannel()
        srv.core.registry.add(channel)
        await _customer_asks(srv, channel, "e0")  # something in today's report
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.goto(srv.url + "/admin/kb")
        await _sign_in(page, "/admin/kb")
        await page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Reports").click()
        await page.wait_for_url("**/admin/reports")
        nav = page.get_by_role("navigation", name="Main")
        assert await nav.get_by_role("link", name="Knowledge base").is_visible()
        assert await nav.get_by_role("link", name="Reports").get_attribute(
            "aria-current") == "page"
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280, f"the report scrolls sideways: {width}px"


async def test_an_agent_answers_and_resolves_from_the_ticket_page(
        tmp_path: Path, page: Any) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    async with running(settings) as srv:
        channel = RecordingChannel()
        srv.core.registry.add(channel)
        msg = InboundMessage(channel="test", event_id="h1", user_id="cust", chat_id="cust",
                             text="/human", kind="command", display_name="Anna")
        result = await srv.core.ingest(msg)
        await srv.core.processor.process_conversation(result.conversation_id)
        await page.goto(srv.url + "/admin/tickets/1")
        await _sign_in(page, "/admin/tickets/1")  # back where the agent wanted to go

        await page.get_by_label("Reply to the customer").fill("Your parcel left today.")
        await page.get_by_role("button", name="Send reply").click()
        await page.wait_for_selector("text=Queued: reply")
        for _ in range(200):  # the staff event is processed in the background, then delivered
            await srv.core.outbox.drain(0.5)
            if any("Your parcel left today." in m.text for _, m in channel.sent):
                break
            await asyncio.sleep(0.05)
        assert any("Your parcel left today." in m.text for _, m in channel.sent)

        await page.get_by_role("link", name="Anna").click()
        await page.wait_for_url("**/admin/customers/*")
        timeline = page.locator("ol.transcript")
        await timeline.get_by_text("Your parcel left today.").wait_for()
        assert "/human" in await timeline.inner_text()

        await page.go_back()
        await page.get_by_role("button", name="Resolve").click()
        await page.wait_for_selector("text=Queued: resolve")
        for _ in range(200):
            await page.reload()
            if await page.locator(".badge.status-resolved").count():
                break
            await asyncio.sleep(0.1)
        assert await page.locator(".badge.status-resolved").count() == 1


async def test_an_admin_teaches_an_unanswered_question_and_the_bot_answers_it(
        tmp_path: Path, page: Any) -> None:
    """The customer's question lands on Unanswered with the closest entry filled in; one click
    adds it to that entry, and the same question is answered alone from then on."""
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/u.db")
    asked = "how many working days until the box is on my doorstep"
    async with running(settings) as srv:
        assert not srv.core.services.kb.match(asked, "en").confident
        async with srv.core.sessions.begin() as session:
            from storage import unanswered

            unanswered.record(session, None, asked, "en", "suggested", "delivery_time", 0.31)
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.goto(srv.url + "/admin/unanswered")
        await _sign_in(page, "/admin/unanswered")
        row = page.get_by_role("row").filter(has_text=asked)
        assert await row.get_by_label("Add as a phrasing of").input_value() == "delivery_time"
        await page.screenshot(path=str(tmp_path / "unanswered.png"), full_page=True)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1280, f"the list scrolls sideways: {width}px"
        await row.get_by_role("button", name="Add").click()
        await page.wait_for_selector("text=Added to delivery_time (en) as a phrasing.")
        assert await page.get_by_text(asked).count() == 0
        result = srv.core.services.kb.match(asked, "en")
        assert result.confident and result.best is not None
        assert result.best.entry_id == "delivery_time"
        if SHOTS:
            shutil.copy(tmp_path / "unanswered.png", Path(SHOTS) / "unanswered.png")
