"""Telegram end to end: the real PTB client against the fake Bot API on 127.0.0.1.

The whole app runs (build_app: core, processor, outbox, the Telegram channel) on an aiohttp
runner; the fake plays Telegram. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.app import build_app
from bot.channels.telegram import RUNTIME, TelegramRuntime
from bot.compose import build_core
from bot.core import Core
from storage.models import ChannelIdentity, InboundEvent, OutboxItem
from tests.conftest import make_settings
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram

SECRET = "s3cret_Token-42"


@dataclass
class Harness:
    fake: FakeTelegram
    core: Core
    runtime: TelegramRuntime
    url: str

    async def events(self, *where: Any) -> list[InboundEvent]:
        async with self.core.sessions() as s:
            return list((await s.scalars(select(InboundEvent).where(*where)
                                         .order_by(InboundEvent.id))).all())


async def wait_for(cond: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.02)


def _telegram_app(core: Core) -> web.Application:
    """The app as build_app makes it, minus the other channels (their tests cover them)."""
    from bot import app as app_module
    from bot.channels.telegram import setup

    app = web.Application()
    app[app_module.CORE] = core
    app.cleanup_ctx.append(app_module._core_ctx)
    setup(app, core)
    return app


async def _harness(db_url: str, **overrides: Any) -> AsyncIterator[Harness]:
    fake = FakeTelegram()
    await fake.start()
    settings = make_settings(db_url, telegram_token=fake.token, telegram_api_url=fake.url,
                             **overrides)
    core = build_core(settings)
    app = _telegram_app(core)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    runtime = app[RUNTIME]
    await asyncio.wait_for(runtime.ready.wait(), 10)
    if runtime.poller is not None:  # shorter long polls keep shutdown quick
        runtime.poller._timeout = 1
    port = runner.addresses[0][1]
    try:
        yield Harness(fake, core, runtime, f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
        await fake.close()


@pytest.fixture
async def tg(db_url: str) -> AsyncIterator[Harness]:
    async for h in _harness(db_url):
        yield h


@pytest.fixture
async def tg_webhook(db_url: str) -> AsyncIterator[Harness]:
    async for h in _harness(db_url, telegram_mode="webhook", telegram_webhook_secret=SECRET,
                            public_url="https://bot.shop.example"):
        yield h


async def test_start_command_is_answered_in_html(tg: Harness) -> None:
    tg.fake.push_message(101, "/start", first_name="Ann")
    await wait_for(lambda: tg.fake.texts(101), what="welcome")
    assert tg.fake.texts(101)[0].startswith("Hi, Ann!")
    send = next(p for m, p in tg.fake.calls if m == "sendMessage")
    assert send["parse_mode"] == "HTML" and send["chat_id"] == 101
    [event] = await tg.events()
    assert event.event_id == "1" and event.payload["kind"] == "command"
    assert tg.runtime.poller is not None and tg.runtime.poller.offset == 2


@pytest.mark.parametrize(("lang", "question", "needle"), [
    ("en", "where is my order?", "You can follow your order"),
    ("sv", "var är min beställning?", "Du kan följa din beställning"),
    ("lv", "kur ir mans pasūtījums?", "Savu pasūtījumu varat izsekot"),
])
async def test_faq_answered_in_three_languages(
    tg: Harness, lang: str, question: str, needle: str
) -> None:
    tg.fake.push_message(202, question, language_code=lang)
    await wait_for(lambda: tg.fake.texts(202), what="answer with feedback buttons")
    [answer] = tg.fake.sent(202)
    prompt = answer
    assert needle in answer["text"]
    assert "https://shop.example/orders" in answer["text"]
    buttons = prompt["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == ["fb:where_is_my_order:y",
                                                     "fb:where_is_my_order:n"]


async def test_suggestion_button_is_acknowledged_and_answered(tg: Harness) -> None:
    tg.fake.push_message(303, "hello?")
    await wait_for(lambda: tg.fake.sent(303), what="fallback")
    tg.fake.push_message(303, "where is my order?")
    await wait_for(lambda: len(tg.fake.sent(303)) >= 2, what="answer")
    prompt = tg.fake.sent(303)[-1]
    update = tg.fake.push_callback(303, prompt["message_id"], "faq:delivery_time")
    await wait_for(lambda: "answerCallbackQuery" in tg.fake.methods(), what="callback answer")
    await wait_for(lambda: any("business days" in t for t in tg.fake.texts(303)), what="reply")
    acks = [p for m, p in tg.fake.calls if m == "answerCallbackQuery"]
    assert acks == [{"callback_query_id": update["callback_query"]["id"]}]
    [event] = await tg.events(InboundEvent.event_id == str(update["update_id"]))
    assert event.payload["kind"] == "callback"
    assert event.payload["callback_data"] == "faq:delivery_time"


async def test_429_is_honoured_and_nothing_lost(
    tg: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # retry_after=2 lies beyond the outbox's first backoff (0.5-1 s): a 429 that is not read
    # as a RetryAfter (as when PTB's deprecation warning broke it) retries too early.
    tg.fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
    tg.fake.push_message(404, "/help")
    await wait_for(lambda: tg.fake.texts(404), what="retried reply")
    sends = [(t, p) for (m, p), t in zip(tg.fake.calls, _times(tg.fake), strict=True)
             if m == "sendMessage"]
    assert len(sends) == 2 and len(tg.fake.texts(404)) == 1
    assert sends[1][0] - sends[0][0] >= 1.95, "retry_after=2 must be waited out"
    failures = [r.getMessage() for r in caplog.records if r.name == "crmbot.outbox"]
    assert failures and all("RetryAfter" in f for f in failures), failures
    await tg.core.outbox.drain(timeout=20)
    async with tg.core.sessions() as s:
        item = await s.scalar(select(OutboxItem))
        assert item is not None and item.status == "sent" and item.attempts == 2


def _times(fake: FakeTelegram) -> list[float]:
    return fake.call_times  # type: ignore[attr-defined, no-any-return]


async def test_403_marks_identity_unreachable_without_retries(tg: Harness) -> None:
    tg.fake.blocked.add(505)
    tg.fake.push_message(505, "where is my order?")
    await wait_for(lambda: "sendMessage" in tg.fake.methods(), what="send attempt")
    await tg.core.outbox.drain(timeout=20)
    await asyncio.sleep(0.3)
    attempts = [p for m, p in tg.fake.calls if m == "sendMessage"]
    assert len(attempts) == 1, "a blocked user is never retried"
    async with tg.core.sessions() as s:
        identity = await s.scalar(select(ChannelIdentity).where(ChannelIdentity.external_id
                                                                == "505"))
        statuses = (await s.scalars(select(OutboxItem.status))).all()
    assert identity is not None and "blocked" in (identity.unreachable_reason or "")
    assert set(statuses) == {"failed"}


async def test_400_is_failed_not_retried(tg: Harness, caplog: pytest.LogCaptureFixture) -> None:
    tg.fake.fail_next("sendMessage", 400, "Bad Request: something odd")
    tg.fake.push_message(606, "/help")
    await wait_for(lambda: "sendMessage" in tg.fake.methods(), what="send attempt")
    await tg.core.outbox.drain(timeout=20)
    assert tg.fake.methods().count("sendMessage") == 1
    async with tg.core.sessions() as s:
        item = await s.scalar(select(OutboxItem))
    assert item is not None and item.status == "failed"
    assert "something odd" in (item.last_error or "").lower()
    assert any("payload" in r.getMessage() and "'chat_id': '606'" in r.getMessage()
               for r in caplog.records if r.name == "crmbot.telegram")


async def test_server_errors_are_retried(tg: Harness) -> None:
    tg.fake.fail_next("sendMessage", 502, "Bad Gateway")
    tg.fake.push_message(707, "/help")
    await wait_for(lambda: tg.fake.texts(707), what="reply after 502")
    assert tg.fake.methods().count("sendMessage") == 2 and len(tg.fake.texts(707)) == 1


async def test_redelivered_update_is_stored_and_answered_once(tg: Harness) -> None:
    update = tg.fake.push_message(808, "/help")
    await wait_for(lambda: tg.fake.texts(808), what="reply")
    tg.fake.updates.append(update)  # Telegram re-sends after a crash before confirmation
    tg.fake._new_update.set()
    await wait_for(lambda: not tg.fake.updates, what="redelivery consumed")
    await tg.core.outbox.drain(timeout=20)
    assert len(await tg.events()) == 1
    assert len(tg.fake.texts(808)) == 1


async def test_photo_is_stored_with_attachment_and_answered_politely(tg: Harness) -> None:
    tg.fake.push_photo(909, caption="my parcel is broken")
    tg.fake.push_document(909)
    await wait_for(lambda: len(tg.fake.texts(909)) >= 2, what="polite replies")
    assert all("only read text" in t for t in tg.fake.texts(909)[:2])
    photo, doc = await tg.events()
    assert photo.payload["kind"] == "unsupported"
    assert photo.payload["attachments"][0]["file_id"] == "AgAD-large"
    assert photo.payload["attachments"][0]["type"] == "photo"
    assert doc.payload["attachments"][0] == {
        "type": "document", "file_id": "BQAD-doc", "file_unique_id": "d1",
        "mime_type": "application/pdf", "file_size": 4242, "name": "invoice.pdf"}


async def test_edited_message_is_stored_as_edited(tg: Harness) -> None:
    tg.fake.push_edit(111, 5, "where is my order?")
    await wait_for(lambda: tg.fake.texts(111), what="answer to edit")
    [event] = await tg.events()
    assert event.payload["kind"] == "edited"
    assert "shop.example/orders" in tg.fake.texts(111)[0]


async def test_group_answers_only_when_addressed(tg: Harness) -> None:
    group = -100777
    tg.fake.push_message(group, "where is my order?", user_id=1, chat_type="supergroup")
    tg.fake.push_message(group, "/help", user_id=2, chat_type="supergroup")
    tg.fake.push_message(group, f"@{BOT_USERNAME} where is my order?", user_id=3,
                         chat_type="supergroup")
    await wait_for(lambda: tg.fake.texts(group), what="answer to mention")
    tg.fake.push_message(group, f"/help@{BOT_USERNAME}", user_id=4, chat_type="supergroup")
    tg.fake.push_message(group, "thanks, and shipping cost?", user_id=5, chat_type="supergroup",
                         reply_to_bot=True)
    await wait_for(lambda: not tg.fake.updates, what="all consumed")
    await tg.core.outbox.drain(timeout=10)
    events = await tg.events()
    assert [e.payload["text"] for e in events] == [
        "where is my order?", f"/help@{BOT_USERNAME}", "thanks, and shipping cost?"]
    assert {e.payload["user_id"] for e in events} == {f"group:{group}"}
    assert all(e.payload["is_group"] for e in events)
    assert "shop.example/orders" in tg.fake.texts(group)[0]


def test_build_app_wires_the_channel_by_settings(db_url: str) -> None:
    polling = make_settings(db_url, telegram_token="1:x")
    webhook = make_settings(db_url, telegram_token="1:x", telegram_mode="webhook",
                            telegram_webhook_secret=SECRET)
    off = make_settings(db_url)
    routes = {name: {r.resource.canonical for r in build_app(s, build_core(s)).router.routes()
                     if r.resource is not None}
              for name, s in (("polling", polling), ("webhook", webhook), ("off", off))}
    assert "/telegram/webhook" in routes["webhook"]
    assert "/telegram/webhook" not in routes["polling"] | routes["off"]


@pytest.mark.parametrize("secret", ["has space", "x" * 257, "ümlaut"])
def test_bad_webhook_secret_is_a_clear_config_error(db_url: str, secret: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="CRMBOT_TELEGRAM_WEBHOOK_SECRET"):
        make_settings(db_url, telegram_token="1:x", telegram_mode="webhook",
                      telegram_webhook_secret=secret)


def test_webhook_mode_without_secret_is_refused(db_url: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs CRMBOT_TELEGRAM_WEBHOOK_SECRET"):
        make_settings(db_url, telegram_token="1:x", telegram_mode="webhook")


async def test_webhook_is_registered_with_secret(tg_webhook: Harness) -> None:
    assert tg_webhook.fake.webhook == {
        "url": "https://bot.shop.example/telegram/webhook", "secret_token": SECRET,
        "allowed_updates": ["message", "edited_message", "callback_query"]}
    assert "getUpdates" not in tg_webhook.fake.methods()


@pytest.mark.parametrize("secret", [None, "wrong", SECRET + "x", ""])
async def test_webhook_rejects_wrong_secret_and_stores_nothing(
    tg_webhook: Harness, secret: str | None
) -> None:
    update = tg_webhook.fake.push_message(121, "/start")
    status = await tg_webhook.fake.deliver_webhook(tg_webhook.url + "/telegram/webhook",
                                                   secret, update)
    assert status == 401
    assert await tg_webhook.events() == []


async def test_webhook_stores_once_and_answers_once(tg_webhook: Harness) -> None:
    update = tg_webhook.fake.push_message(131, "where is my order?")
    url = tg_webhook.url + "/telegram/webhook"
    assert await tg_webhook.fake.deliver_webhook(url, SECRET, update) == 200
    assert await tg_webhook.fake.deliver_webhook(url, SECRET, update) == 200
    await wait_for(lambda: tg_webhook.fake.texts(131), what="answer")
    await tg_webhook.core.outbox.drain(timeout=20)
    assert len(await tg_webhook.events()) == 1
    assert len(tg_webhook.fake.texts(131)) == 1  # the answer, asking "did this help?"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"message": {}}',
                                  b'{"update_id": "7"}'])
async def test_webhook_rejects_malformed_bodies(tg_webhook: Harness, body: bytes) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.post(
        tg_webhook.url + "/telegram/webhook", data=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET,
                 "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 400
    assert await tg_webhook.events() == []


async def test_long_answer_with_markup_characters_arrives_intact(tg: Harness) -> None:
    from bot.channels.telegram.adapter import TelegramChannel
    from bot.messages import OutboundMessage

    channel = tg.core.registry.get("telegram")
    assert isinstance(channel, TelegramChannel)
    text = ("Price <5 & 10 > 3, snake_case *stars* a&b <b>not bold</b>. " * 150).strip()
    result = await channel.send(OutboundMessage("telegram", "141", text))
    assert result.ok
    parts = tg.fake.texts(141)
    assert len(parts) >= 2 and all(len(p) <= 4096 for p in parts)
    assert " ".join(parts) == text, "escaping must round-trip and no word may be cut"


async def test_bot_uses_aiohttp_networking(tg: Harness) -> None:
    from bot.channels.telegram.request import AiohttpRequest

    bot = tg.runtime.bot
    assert bot is not None
    assert all(isinstance(r, AiohttpRequest) for r in bot._request)


async def test_polling_counts(tg: Harness) -> None:
    for n in range(5):
        tg.fake.push_message(151 + n, "/help")
    await wait_for(lambda: len(tg.fake.sent()) >= 5, what="five replies")
    assert tg.fake.confirmed >= 0
    count_stmt = select(func.count()).select_from(InboundEvent)
    async with tg.core.sessions() as s:
        assert await s.scalar(count_stmt) == 5


async def test_a_token_telegram_refuses_fails_start_up_naming_the_setting(db_url: str) -> None:
    """getMe answering 401 is a start-up error, not a retry loop; the real client library
    talks to the fake Bot API, which refuses any token but its own."""
    from bot.config import ConfigError

    fake = FakeTelegram()
    await fake.start()
    try:
        settings = make_settings(db_url, telegram_token="999:bogus", telegram_api_url=fake.url)
        runner = web.AppRunner(build_app(settings))
        with pytest.raises(ConfigError, match="CRMBOT_TELEGRAM_TOKEN was refused"):
            await runner.setup()
        await runner.cleanup()
    finally:
        await fake.close()
