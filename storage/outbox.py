"""The outbox table: enqueue in the caller's transaction, claim due heads, record outcomes.

Ordering: an item is claimable only when no older item with the same ``order_key`` is still
pending or being sent, so one conversation's replies leave strictly in order. Claims are leases:
an item whose sender died becomes claimable again when its lease runs out (the one documented
window where a message may be sent twice).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.envelopes import OutboundMessage
from storage.models import Message, OutboxItem, utcnow
from storage.sql import is_postgres

ACTIVE = ("pending", "sending")
_TABLE: Table = OutboxItem.__table__  # type: ignore[assignment]


def enqueue(
    session: AsyncSession,
    message: OutboundMessage,
    *,
    order_key: str,
    conversation_id: int | None = None,
    message_id: int | None = None,
    transcript: Message | None = None,
    not_before: datetime | None = None,
) -> OutboxItem:
    """Add one item to the caller's transaction: it exists only if that transaction commits."""
    item = OutboxItem(
        order_key=order_key,
        channel=message.channel,
        conversation_id=conversation_id,
        message_id=message_id,
        payload=message.to_json(),
        status="pending",
        attempts=0,
        next_attempt_at=not_before or utcnow(),
    )
    if transcript is not None:
        item.message = transcript
    session.add(item)
    return item


async def claim_due(
    session: AsyncSession, *, limit: int, lease: timedelta, channels: list[str]
) -> list[OutboxItem]:
    """Lease up to ``limit`` due head-of-line items of the given channels, oldest first.

    One statement (UPDATE … WHERE id IN (SELECT … [FOR UPDATE SKIP LOCKED]) RETURNING), Core
    level: the items come back as detached objects, which is all the dispatcher needs."""
    now = utcnow()
    table = _TABLE
    older = table.alias("older")
    blocked = exists().where(
        older.c.order_key == table.c.order_key,
        older.c.id < table.c.id,
        older.c.status.in_(ACTIVE),
    )
    due = or_(
        and_(table.c.status == "pending", table.c.next_attempt_at <= now),
        and_(table.c.status == "sending", table.c.lease_until < now),
    )
    pick = (
        select(table.c.id)
        .where(due, table.c.channel.in_(channels), ~blocked)
        .order_by(table.c.id)
        .limit(limit)
    )
    if is_postgres(session):
        pick = pick.with_for_update(skip_locked=True, of=table)
    stmt = (
        update(table)
        .where(table.c.id.in_(pick))
        .values(status="sending", lease_until=now + lease, attempts=table.c.attempts + 1)
        .returning(*table.c)
    )
    rows = (await session.execute(stmt)).mappings().all()
    return sorted((OutboxItem(**row) for row in rows), key=lambda item: item.id)


async def last_sent_at(session: AsyncSession, channel: str) -> datetime | None:
    from sqlalchemy import func

    value = await session.scalar(
        select(func.max(OutboxItem.sent_at)).where(OutboxItem.channel == channel)
    )
    return value if isinstance(value, datetime) else None


async def release_all_claims(session: AsyncSession) -> int:
    """Every leased item back to pending (only safe when no other process can be sending)."""
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.status == "sending")
        .values(status="pending", lease_until=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def mark_sent_many(session: AsyncSession, sent: list[tuple[int, str | None]]) -> None:
    """Mark many items sent in one statement batch (the dispatcher's group commit)."""
    now = utcnow()
    await session.execute(
        update(OutboxItem),
        [
            {"id": item_id, "status": "sent", "sent_at": now, "external_id": external_id,
             "lease_until": None}
            for item_id, external_id in sent
        ],
    )


async def reschedule(session: AsyncSession, item_id: int, delay: float, error: str) -> None:
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(
            status="pending",
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            last_error=error[:2000],
            lease_until=None,
        )
    )


async def release(session: AsyncSession, item_id: int, delay: float, attempts: int) -> None:
    """Give a claim back unsent, without counting an attempt (rate-limited, or waited too long
    for its lease). Only while the claim is still ours: every claim raises ``attempts``, so an
    item taken again after its lease ran out has another count and is left alone."""
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id, OutboxItem.status == "sending",
               OutboxItem.attempts == attempts)
        .values(
            status="pending",
            attempts=OutboxItem.attempts - 1,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            lease_until=None,
        )
    )


async def mark_failed(session: AsyncSession, item_id: int, error: str) -> None:
    """A permanent failure: the item is a dead letter, visible to admins, never retried."""
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(status="failed", last_error=error[:2000], lease_until=None)
    )


async def active_count(session: AsyncSession, channels: list[str]) -> int:
    """Items still to be delivered (pending or being sent) on these channels."""
    from sqlalchemy import func

    stmt = select(func.count()).where(
        OutboxItem.status.in_(ACTIVE), OutboxItem.channel.in_(channels)
    )
    return int(await session.scalar(stmt) or 0)


def payload_of(item: OutboxItem) -> OutboundMessage:
    data: dict[str, Any] = item.payload
    return OutboundMessage.from_json(data)
