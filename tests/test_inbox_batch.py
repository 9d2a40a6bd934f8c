"""The inbox group commit: many webhook requests in one transaction, same results as one by one."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core import Core
from bot.messages import InboundMessage
from storage import inbox
from storage.inbox import InboxWriter, IngestResult, ingest_batch
from storage.models import ChannelIdentity, Conversation, Customer, InboundEvent, Message
from tests.helpers import inbound, inserted_tables, statements


async def _count(core: Core, model: type) -> int:
    async with core.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_one_batch_stores_new_events_once_and_flags_repeats(core: Core) -> None:
    await core.ingest(inbound("earlier", "e0", chat="a"))
    batch = [
        inbound("first", "e1", chat="a"),
        inbound("hello", "e2", chat="b"),     # a new chat: customer, identity, conversation
        inbound("again", "e2", chat="b"),     # the same event twice in one batch
        inbound("earlier", "e0", chat="a"),   # a redelivery of a stored event
        inbound("second", "e3", chat="b"),
    ]
    async with core.sessions.begin() as session:
        results = await ingest_batch(session, batch)
    assert [r.duplicate for r in results] == [False, False, True, True, False]
    conv_a, conv_b = results[0].conversation_id, results[1].conversation_id
    assert conv_a != conv_b
    assert [r.conversation_id for r in results] == [conv_a, conv_b, conv_b, conv_a, conv_b]
    assert await _count(core, InboundEvent) == 4
    assert await _count(core, Customer) == 2
    async with core.sessions() as session:
        texts = (await session.scalars(
            select(Message.text).where(Message.conversation_id == conv_b).order_by(Message.id)
        )).all()
        ids = (await session.scalars(
            select(InboundEvent.event_id).where(InboundEvent.conversation_id == conv_b)
            .order_by(InboundEvent.id)
        )).all()
        conversation = await session.get_one(Conversation, conv_b)
    assert list(texts) == ["hello", "second"]  # the repeat left no transcript row
    assert list(ids) == ["e2", "e3"]  # processing order is arrival order
    assert conversation.last_message_at is not None


async def test_concurrent_requests_share_commits_and_each_gets_its_answer(core: Core) -> None:
    messages = [inbound(f"q{i}", f"c{i % 30}", chat=f"chat{i % 7}") for i in range(60)]
    results = await asyncio.gather(*(core.ingest(m) for m in messages))
    assert sum(not r.duplicate for r in results) == 30
    assert await _count(core, InboundEvent) == 30
    assert await _count(core, Message) == 30
    assert await _count(core, Conversation) == 7


async def test_failed_batch_is_stored_event_by_event(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> list[IngestResult]:
        raise RuntimeError("batch failed")

    monkeypatch.setattr(inbox, "ingest_batch", broken)
    results = await asyncio.gather(*(core.ingest(inbound(f"m{i}", f"f{i}")) for i in range(5)))
    assert [r.duplicate for r in results] == [False] * 5
    assert await _count(core, InboundEvent) == 5
    async with core.sessions() as session:
        order = (await session.scalars(select(InboundEvent.event_id).order_by(InboundEvent.id)))
        assert list(order.all()) == [f"f{i}" for i in range(5)]


async def test_one_unstorable_event_fails_only_its_own_request(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_ingest = inbox.ingest

    async def picky(sessions: object, msg: InboundMessage) -> IngestResult:
        if msg.event_id == "bad":
            raise RuntimeError("cannot store this one")
        return await real_ingest(sessions, msg)  # type: ignore[arg-type]

    async def broken(*_: object) -> list[IngestResult]:
        raise RuntimeError("batch failed")

    monkeypatch.setattr(inbox, "ingest_batch", broken)
    monkeypatch.setattr(inbox, "ingest", picky)
    writer = InboxWriter(core.sessions)
    outcomes = await asyncio.gather(
        *(writer.store(inbound("x", e)) for e in ("ok1", "bad", "ok2")), return_exceptions=True
    )
    assert isinstance(outcomes[1], RuntimeError)
    assert not isinstance(outcomes[0], BaseException) and not outcomes[0].duplicate
    assert not isinstance(outcomes[2], BaseException) and not outcomes[2].duplicate
    assert await _count(core, InboundEvent) == 2


async def test_new_chats_of_one_batch_are_created_together_and_tied_right(
    core: Core, engine: AsyncEngine
) -> None:
    """Several new chats in one batch: one INSERT per table, and each conversation belongs to
    its own sender: a known sender's new chat joins that customer, two new chats of one new
    sender share one customer and identity."""
    await core.ingest(InboundMessage(channel="test", event_id="k0", user_id="known",
                                     chat_id="known-dm", text="hi", kind="text"))
    batch = [
        InboundMessage(channel="test", event_id=f"n{i}", user_id=user, chat_id=chat,
                       text=f"q{i}", kind="text", display_name=f"name-{user}")
        for i, (user, chat) in enumerate([
            ("u1", "u1"), ("known", "known-group"), ("u2", "u2"), ("u2", "u2-group"),
            ("u3", "u3")])
    ]
    seen = statements(engine)
    async with core.sessions.begin() as session:
        results = await ingest_batch(session, batch)
    inserts = inserted_tables(seen)

    assert [inserts.count(t) for t in ("customers", "channel_identities", "conversations")] == [
        1, 1, 1], inserts
    async with core.sessions() as session:
        rows = (await session.execute(
            select(Conversation.id, Conversation.chat_id, ChannelIdentity.external_id,
                   Customer.display_name, Customer.id)
            .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
            .join(Customer, Customer.id == Conversation.customer_id)
        )).all()
    by_chat = {chat: (cid, user, name, cust) for cid, chat, user, name, cust in rows}
    for msg, result in zip(batch, results, strict=True):
        cid, user, _, _ = by_chat[msg.chat_id]
        assert (result.conversation_id, user) == (cid, msg.user_id), msg.chat_id
    assert by_chat["known-group"][3] == by_chat["known-dm"][3]
    assert by_chat["u2"][3] == by_chat["u2-group"][3]
    assert len({by_chat[c][3] for c in ("u1", "u2", "u3", "known-dm")}) == 4
    assert [by_chat[c][2] for c in ("u1", "u2", "u3")] == ["name-u1", "name-u2", "name-u3"]
    assert await _count(core, ChannelIdentity) == 4
