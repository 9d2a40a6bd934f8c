"""The inbox: store an inbound event once, with its customer, identity and conversation.

Called by every channel adapter before it acknowledges the platform. One transaction; a repeat
of (channel, event_id) changes nothing and reports ``duplicate``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.messages import InboundMessage
from storage.models import (
    ChannelIdentity,
    Conversation,
    Customer,
    InboundEvent,
    Message,
    utcnow,
)
from storage.sql import insert_ignore


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


def _transcript_row(conversation_id: int, event_id: int, msg: InboundMessage) -> Message:
    text = msg.text if msg.kind != "callback" else (msg.text or msg.callback_data or "")
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
