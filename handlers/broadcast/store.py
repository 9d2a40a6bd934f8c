"""Broadcast rows: create, change status, and read progress.

Progress is derived, never counted twice: a recipient that is still ``pending`` or was
``skipped`` says so itself; once enqueued, its outbox item's status is the truth (sent,
failed, still pending). A failed item whose identity is marked unreachable counts as
``unreachable``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.broadcast.spec import BroadcastSpec
from storage.models import ChannelIdentity, Conversation, OutboxItem, utcnow
from storage.models_broadcast import Broadcast, BroadcastRecipient

STATUSES = ("draft", "running", "paused", "cancelled", "done")
PROGRESS_KEYS = ("total", "sent", "failed", "unreachable", "pending", "opted_out",
                 "cancelled", "uncertain")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "send": ("draft",),
    "pause": ("running",),
    "resume": ("paused",),
    "cancel": ("draft", "running", "paused"),
    # At-least-once for the few "uncertain" recipients (in flight at a crash), when the operator
    # prefers a possible second copy to a possible miss: Telegram cannot tell which arrived.
    "resend-uncertain": ("running", "paused", "done"),
}


class TransitionError(ValueError):
    """E.g. resuming a broadcast that is not paused: the message says what is possible."""


async def create(session: AsyncSession, spec: BroadcastSpec, actor: str | None) -> Broadcast:
    row = Broadcast(name=spec.name, status="draft", spec=spec.model_dump(mode="json"),
                    send_at=spec.schedule.at, materialized=False, last_customer_id=0,
                    created_by=actor, created_at=utcnow())
    session.add(row)
    await session.flush()
    return row


async def get(session: AsyncSession, broadcast_id: int) -> Broadcast | None:
    return await session.get(Broadcast, broadcast_id)


async def transition(
    session: AsyncSession, broadcast_id: int, action: str, *, send_at: datetime | None = None
) -> Broadcast:
    """send / pause / resume / cancel; TransitionError when not allowed from the status."""
    row = await session.get(Broadcast, broadcast_id, with_for_update=True)
    if row is None:
        raise LookupError(f"broadcast {broadcast_id} does not exist")
    if row.status not in TRANSITIONS[action]:
        raise TransitionError(
            f"cannot {action} broadcast {broadcast_id}: it is {row.status} "
            f"(possible from {', '.join(TRANSITIONS[action])})")
    if action == "send":
        row.status, row.started_at = "running", utcnow()
        if send_at is not None:
            row.send_at = send_at
    elif action == "pause":
        row.status = "paused"
    elif action == "resume":
        row.status = "running"
    elif action == "resend-uncertain":
        await _requeue_uncertain(session, row)
    else:
        row.status, row.finished_at = "cancelled", utcnow()
        await session.execute(
            update(BroadcastRecipient)
            .where(BroadcastRecipient.broadcast_id == broadcast_id,
                   BroadcastRecipient.status == "pending")
            .values(status="skipped", reason="cancelled"))
    return row


async def _requeue_uncertain(session: AsyncSession, row: Broadcast) -> None:
    """Back to ``pending``: the runner enqueues them again, through the same consent check."""
    await session.execute(
        update(BroadcastRecipient)
        .where(BroadcastRecipient.broadcast_id == row.id,
               BroadcastRecipient.status == "skipped", BroadcastRecipient.reason == "uncertain")
        .values(status="pending", reason=None, outbox_item_id=None))
    if row.status == "done":
        row.status, row.finished_at = "running", None


async def progress(session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    counts = dict.fromkeys(PROGRESS_KEYS, 0)
    rows = await session.execute(
        select(BroadcastRecipient.status, BroadcastRecipient.reason, func.count())
        .where(BroadcastRecipient.broadcast_id == broadcast_id,
               BroadcastRecipient.status.in_(("pending", "skipped")))
        .group_by(BroadcastRecipient.status, BroadcastRecipient.reason))
    for status, reason, n in rows.all():
        key = "pending" if status == "pending" else str(reason)
        counts[key if key in counts else "failed"] += int(n)
    rows = await session.execute(
        select(OutboxItem.status, ChannelIdentity.unreachable_reason.is_not(None), func.count())
        .select_from(BroadcastRecipient)
        .join(OutboxItem, OutboxItem.id == BroadcastRecipient.outbox_item_id)
        .join(Conversation, Conversation.id == BroadcastRecipient.conversation_id)
        .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
        .where(BroadcastRecipient.broadcast_id == broadcast_id,
               BroadcastRecipient.status.in_(("enqueued", "sending")))
        .group_by(OutboxItem.status, ChannelIdentity.unreachable_reason.is_not(None)))
    for status, unreachable, n in rows.all():
        if status == "sent":
            counts["sent"] += int(n)
        elif status == "failed":
            counts["unreachable" if unreachable else "failed"] += int(n)
        else:
            counts["pending"] += int(n)
    counts["total"] = sum(v for k, v in counts.items() if k != "total")
    return counts


def as_json(row: Broadcast, counts: dict[str, int] | None = None) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    data: dict[str, Any] = {
        "id": row.id, "name": row.name, "status": row.status, "send_at": iso(row.send_at),
        "created_by": row.created_by, "created_at": iso(row.created_at),
        "started_at": iso(row.started_at), "finished_at": iso(row.finished_at),
        "recipients_listed": row.materialized, "spec": row.spec,
    }
    if counts is not None:
        data["progress"] = counts
    return data


async def listing(session: AsyncSession, limit: int = 50) -> list[Broadcast]:
    return list((await session.scalars(
        select(Broadcast).order_by(Broadcast.id.desc()).limit(limit))).all())
