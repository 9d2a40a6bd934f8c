"""Announcements (issue #7) on the core: consent, segments, exactly-once, send-time checks.

Runs on SQLite and PostgreSQL (db_url fixture) with a recording channel; the full-scale run
against the fake Telegram API with a kill -9 is tests/test_broadcast_e2e.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select

from bot.core import Core
from bot.messages import OutboundMessage
from handlers.broadcast import service, store
from handlers.broadcast.runner import BroadcastRunner
from handlers.broadcast.spec import parse
from storage import outbox as outbox_repo
from storage.consent import has_consent, set_consent, set_consent_for_identity
from storage.models import Customer, OutboxItem
from storage.models_broadcast import BroadcastRecipient
from tests.helpers import RecordingChannel, inbound

_ids = itertools.count(1)


@pytest.fixture
def channel(core: Core) -> RecordingChannel:
    ch = RecordingChannel()
    core.registry.add(ch)
    return ch


async def say(core: Core, chat: str, text: str, **extra: Any) -> int:
    result = await core.ingest(inbound(text, f"e{next(_ids)}", chat=chat, **extra))
    await core.processor.process_conversation(result.conversation_id)
    await core.outbox.drain()
    return result.conversation_id


async def customer_of(core: Core, chat: str) -> Customer:
    from storage.models import ChannelIdentity

    async with core.sessions() as s:
        cid = await s.scalar(select(ChannelIdentity.customer_id)
                             .where(ChannelIdentity.external_id == chat))
        row = await s.get(Customer, cid)
        assert row is not None
        return row


def runner_for(core: Core) -> BroadcastRunner:
    from handlers.broadcast.web import attach

    runner = attach(core)
    assert isinstance(runner, BroadcastRunner)
    return runner


async def run_to_end(core: Core, runner: BroadcastRunner, bid: int, rounds: int = 50) -> None:
    for _ in range(rounds):
        await runner.tick()
        await core.outbox.drain(2.0)
        runner._finish_checked.clear()
        await runner.maybe_finish(bid)
        async with core.sessions() as s:
            row = await store.get(s, bid)
            assert row is not None
            if row.status in ("done", "cancelled"):
                return
    raise AssertionError("broadcast did not finish")


SPEC = {"name": "Sale", "messages": {"en": "Spring sale!", "sv": "Vårrea!"},
        "default_locale": "en", "footer": True,
        "buttons": [[{"label": {"en": "Shop", "sv": "Handla"}, "url": "https://shop.example"}]]}


async def test_consent_words_and_commands_in_three_languages(
    core: Core, channel: RecordingChannel
) -> None:
    await say(core, "c1", "/subscribe")
    assert "subscribed" in channel.texts("c1")[-1]
    customer = await customer_of(core, "c1")
    assert has_consent(customer.attributes)
    history = customer.attributes["consent_history"]
    assert history[-1]["value"] is True and history[-1]["source"] == "test"
    for word in ("Sluta", "atteikties!", "unsubscribe", "/stop", "STOP"):
        await say(core, "c1", "/subscribe")
        await say(core, "c1", word)
        assert not has_consent((await customer_of(core, "c1")).attributes), word
    assert len((await customer_of(core, "c1")).attributes["consent_history"]) == 11
    await say(core, "c1", "please stop sending me the wrong size")  # a sentence, not a command
    assert "won't get any more" not in channel.texts("c1")[-1]


async def test_opt_in_keeps_a_blanket_survey_opt_out(core: Core, channel: RecordingChannel
                                                     ) -> None:
    from handlers.surveys.campaign import opted_out

    await say(core, "c1", "hello")
    customer = await customer_of(core, "c1")
    async with core.sessions.begin() as s:
        row = await s.get(Customer, customer.id)
        assert row is not None
        row.attributes = {"consent": False}
    async with core.sessions.begin() as s:
        await set_consent(s, customer.id, True, "admin")
    customer = await customer_of(core, "c1")
    assert has_consent(customer.attributes) and opted_out(customer)


async def test_widget_consent_function(core: Core, channel: RecordingChannel) -> None:
    await say(core, "w1", "hi")
    assert await set_consent_for_identity(core.sessions, "test", "w1", True, source="widget")
    assert not await set_consent_for_identity(core.sessions, "test", "w1", True)
    with pytest.raises(ValueError, match="no test identity"):
        await set_consent_for_identity(core.sessions, "test", "nobody", True)


async def test_only_opted_in_customers_get_it_once_in_their_language(
    core: Core, channel: RecordingChannel
) -> None:
    for chat in ("a", "b", "c"):
        await say(core, chat, "hello")
    await say(core, "a", "/subscribe")
    await say(core, "b", "/lang sv")
    await say(core, "b", "/subscribe")
    runner = runner_for(core)
    created = await service.create(core.sessions, parse(SPEC), "test")
    found = await service.preview_id(core.sessions, core.settings, created["id"])
    assert found.eligible == 2 and found.no_consent == 1
    assert dict(found.by_locale) == {"en": 1, "sv": 1}
    before = len(channel.sent)
    await service.act(core.sessions, created["id"], "send")
    await run_to_end(core, runner, created["id"])
    new = channel.sent[before:]
    assert sorted(m.chat_id for _, m in new) == ["a", "b"]
    by_chat = {m.chat_id: m for _, m in new}
    assert by_chat["a"].text.startswith("Spring sale!") and "STOP" in by_chat["a"].text
    assert by_chat["b"].text.startswith("Vårrea!") and "SLUTA" in by_chat["b"].text
    assert by_chat["b"].buttons[0][0].label == "Handla"
    status = await service.status(core.sessions, created["id"])
    assert status["status"] == "done"
    assert status["progress"]["sent"] == 2 and status["progress"]["pending"] == 0
    # Running the runner again sends nothing more: one recipient row per customer.
    await runner.tick()
    await core.outbox.drain(1.0)
    assert len(channel.sent) == before + 2


async def test_opt_out_between_enqueue_and_send_is_honoured(
    core: Core, channel: RecordingChannel
) -> None:
    for chat in ("a", "b"):
        await say(core, chat, "/subscribe")
    runner = runner_for(core)
    created = await service.create(core.sessions, parse(SPEC), "test")
    await service.act(core.sessions, created["id"], "send")
    await runner.tick()  # both are now in the outbox
    async with core.sessions() as s:
        queued = await s.scalar(select(OutboxItem.id).where(OutboxItem.order_key.like("bc:%"),
                                                            OutboxItem.status == "pending"))
    assert queued is not None
    b = await customer_of(core, "b")
    async with core.sessions.begin() as s:
        await set_consent(s, b.id, False, "test")
    before = len(channel.sent)
    await run_to_end(core, runner, created["id"])
    assert [m.chat_id for _, m in channel.sent[before:]] == ["a"]
    progress = (await service.status(core.sessions, created["id"]))["progress"]
    assert progress["sent"] == 1 and progress["opted_out"] == 1


async def test_pause_resume_and_cancel(core: Core, channel: RecordingChannel) -> None:
    for chat in ("a", "b", "c"):
        await say(core, chat, "/subscribe")
    runner = runner_for(core)
    bid = (await service.create(core.sessions, parse(SPEC), "test"))["id"]
    await service.act(core.sessions, bid, "send")
    await runner.tick()
    await service.act(core.sessions, bid, "pause")
    before = len(channel.sent)
    await core.outbox.drain(2.0)
    await runner.tick()
    assert len(channel.sent) == before, "a paused broadcast sends nothing"
    assert (await service.status(core.sessions, bid))["progress"]["pending"] == 3
    await service.act(core.sessions, bid, "resume")
    await run_to_end(core, runner, bid)
    assert sorted(m.chat_id for _, m in channel.sent[before:]) == ["a", "b", "c"]
    with pytest.raises(store.TransitionError, match="it is done"):
        await service.act(core.sessions, bid, "resume")
    bid2 = (await service.create(core.sessions, parse(SPEC), "test"))["id"]
    await service.act(core.sessions, bid2, "send")
    await runner.tick()
    await service.act(core.sessions, bid2, "cancel")
    before = len(channel.sent)
    await core.outbox.drain(2.0)
    assert len(channel.sent) == before
    assert (await service.status(core.sessions, bid2))["progress"]["cancelled"] == 3


async def test_a_send_cut_short_by_a_crash_is_not_repeated(
    core: Core, channel: RecordingChannel
) -> None:
    """The guard passed (recipient ``sending``), then the process died before the platform's
    answer was recorded: on restart the item is skipped as ``uncertain``, never sent twice."""
    from handlers.broadcast.guard import check

    await say(core, "a", "/subscribe")
    runner = runner_for(core)
    bid = (await service.create(core.sessions, parse(SPEC), "test"))["id"]
    await service.act(core.sessions, bid, "send")
    await runner.tick()
    async with core.sessions.begin() as s:
        from datetime import timedelta

        items = await outbox_repo.claim_due(s, limit=10, lease=timedelta(seconds=60),
                                            channels=["test"])
        assert len(items) == 1
        recipient_id = OutboundMessage.from_json(items[0].payload).meta["broadcast_recipient"]
        assert await check(s, items[0], int(recipient_id))
    async with core.sessions.begin() as s:  # what a restart on SQLite does
        await outbox_repo.release_all_claims(s)
    before = len(channel.sent)
    await run_to_end(core, runner, bid)
    assert len(channel.sent) == before
    assert (await service.status(core.sessions, bid))["progress"]["uncertain"] == 1
    # The operator prefers a possible second copy to a possible miss: one more send, then done.
    assert (await service.act(core.sessions, bid, "resend-uncertain"))["status"] == "running"
    await run_to_end(core, runner, bid)
    assert [m.chat_id for _, m in channel.sent[before:]] == ["a"]
    progress = (await service.status(core.sessions, bid))["progress"]
    assert (progress["uncertain"], progress["sent"]) == (0, 1)


async def test_segment_filters(core: Core, channel: RecordingChannel) -> None:
    for chat in ("a", "b", "c"):
        await say(core, chat, "/subscribe")
    a = await customer_of(core, "a")
    async with core.sessions.begin() as s:
        row = await s.get(Customer, a.id)
        assert row is not None
        row.attributes = {**row.attributes, "tags": ["vip", "eu"], "plan": "pro"}
    spec = parse({**SPEC, "segment": {"tags": ["vip"], "attributes": {"plan": "pro"}}})
    assert (await service.preview_spec(core.sessions, core.settings, spec)).eligible == 1
    spec = parse({**SPEC, "segment": {"channels": ["telegram"]}})
    assert (await service.preview_spec(core.sessions, core.settings, spec)).eligible == 0
    spec = parse({**SPEC, "segment": {"locales": ["en"], "contacted_within_days": 1}})
    assert (await service.preview_spec(core.sessions, core.settings, spec)).eligible == 3
    spec = parse({**SPEC, "segment": {"not_contacted_within_days": 1}})
    assert (await service.preview_spec(core.sessions, core.settings, spec)).eligible == 0
    spec = parse({**SPEC, "segment": {"survey": {"id": "nps", "min": 9}}})
    assert (await service.preview_spec(core.sessions, core.settings, spec)).eligible == 0


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "x", "messages": {}}, "at least one locale"),
    ({"name": "x", "messages": {"de": "Hallo"}}, "not a shipped locale"),
    ({"name": "x", "messages": {"sv": "Hej"}}, "default_locale 'en' has no message"),
    ({"name": "x", "messages": {"en": "Hi"}, "colour": "red"}, "colour: Extra inputs"),
    ({"name": "x", "messages": {"en": "Hi"}, "schedule": {"at": "2026-01-01T10:00"}},
     "needs a time zone"),
    ({"name": "x", "messages": {"en": "Hi"}, "schedule": {"local_time": "25:00"}},
     "schedule.local_time"),
    ({"name": "x", "messages": {"en": "Hi"}, "buttons": [[{"label": "a"}]]},
     "exactly one of url or data"),
])
def test_bad_specs_are_clear_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(data)


async def test_local_time_schedule_sets_each_recipients_due_time(
    core: Core, channel: RecordingChannel
) -> None:
    await say(core, "a", "/subscribe")
    a = await customer_of(core, "a")
    async with core.sessions.begin() as s:
        row = await s.get(Customer, a.id)
        assert row is not None
        row.timezone = "Asia/Tokyo"
    runner = runner_for(core)
    spec = parse({**SPEC, "schedule": {"local_time": "10:00"}})
    bid = (await service.create(core.sessions, spec, "test"))["id"]
    await service.act(core.sessions, bid, "send")
    await runner.tick()
    async with core.sessions() as s:
        due = await s.scalar(select(BroadcastRecipient.due_at))
    assert due is not None
    from zoneinfo import ZoneInfo

    local = due.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (10, 0)


def test_a_spec_names_every_problem_and_refuses_unknown_segments() -> None:
    from handlers.broadcast.spec import parse

    with pytest.raises(ValueError) as refused:
        parse({"name": "n", "messages": {"en": "hi"},
               "segment": {"channels": ["fax"], "locales": ["de", "sv"]}})
    assert "unknown channel(s) ['fax']" in str(refused.value)
    assert "unknown locale(s) ['de']" in str(refused.value)
    with pytest.raises(ValueError) as texts:
        parse({"name": "n", "messages": {"en": " ", "de": "Hallo"}, "default_locale": "lv"})
    message = str(texts.value)
    assert "'de' is not a shipped locale" in message and "messages.en" in message
    assert "default_locale 'lv' has no message" in message
