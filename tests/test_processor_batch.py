"""Batches: the oldest event of several conversations in one transaction (bot/processor.py).

What must hold: one commit for the batch, one event per conversation per batch (order kept),
a handler error rolls the batch back and each event is handled alone (the failure recorded,
the others answered once), a conversation locked by another process is left to it, and the
running scheduler answers a stream across conversations once each, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.compose import build_core
from bot.config import Settings
from bot.context import Context
from bot.core import Core
from bot.dispatcher import Dispatcher, Router
from bot.processor import LOCK_NAMESPACE, Processor
from storage.models import InboundEvent, Message, OutboxItem
from storage.sql import advisory_xact_locks
from tests.helpers import inbound, inserted_tables, statements


def _echo(seen: list[str]) -> Router:
    router = Router("echo", 1)

    @router.handler
    async def echo(ctx: Context) -> bool:
        seen.append(ctx.inbound.event_id)
        if ctx.text == "boom":
            ctx.reply("half-done reply that must never be sent")
            raise RuntimeError("handler bug")
        ctx.reply(f"echo:{ctx.text}")
        return True

    return router


@pytest.fixture
async def echo_core(
    settings: Settings, engine: AsyncEngine
) -> AsyncIterator[tuple[Core, list[str]]]:
    seen: list[str] = []
    core = build_core(settings, engine=engine, routers=[_echo(seen)])
    await core.prepare()
    yield core, seen


def _commits(engine: AsyncEngine) -> list[int]:
    counted: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda _conn: counted.append(1))
    return counted


async def _replies(core: Core, cid: int) -> list[str]:
    async with core.sessions() as session:
        rows = await session.scalars(
            select(Message.text)
            .where(Message.conversation_id == cid, Message.direction == "out")
            .order_by(Message.id))
        return list(rows.all())


async def _chats(core: Core, per_chat: int, chats: int) -> list[int]:
    cids: list[int] = []
    for n in range(per_chat):
        for c in range(chats):
            result = await core.ingest(inbound(f"{c}-{n}", f"ev-{c}-{n}", chat=f"chat{c}"))
            if n == 0:
                cids.append(result.conversation_id)
    return cids


async def test_one_transaction_one_event_per_conversation(
    echo_core: tuple[Core, list[str]], engine: AsyncEngine
) -> None:
    core, seen = echo_core
    cids = await _chats(core, per_chat=2, chats=3)
    commits = _commits(engine)

    outcomes = await core.processor.process_batch(cids)

    assert len(commits) == 1, "the whole batch is one commit"
    assert seen == ["ev-0-0", "ev-1-0", "ev-2-0"], "only the oldest event of each"
    assert {o.value for o in outcomes.values()} == {"more"}
    await core.processor.process_batch(cids)
    assert {o.value for o in (await core.processor.process_batch(cids)).values()} == {"stop"}
    for c, cid in enumerate(cids):
        assert await _replies(core, cid) == [f"echo:{c}-0", f"echo:{c}-1"]


async def test_a_batchs_replies_are_one_insert_per_table_with_the_right_ids(
    echo_core: tuple[Core, list[str]], engine: AsyncEngine
) -> None:
    """The insert sentinels (storage/models.py) let SQLite take the replies in one statement
    too; the ids that come back must still belong to the right rows."""
    core, _ = echo_core
    cids = await _chats(core, per_chat=1, chats=6)
    seen = statements(engine)

    await core.processor.process_batch(cids)
    inserts = inserted_tables(seen)

    assert inserts.count("messages") == 1 and inserts.count("outbox") == 1, inserts
    async with core.sessions() as session:
        items = (await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all()
    assert [(i.conversation_id, i.payload["text"]) for i in items] == [
        (cid, f"echo:{c}-0") for c, cid in enumerate(cids)]
    for c, cid in enumerate(cids):
        assert await _replies(core, cid) == [f"echo:{c}-0"]


async def test_a_failing_handler_rolls_back_the_batch_and_each_goes_alone(
    echo_core: tuple[Core, list[str]],
) -> None:
    core, seen = echo_core
    good = await core.ingest(inbound("hello", "g1", chat="good"))
    bad = await core.ingest(inbound("boom", "b1", chat="bad"))
    later = await core.ingest(inbound("after", "l1", chat="later"))

    outcomes = await core.processor.process_batch(
        [good.conversation_id, bad.conversation_id, later.conversation_id])

    assert outcomes[good.conversation_id].value == "last"
    assert outcomes[later.conversation_id].value == "last"
    assert outcomes[bad.conversation_id].value == "stop"  # stays pending for another attempt
    assert await _replies(core, good.conversation_id) == ["echo:hello"]
    assert await _replies(core, later.conversation_id) == ["echo:after"]
    assert await _replies(core, bad.conversation_id) == []
    async with core.sessions() as session:
        failed = await session.scalar(select(InboundEvent).where(InboundEvent.event_id == "b1"))
    assert failed is not None and failed.processed_at is None
    assert failed.attempts == 1 and "handler bug" in (failed.error or "")
    # batch try, then alone without and with a savepoint: the good ones ran twice, their
    # first run rolled back with the batch
    assert seen.count("b1") == 3 and seen.count("g1") == 2


async def test_a_conversation_locked_elsewhere_is_left_alone(
    echo_core: tuple[Core, list[str]], db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("advisory locks exist only on PostgreSQL (SQLite has one process)")
    core, _ = echo_core
    mine = await core.ingest(inbound("mine", "m1", chat="mine"))
    theirs = await core.ingest(inbound("theirs", "t1", chat="theirs"))
    async with core.sessions.begin() as other:  # another process is processing "theirs"
        assert await advisory_xact_locks(other, LOCK_NAMESPACE, [theirs.conversation_id])
        outcomes = await core.processor.process_batch(
            [mine.conversation_id, theirs.conversation_id])
    assert outcomes[mine.conversation_id].value == "last"
    assert outcomes[theirs.conversation_id].value == "stop"
    assert await _replies(core, theirs.conversation_id) == []


async def test_running_scheduler_answers_every_event_once_in_order(
    settings: Settings, engine: AsyncEngine
) -> None:
    seen: list[str] = []
    core = build_core(settings, engine=engine)
    await core.prepare()
    processor = Processor(core.sessions, core.services, Dispatcher([_echo(seen)]),
                          workers=2, max_batch=4, poll_interval=0.05)
    chats, per_chat = 10, 6
    cids = await _chats(core, per_chat, chats)  # a backlog, as after a restart
    commits = _commits(engine)
    task = asyncio.create_task(processor.run())
    try:
        for _ in range(400):
            if len(seen) >= chats * per_chat:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(seen) == sorted(f"ev-{c}-{n}" for c in range(chats) for n in range(per_chat))
    for c, cid in enumerate(cids):
        assert await _replies(core, cid) == [f"echo:{c}-{n}" for n in range(per_chat)]
    assert len(commits) < chats * per_chat, "events shared transactions"
