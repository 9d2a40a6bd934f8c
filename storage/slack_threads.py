"""The Slack desk's own tables: where each ticket's thread lives, and the SLA reminders.

Only the Slack channel (bot/channels/slack/) uses these; tickets know nothing of Slack.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Ticket
from storage.models_slack import SlackThread, TicketSlaReminder
from storage.sql import dialect_insert
from storage.ticket_states import OPEN, OPEN_STATUSES


async def record_thread(session: AsyncSession, ticket_id: int, channel: str, ts: str) -> None:
    """Remember where the ticket's thread lives (only the first root post counts)."""
    await session.execute(
        dialect_insert(session)(SlackThread.__table__)
        .values(ticket_id=ticket_id, channel=channel, thread_ts=ts)
        .on_conflict_do_nothing(index_elements=["ticket_id"]))


async def thread_of(session: AsyncSession, ticket_id: int) -> tuple[str, str] | None:
    row = (await session.execute(select(SlackThread.channel, SlackThread.thread_ts)
                                 .where(SlackThread.ticket_id == ticket_id))).first()
    return (str(row[0]), str(row[1])) if row is not None else None


async def by_thread(session: AsyncSession, channel: str, thread_ts: str) -> Ticket | None:
    return await session.scalar(
        select(Ticket).join(SlackThread, SlackThread.ticket_id == Ticket.id)
        .where(SlackThread.channel == channel, SlackThread.thread_ts == thread_ts)
    )


async def overdue_unclaimed(session: AsyncSession, minutes: int, now: datetime) -> list[Ticket]:
    """Open tickets posted to the desk, unclaimed for ``minutes``, not yet reminded about."""
    reminded = select(TicketSlaReminder.ticket_id)
    stmt = (
        select(Ticket)
        .join(SlackThread, SlackThread.ticket_id == Ticket.id)
        .where(
            Ticket.status == OPEN,
            Ticket.assignee.is_(None),
            Ticket.created_at <= now - timedelta(minutes=minutes),
            Ticket.id.not_in(reminded),
        )
        .order_by(Ticket.id)
        .limit(100)
    )
    return list((await session.scalars(stmt)).all())


async def mark_reminded(session: AsyncSession, ticket_id: int, now: datetime) -> bool:
    """True for the one caller (of possibly several processes) that records it first."""
    table: Any = TicketSlaReminder.__table__
    stmt = (
        dialect_insert(session)(table)
        .values(ticket_id=ticket_id, kind="unclaimed", reminded_at=now)
        .on_conflict_do_nothing(index_elements=["ticket_id"])
        .returning(table.c.ticket_id)
    )
    return (await session.execute(stmt)).first() is not None


async def open_with_thread(session: AsyncSession, limit: int = 500) -> list[Ticket]:
    """Unresolved tickets that have a desk thread, oldest first (the SLA watch's work)."""
    stmt = (select(Ticket).join(SlackThread, SlackThread.ticket_id == Ticket.id)
            .where(Ticket.status.in_(OPEN_STATUSES)).order_by(Ticket.id).limit(limit))
    return list((await session.scalars(stmt)).all())


async def open_thread_of_conversation(
    session: AsyncSession, conversation_id: int
) -> tuple[Ticket, str] | None:
    """The conversation's newest unresolved ticket that has a thread, and the thread's
    channel."""
    row = (await session.execute(
        select(Ticket, SlackThread.channel).join(SlackThread, SlackThread.ticket_id == Ticket.id)
        .where(Ticket.conversation_id == conversation_id, Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.id.desc()).limit(1))).first()
    return (row[0], str(row[1])) if row is not None else None
