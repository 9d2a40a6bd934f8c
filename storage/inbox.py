"""The inbox: store an inbound event once, with its customer, identity and conversation.

Called by every channel adapter before it acknowledges the platform. A repeat of
(channel, event_id) changes nothing and reports ``duplicate``.

Two paths with the same result. :func:`ingest` stores one event in its own transaction (ORM,
savepoints around the find-or-create steps, retried on a concurrent insert). :class:`InboxWriter`
is the hot path: a group commit that stores every event queued while the previous commit was
running in ONE transaction of a handful of Core statements (one look-up of duplicates, one of
conversations, one multi-row INSERT each for events and transcript rows, and for new chats one
look-up of senders and one multi-row INSERT each for customers, identities and conversations),
and answers each caller only after that commit. Should a batch fail for any reason (a
concurrent process created the same conversation, a constraint, the database going away), it is
rolled back as a whole and each of its events is stored again on its own through :func:`ingest`,
so one bad event can never fail the others and nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.envelopes import InboundMessage
from storage.models import (
    ChannelIdentity,
    Conversation,
    Customer,
    InboundEvent,
    Message,
    utcnow,
)
from storage.sql import dialect_insert, insert_ignore

log = logging.getLogger("crmbot.inbox")

MAX_BATCH = 200

_EVENTS: Table = InboundEvent.__table__  # type: ignore[assignment]
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_IDENTITIES: Table = ChannelIdentity.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class IngestResult:
    conversation_id: int
    duplicate: bool


async def ingest(sessions: async_sessionmaker[AsyncSession], msg: InboundMessage) -> IngestResult:
    """Store ``msg`` durably (or recognise it as a redelivery). Safe to call concurrently."""
    for attempt in range(3):
        try:
            async with sessions.begin() as session:
                return await _ingest(session, msg)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _ingest(session: AsyncSession, msg: InboundMessage) -> IngestResult:
    existing = await _event_conversation(session, msg)
    if existing is not None:
        return IngestResult(existing, duplicate=True)
    conversation = await _conversation_for(session, msg)
    event_id = await insert_ignore(
        session,
        InboundEvent.__table__,  # type: ignore[arg-type]
        {
            "channel": msg.channel,
            "event_id": msg.event_id,
            "conversation_id": conversation.id,
            "payload": msg.to_json(),
            "received_at": utcnow(),
            "attempts": 0,
        },
        ["channel", "event_id"],
    )
    if event_id is None:
        return IngestResult(conversation.id, duplicate=True)
    session.add(_transcript_row(conversation.id, event_id, msg))
    conversation.last_message_at = utcnow()
    return IngestResult(conversation.id, duplicate=False)


async def _event_conversation(session: AsyncSession, msg: InboundMessage) -> int | None:
    return await session.scalar(
        select(InboundEvent.conversation_id).where(
            InboundEvent.channel == msg.channel, InboundEvent.event_id == msg.event_id
        )
    )


def _transcript_text(msg: InboundMessage) -> str:
    return msg.text if msg.kind != "callback" else (msg.text or msg.callback_data or "")


def _transcript_row(conversation_id: int, event_id: int, msg: InboundMessage) -> Message:
    text = _transcript_text(msg)
    return Message(
        conversation_id=conversation_id,
        direction="in",
        sender="customer",
        text=text,
        kind=msg.kind,
        inbound_event_id=event_id,
    )


async def _conversation_for(session: AsyncSession, msg: InboundMessage) -> Conversation:
    conversation = await session.scalar(
        select(Conversation).where(
            Conversation.channel == msg.channel, Conversation.chat_id == msg.chat_id
        )
    )
    if conversation is not None:
        return conversation
    identity = await _identity_for(session, msg)
    conversation = Conversation(
        customer_id=identity.customer_id,
        identity_id=identity.id,
        channel=msg.channel,
        chat_id=msg.chat_id,
        mode="bot",
        state={},
    )
    async with session.begin_nested():
        session.add(conversation)
    return conversation


async def _identity_for(session: AsyncSession, msg: InboundMessage) -> ChannelIdentity:
    identity = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == msg.channel, ChannelIdentity.external_id == msg.user_id
        )
    )
    if identity is not None:
        return identity
    customer = Customer(display_name=msg.display_name, attributes={}, last_contact_at=utcnow())
    async with session.begin_nested():
        session.add(customer)
        await session.flush()
        identity = ChannelIdentity(
            customer_id=customer.id,
            channel=msg.channel,
            external_id=msg.user_id,
            display_name=msg.display_name,
        )
        session.add(identity)
    return identity


_Queued = tuple[InboundMessage, "asyncio.Future[IngestResult]"]


class InboxWriter:
    """Group commit for the inbox: callers queue, one flusher task commits them in batches.

    The flusher is a task of its own, so a caller that goes away (a client hanging up) cannot
    cancel a commit that others wait for. Under no load a batch is one event and costs what
    :func:`ingest` costs; under load one transaction carries many webhook requests.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, max_batch: int = MAX_BATCH
    ) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._queue: list[_Queued] = []
        self._flusher: asyncio.Task[None] | None = None

    async def store(self, msg: InboundMessage) -> IngestResult:
        """Store ``msg``; returns only after the transaction holding it has committed."""
        done: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieve)  # a caller that went away leaves no warning behind
        self._queue.append((msg, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all(), name="crmbot-inbox-writer")
        return await asyncio.shield(done)

    async def _flush_all(self) -> None:
        batch: list[_Queued] = []
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._flush(batch)
        except BaseException:  # shutdown cancelled the flusher: nobody may wait forever
            for _, fut in [*batch, *self._queue]:
                if not fut.done():
                    fut.set_exception(RuntimeError("inbox writer stopped; not stored"))
            self._queue.clear()
            raise

    async def _flush(self, batch: list[_Queued]) -> None:
        try:
            async with self._sessions.begin() as session:
                results = await ingest_batch(session, [m for m, _ in batch])
        except Exception:
            log.info("inbox batch of %d failed; storing its events one by one", len(batch),
                     exc_info=True)
            for msg, fut in batch:  # in queue order: one chat's events keep their order
                await self._store_one(msg, fut)
            return
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def _store_one(self, msg: InboundMessage, fut: asyncio.Future[IngestResult]) -> None:
        try:
            result = await ingest(self._sessions, msg)
        except Exception as exc:
            if not fut.done():
                fut.set_exception(exc)
            return
        if not fut.done():
            fut.set_result(result)


def _retrieve(fut: asyncio.Future[IngestResult]) -> None:
    if not fut.cancelled():
        fut.exception()


async def ingest_batch(session: AsyncSession, msgs: list[InboundMessage]) -> list[IngestResult]:
    """Store several events in the caller's transaction with a few Core statements; one
    result per message, in order. Raises (IntegrityError) when another process created one of
    the same conversations meanwhile: the caller then stores them one by one."""
    keys = [(m.channel, m.event_id) for m in msgs]
    known = await _known_events(session, keys)
    conversations = await _conversations(session, msgs, known)
    now = utcnow()
    new: dict[tuple[str, str], InboundMessage] = {}
    for msg, key in zip(msgs, keys, strict=True):
        if key not in known and key not in new:
            new[key] = msg
    inserted = await _insert_events(session, new, conversations, now)
    missing = [k for k in new if k not in inserted]
    if missing:  # another process stored them between our look-up and our insert
        known.update(await _known_events(session, missing))
    await _insert_transcript(session, new, inserted, conversations)
    await _touch_conversations(session, {conversations[_chat(m)] for m in new.values()}, now)
    results: list[IngestResult] = []
    first: set[tuple[str, str]] = set()
    for key in keys:
        if key in inserted and key not in first:
            first.add(key)
            results.append(IngestResult(inserted[key][1], duplicate=False))
        elif key in inserted:
            results.append(IngestResult(inserted[key][1], duplicate=True))
        else:
            results.append(IngestResult(known[key], duplicate=True))
    return results


def _chat(msg: InboundMessage) -> tuple[str, str]:
    return (msg.channel, msg.chat_id)


async def _known_events(
    session: AsyncSession, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """(channel, event_id) -> conversation id of the events already stored."""
    rows = await _by_pair(session, _EVENTS.c.channel, _EVENTS.c.event_id, set(keys),
                          _EVENTS.c.conversation_id)
    return {(c, e): int(cid) for c, e, cid in rows}


async def _by_pair(
    session: AsyncSession, first: Column[str], second: Column[str],
    wanted: set[tuple[str, str]], *columns: Column[Any],
) -> list[Sequence[Any]]:
    """The rows whose (first, second) is one of ``wanted``, with ``columns`` after those two,
    in one statement: an IN list per column, which also matches crossed pairs (a's channel
    with b's id), so the exact pairs are picked out here."""
    rows = await session.execute(
        select(first, second, *columns).where(
            first.in_(sorted({a for a, _ in wanted})),
            second.in_(sorted({b for _, b in wanted})),
        )
    )
    return [row for row in rows.all() if (row[0], row[1]) in wanted]


async def _conversations(
    session: AsyncSession, msgs: list[InboundMessage], known: dict[tuple[str, str], int]
) -> dict[tuple[str, str], int]:
    """(channel, chat_id) -> conversation id for every new event, creating what is missing."""
    needed = {_chat(m): m for m in msgs if (m.channel, m.event_id) not in known}
    if not needed:
        return {}
    rows = await _by_pair(session, _CONVERSATIONS.c.channel, _CONVERSATIONS.c.chat_id,
                          set(needed), _CONVERSATIONS.c.id)
    found = {(c, chat): int(cid) for c, chat, cid in rows}
    missing = [msg for key, msg in needed.items() if key not in found]
    if missing:
        found.update(await _create_conversations(session, missing))
    return found


async def _create_conversations(
    session: AsyncSession, msgs: list[InboundMessage]
) -> dict[tuple[str, str], int]:
    """The conversations of new chats, with the customers and identities that are new too: one
    look-up and at most three multi-row INSERTs for the whole batch, however many chats are new
    (it was three statements per new chat). Plain INSERTs (no savepoint): a concurrent creator
    makes the batch fail and retry event by event through :func:`ingest`, which handles that
    race."""
    identities = await _identities(session, msgs)
    senders = {(m.channel, m.user_id): m for m in msgs}
    new_people = {key: m for key, m in senders.items() if key not in identities}
    if new_people:
        identities.update(await _insert_people(session, list(new_people.values())))
    now = utcnow()
    rows = [{
        "customer_id": identities[(m.channel, m.user_id)][1],
        "identity_id": identities[(m.channel, m.user_id)][0], "channel": m.channel,
        "chat_id": m.chat_id, "mode": "bot", "state": {}, "created_at": now,
    } for m in msgs]
    result = await session.execute(
        insert(_CONVERSATIONS).returning(
            _CONVERSATIONS.c.id, _CONVERSATIONS.c.channel, _CONVERSATIONS.c.chat_id),
        rows,
    )
    return {(c, chat): int(cid) for cid, c, chat in result.all()}


async def _identities(
    session: AsyncSession, msgs: list[InboundMessage]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(channel, user id) -> (identity id, customer id) of the senders already known."""
    rows = await _by_pair(session, _IDENTITIES.c.channel, _IDENTITIES.c.external_id,
                          {(m.channel, m.user_id) for m in msgs},
                          _IDENTITIES.c.id, _IDENTITIES.c.customer_id)
    return {(c, u): (int(i), int(cust)) for c, u, i, cust in rows}


async def _insert_people(
    session: AsyncSession, msgs: list[InboundMessage]
) -> dict[tuple[str, str], tuple[int, int]]:
    """A customer and an identity for each sender (distinct); the customers' ids come back in
    the order of the rows (``sort_by_parameter_order``, the insert sentinel of migration
    0013), the identities' by their unique (channel, external id)."""
    now = utcnow()
    customers = await session.execute(
        insert(_CUSTOMERS).returning(_CUSTOMERS.c.id, sort_by_parameter_order=True),
        [{"display_name": m.display_name, "attributes": {}, "last_contact_at": now,
          "created_at": now} for m in msgs],
    )
    customer_ids = [int(i) for i in customers.scalars().all()]
    result = await session.execute(
        insert(_IDENTITIES).returning(
            _IDENTITIES.c.id, _IDENTITIES.c.channel, _IDENTITIES.c.external_id),
        [{"customer_id": cust, "channel": m.channel, "external_id": m.user_id,
          "display_name": m.display_name, "created_at": now}
         for m, cust in zip(msgs, customer_ids, strict=True)],
    )
    by_key = {(m.channel, m.user_id): cust for m, cust in zip(msgs, customer_ids, strict=True)}
    return {(c, u): (int(i), by_key[(c, u)]) for i, c, u in result.all()}


async def _insert_events(
    session: AsyncSession,
    new: dict[tuple[str, str], InboundMessage],
    conversations: dict[tuple[str, str], int],
    now: datetime,
) -> dict[tuple[str, str], tuple[int, int]]:
    """One multi-row INSERT … ON CONFLICT DO NOTHING; (channel, event_id) -> (id, conv id)."""
    if not new:
        return {}
    rows = [
        {"channel": m.channel, "event_id": m.event_id, "conversation_id": conversations[_chat(m)],
         "payload": m.to_json(), "received_at": now, "attempts": 0}
        for m in new.values()
    ]
    stmt = (
        dialect_insert(session)(_EVENTS)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["channel", "event_id"])
        .returning(_EVENTS.c.id, _EVENTS.c.channel, _EVENTS.c.event_id,
                   _EVENTS.c.conversation_id)
    )
    result = await session.execute(stmt)
    return {(c, e): (int(i), int(cid)) for i, c, e, cid in result.all()}


async def _insert_transcript(
    session: AsyncSession,
    new: dict[tuple[str, str], InboundMessage],
    inserted: dict[tuple[str, str], tuple[int, int]],
    conversations: dict[tuple[str, str], int],
) -> None:
    rows = [
        {"conversation_id": conversations[_chat(m)], "direction": "in", "sender": "customer",
         "text": _transcript_text(m), "kind": m.kind, "inbound_event_id": inserted[key][0],
         "kb_entry_id": None, "confidence": None, "created_at": utcnow()}
        for key, m in new.items()
        if key in inserted
    ]
    if rows:
        await session.execute(insert(_MESSAGES).values(rows))


async def _touch_conversations(session: AsyncSession, ids: set[int], now: datetime) -> None:
    if not ids:
        return
    stmt = (
        update(_CONVERSATIONS)
        .where(_CONVERSATIONS.c.id == bindparam("conv_id"))
        .values(last_message_at=bindparam("seen_at"))
    )
    await session.execute(stmt, [{"conv_id": i, "seen_at": now} for i in sorted(ids)])
