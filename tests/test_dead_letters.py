"""Dead letters: an event that fails on every attempt, wherever it fails, is closed after a
bounded number of tries; the conversation's next event is answered, staff are told, and the
log holds one traceback for it, not one per retry (bot/deadletter.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.compose import build_core
from bot.config import Settings
from bot.context import Context
from bot.core import Core
from bot.deadletter import RetryPolicy
from bot.desk import DeskEvent, DeskPost, NullDesk
from bot.dispatcher import Router
from handlers import default_routers
from storage import deadletters
from storage.models import InboundEvent, Message
from tests.helpers import eventually, inbound

FAST = RetryPolicy(attempts=3, first_delay=0.05, factor=2)


class RecordingDesk(NullDesk):
    """The desk port, remembering what staff were told about dead letters."""

    def __init__(self) -> None:
        self.dead: list[tuple[int, int | None]] = []

    def handle(self, event: DeskEvent) -> list[DeskPost]:
        if event.kind == "dead_letter":
            self.dead.append((event.event_id, event.ticket.id if event.ticket else None))
        return []


def _unstorable_router() -> Router:
    """Fails outside the handler: the reply it writes cannot be stored (a lone surrogate is
    refused by both database drivers when the transaction flushes)."""
    router = Router("unstorable", 0)

    @router.handler
    async def write(ctx: Context) -> bool:
        if ctx.text != "poison":
            return False
        ctx.reply("echo \ud800")
        return True

    return router


def _make(settings: Settings, engine: AsyncEngine, desk: RecordingDesk) -> Core:
    core = build_core(settings, engine=engine, routers=[_unstorable_router(), *default_routers()])
    core.processor.retry = FAST
    core.set_desk(desk)
    return core


@pytest.fixture
async def poisoned(
    settings: Settings, engine: AsyncEngine
) -> AsyncIterator[tuple[Core, RecordingDesk]]:
    desk = RecordingDesk()
    core = _make(settings, engine, desk)
    await core.prepare()
    yield core, desk


async def _events(core: Core, cid: int) -> list[InboundEvent]:
    async with core.sessions() as session:
        rows = await session.scalars(select(InboundEvent).where(
            InboundEvent.conversation_id == cid).order_by(InboundEvent.id))
        return list(rows.all())


async def _replies(core: Core, cid: int) -> list[str]:
    async with core.sessions() as session:
        rows = await session.scalars(select(Message.text).where(
            Message.conversation_id == cid, Message.direction == "out").order_by(Message.id))
        return list(rows.all())


async def _drain(core: Core, rounds: int = 20) -> None:
    """What the processor's poll does: try again until nothing is due or backing off."""
    for _ in range(rounds):
        await core.processor.process_pending()
        await asyncio.sleep(0.06)


async def test_a_write_that_always_fails_ends_as_a_dead_letter_and_the_next_message_is_answered(
    poisoned: tuple[Core, RecordingDesk], caplog: pytest.LogCaptureFixture,
) -> None:
    core, desk = poisoned
    caplog.set_level(logging.INFO, "crmbot")
    bad = await core.ingest(inbound("poison", "p1", chat="a"))
    await core.ingest(inbound("Where is my order?", "p2", chat="a"))
    await _drain(core)

    first, second = await _events(core, bad.conversation_id)
    assert first.dead_at is not None and first.processed_at is not None
    assert first.attempts == FAST.attempts
    assert "Error" in (first.error or ""), first.error
    assert second.processed_at is not None and second.dead_at is None
    replies = await _replies(core, bad.conversation_id)
    assert replies[0].startswith("Sorry, something went wrong")
    assert "order" in replies[1].lower() and len(replies) == 2
    assert desk.dead == [(first.id, None)]
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1, [r.getMessage() for r in tracebacks]


async def test_a_payload_that_does_not_decode_is_closed_without_a_reply(
    poisoned: tuple[Core, RecordingDesk],
) -> None:
    core, desk = poisoned
    good = await core.ingest(inbound("hello there", "d1", chat="b"))
    await core.processor.process_pending()
    async with core.sessions.begin() as session:  # a row no current code can read
        session.add(InboundEvent(channel="test", event_id="d2", payload={"bogus": 1},
                                 conversation_id=good.conversation_id))
    await core.ingest(inbound("Where is my order?", "d3", chat="b"))
    before = len(await _replies(core, good.conversation_id))
    await _drain(core)
    events = await _events(core, good.conversation_id)
    assert events[1].dead_at is not None and "TypeError" in (events[1].error or "")
    assert events[2].processed_at is not None and events[2].dead_at is None
    replies = (await _replies(core, good.conversation_id))[before:]
    assert len(replies) == 1 and "order" in replies[0].lower()  # no apology: nobody to read it
    assert desk.dead == []  # nor a context to tell staff with; the metric and CLI show it


async def test_attempts_survive_a_restart(settings: Settings, engine: AsyncEngine) -> None:
    desk = RecordingDesk()
    core = _make(settings, engine, desk)
    await core.prepare()
    bad = await core.ingest(inbound("poison", "r1", chat="c"))
    await core.ingest(inbound("Where is my order?", "r2", chat="c"))
    await core.processor.process_pending()  # one failed attempt, then the "crash"
    assert (await _events(core, bad.conversation_id))[0].attempts == 1

    restarted = _make(settings, engine, desk)
    await restarted.prepare()
    await _drain(restarted)
    first, second = await _events(restarted, bad.conversation_id)
    assert first.attempts == FAST.attempts and first.dead_at is not None
    assert second.processed_at is not None
    assert "order" in (await _replies(restarted, bad.conversation_id))[-1].lower()


async def test_the_running_processor_gets_past_a_poison_message(
    poisoned: tuple[Core, RecordingDesk],
) -> None:
    core, _ = poisoned
    core.processor._poll = 0.05
    bad = await core.ingest(inbound("poison", "q1", chat="d"))
    await core.ingest(inbound("Where is my order?", "q2", chat="d"))
    async with core.background():
        async def answered() -> bool:
            return len(await _replies(core, bad.conversation_id)) >= 2

        await eventually(answered)
    replies = await _replies(core, bad.conversation_id)
    assert replies[0].startswith("Sorry") and "order" in replies[1].lower()


async def test_a_dead_letter_is_listed_and_can_be_retried(
    poisoned: tuple[Core, RecordingDesk],
) -> None:
    core, _ = poisoned
    bad = await core.ingest(inbound("poison", "l1", chat="e"))
    await _drain(core)
    dead = (await _events(core, bad.conversation_id))[0]
    assert dead.dead_at is not None

    listed = await deadletters.listing(core.sessions)
    assert [row.id for row in listed] == [dead.id]
    assert await deadletters.reopen(core.sessions, dead.id) is True
    assert await deadletters.reopen(core.sessions, dead.id) is False  # not dead now
    again = (await _events(core, bad.conversation_id))[0]
    assert again.dead_at is None and again.processed_at is None and again.attempts == 0
    assert await deadletters.listing(core.sessions) == []
