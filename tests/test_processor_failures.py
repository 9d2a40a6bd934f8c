"""A handler that raises: its effects vanish, the attempt is counted, others go on.

Processing first runs the routers without a savepoint; these tests pin down that a failure on
that path is rolled back whole and recorded by the savepoint retry, exactly as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.compose import build_core
from bot.config import Settings
from bot.context import Context
from bot.core import Core
from bot.deadletter import RetryPolicy
from bot.dispatcher import Router
from handlers import default_routers
from storage.models import InboundEvent, Message, OutboxItem, utcnow
from tests.helpers import inbound

NO_WAIT = RetryPolicy(attempts=3, first_delay=0)


def _exploding_router(calls: list[str]) -> Router:
    router = Router("explodes", 0)

    @router.handler
    async def explode(ctx: Context) -> bool:
        if ctx.text != "boom":
            return False
        calls.append(ctx.inbound.event_id)
        ctx.reply("half-done reply that must never be sent")
        ctx.state["touched"] = True
        ctx.save_state()
        raise RuntimeError("handler bug")

    return router


@pytest.fixture
async def failing_core(
    settings: Settings, engine: AsyncEngine
) -> AsyncIterator[tuple[Core, list[str]]]:
    calls: list[str] = []
    core = build_core(settings, engine=engine,
                      routers=[_exploding_router(calls), *default_routers()])
    await core.prepare()
    yield core, calls


async def _events(core: Core, cid: int) -> list[InboundEvent]:
    async with core.sessions() as session:
        rows = await session.scalars(
            select(InboundEvent).where(InboundEvent.conversation_id == cid)
            .order_by(InboundEvent.id))
        return list(rows.all())


async def _bot_texts(core: Core, cid: int) -> list[str]:
    async with core.sessions() as session:
        rows = await session.scalars(
            select(Message.text).where(Message.conversation_id == cid, Message.direction == "out")
            .order_by(Message.id))
        return list(rows.all())


async def test_failing_event_is_retried_then_closed_with_an_apology(
    failing_core: tuple[Core, list[str]],
) -> None:
    core, calls = failing_core
    core.processor.retry = NO_WAIT
    bad = await core.ingest(inbound("boom", "e1", chat="a"))
    await core.ingest(inbound("Where is my order?", "e2", chat="a"))
    other = await core.ingest(inbound("Where is my order?", "e3", chat="b"))

    for _ in range(NO_WAIT.attempts):  # what the processor's poll does once a second
        await core.processor.process_pending()
    first, second = await _events(core, bad.conversation_id)
    assert first.attempts == NO_WAIT.attempts and first.processed_at is not None
    assert first.dead_at is not None and "handler bug" in (first.error or "")
    assert second.processed_at is not None and second.dead_at is None
    assert (await _events(core, other.conversation_id))[0].processed_at is not None
    texts = await _bot_texts(core, bad.conversation_id)
    assert texts[0].startswith("Sorry, something went wrong")
    assert all("half-done" not in t for t in texts)
    assert len(texts) == 2  # the apology, then the answer to the second question
    async with core.sessions() as session:
        items = (await session.scalars(select(OutboxItem.payload))).all()
    assert all("half-done" not in p["text"] for p in items)
    assert calls.count("e1") >= NO_WAIT.attempts  # every attempt really ran the handler


async def test_a_failed_event_backs_off_and_nothing_overtakes_it(
    failing_core: tuple[Core, list[str]],
) -> None:
    core, calls = failing_core  # the shipped policy: the second attempt waits 2 s
    bad = await core.ingest(inbound("boom", "b1", chat="a"))
    await core.ingest(inbound("Where is my order?", "b2", chat="a"))
    await core.processor.process_pending()
    await core.processor.process_pending()  # not due yet: no attempt, no traceback
    first, second = await _events(core, bad.conversation_id)
    assert first.attempts == 1 and first.processed_at is None
    assert first.retry_at is not None and first.retry_at > utcnow() + timedelta(seconds=1)
    assert second.processed_at is None  # order: nothing overtakes the failed event
    assert calls.count("b1") == 2  # the unguarded try and its guarded retry, once


async def test_failed_handler_leaves_no_state_behind(failing_core: tuple[Core, list[str]]) -> None:
    core, _ = failing_core
    result = await core.ingest(inbound("boom", "x1", chat="c"))
    await core.processor.process_conversation(result.conversation_id)
    async with core.sessions() as session:
        from storage.models import Conversation

        conversation = await session.get_one(Conversation, result.conversation_id)
    assert "touched" not in (conversation.state or {})
    assert await _bot_texts(core, result.conversation_id) == []
