"""Ticket repository: claims, staff events into the inbox, SLA, workload.

Staff actions taken in Slack (a reply in a ticket's thread, a Claim/Resolve/Back-to-bot button)
belong to the *customer's* conversation, whose inbox key is the customer's (channel, chat_id).
:func:`ingest_staff` (called by ``Core.ingest`` for a message with ``staff``) therefore
inserts straight into ``inbound_events`` with the ticket's conversation id, keeping the unique
key ``(channel, event_id)`` (``channel`` is the desk's, e.g. ``slack``) so a redelivered Slack
event is stored once, and the normal processor then handles it in that conversation's order,
in one transaction, exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.clean import BIGINT_MAX
from storage.envelopes import InboundMessage
from storage.inbox import IngestResult
from storage.models import Conversation, InboundEvent, Ticket, TicketSlaEvent, utcnow
from storage.sql import dialect_insert, insert_ignore
from storage.ticket_states import CLAIMED, OPEN, OPEN_STATUSES


async def human_cases(session: AsyncSession, customer_ids: list[int]) -> dict[int, set[int]]:
    """Per customer, the conversations a person handles right now (human mode, open ticket):
    a message on another of the customer's channels joins that case. One statement for a
    whole processing batch; customers without one are absent."""
    rows = await session.execute(
        select(Ticket.customer_id, Conversation.id)
        .join(Conversation, Conversation.id == Ticket.conversation_id)
        .where(
            Ticket.customer_id.in_(customer_ids),
            Ticket.status.in_(OPEN_STATUSES),
            Conversation.mode == "human",
        )
    )
    cases: dict[int, set[int]] = {}
    for customer_id, conversation_id in rows:
        cases.setdefault(customer_id, set()).add(conversation_id)
    return cases


async def ingest_staff(
    sessions: async_sessionmaker[AsyncSession], msg: InboundMessage
) -> IngestResult | None:
    """Store a desk's staff action (``msg.staff``, already cleaned by the caller) in the inbox
    of its ticket's conversation; None if there is no such ticket or it has no conversation.
    ``Core.ingest`` is the one caller."""
    assert msg.staff is not None
    if not 0 < msg.staff.ticket <= BIGINT_MAX:
        return None
    async with sessions.begin() as session:
        ticket = await session.get(Ticket, msg.staff.ticket)
        if ticket is None or ticket.conversation_id is None:
            return None
        new_id = await insert_ignore(
            session,
            InboundEvent.__table__,  # type: ignore[arg-type]
            {
                "channel": msg.channel,
                "event_id": msg.event_id,
                "conversation_id": ticket.conversation_id,
                "payload": msg.to_json(),
                "received_at": utcnow(),
                "attempts": 0,
            },
            ["channel", "event_id"],
        )
        return IngestResult(ticket.conversation_id, duplicate=new_id is None)


async def event_seen(session: AsyncSession, channel: str, event_id: str) -> bool:
    found = await session.scalar(
        select(InboundEvent.id).where(
            InboundEvent.channel == channel, InboundEvent.event_id == event_id
        )
    )
    return found is not None


async def claim(session: AsyncSession, ticket_id: int, assignee: str, now: datetime) -> bool:
    """Assign an unassigned open ticket; False when someone already has it (race-free)."""
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.assignee.is_(None), Ticket.status == OPEN)
        .values(assignee=assignee, status=CLAIMED, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def latest_of_conversation(session: AsyncSession, conversation_id: int) -> Ticket | None:
    """The conversation's newest ticket, open or not (where staff discuss this case)."""
    return await session.scalar(
        select(Ticket).where(Ticket.conversation_id == conversation_id)
        .order_by(Ticket.id.desc()).limit(1)
    )


async def listing(
    session: AsyncSession, assignee: str | None = None, limit: int = 20
) -> list[Ticket]:
    """Unresolved tickets, oldest first; only ``assignee``'s when given."""
    stmt = select(Ticket).where(Ticket.status.in_(OPEN_STATUSES))
    if assignee is not None:
        stmt = stmt.where(Ticket.assignee == assignee)
    return list((await session.scalars(stmt.order_by(Ticket.id).limit(limit))).all())


async def sla_recorded(session: AsyncSession, ticket_ids: list[int]) -> set[tuple[int, str]]:
    rows = await session.execute(select(TicketSlaEvent.ticket_id, TicketSlaEvent.kind)
                                 .where(TicketSlaEvent.ticket_id.in_(ticket_ids)))
    return {(int(t), str(k)) for t, k in rows}


async def record_sla_event(session: AsyncSession, ticket_id: int, kind: str,
                           deadline: datetime, now: datetime) -> bool:
    """True for the one caller (of possibly several processes) that records it first."""
    table: Any = TicketSlaEvent.__table__
    stmt = (
        dialect_insert(session)(table)
        .values(ticket_id=ticket_id, kind=kind, deadline=deadline, created_at=now)
        .on_conflict_do_nothing(index_elements=["ticket_id", "kind"])
        .returning(table.c.ticket_id)
    )
    return (await session.execute(stmt)).first() is not None


async def workload(session: AsyncSession,
                   agents: list[str]) -> dict[str, tuple[int, datetime | None]]:
    """Per agent: open tickets assigned to them, and when they were last given one."""
    rows = await session.execute(
        select(Ticket.assignee,
               func.count().filter(Ticket.status.in_(OPEN_STATUSES)),
               func.max(Ticket.claimed_at))
        .where(Ticket.assignee.in_(agents)).group_by(Ticket.assignee))
    return {str(a): (int(n or 0), last) for a, n, last in rows}
