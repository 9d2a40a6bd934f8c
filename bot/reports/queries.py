"""The SQL of a report: every query aggregates or filters on an indexed time column.

The heavy one, over the transcript, is in deflection.py. Index use: ``ix_messages_created``
(range on created_at) and the tickets' ``created_at``/``resolved_at``/``first_response_at``
indexes (migration 0009reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, and_, case, func, literal, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports.period import Period
from storage.models import Customer, Message, Ticket
from storage.models_admin import UnansweredQuestion
from storage.models_feedback import Feedback
from storage.models_surveys import SurveyAnswer, SurveyRun


def _dt(value: Any) -> datetime | None:
    """Timestamps selected as Text: a string on SQLite (naive UTC), a datetime on PostgreSQL."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is UTC else _aware(value)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class TicketRow:
    id: int
    channel: str
    locale: str
    assignee: str | None
    reason: str
    from_conversation: bool
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None


async def tickets(session: AsyncSession, period: Period) -> list[TicketRow]:
    """Tickets opened, first answered or resolved in the period."""
    s, e = period.start, period.end
    stmt = (
        select(Ticket.id, Ticket.channel, func.coalesce(Customer.locale, literal("unknown")),
               Ticket.assignee, Ticket.reason, Ticket.conversation_id,
               type_coerce(Ticket.created_at, Text), type_coerce(Ticket.first_response_at, Text),
               type_coerce(Ticket.resolved_at, Text))
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(or_(and_(Ticket.created_at >= s, Ticket.created_at < e),
                   and_(Ticket.first_response_at >= s, Ticket.first_response_at < e),
                   and_(Ticket.resolved_at >= s, Ticket.resolved_at < e)))
    )
    out = []
    for r in (await session.execute(stmt)).all():
        created = _dt(r[6])
        assert created is not None
        out.append(TicketRow(r[0], r[1], r[2], r[3], r[4], r[5] is not None, created,
                             _dt(r[7]), _dt(r[8])))
    return out


async def backlog(session: AsyncSession, at: datetime) -> int:
    """Tickets opened before ``at`` and not resolved by then."""
    stmt = select(func.count()).select_from(Ticket).where(
        Ticket.created_at < at, or_(Ticket.resolved_at.is_(None), Ticket.resolved_at >= at))
    return int((await session.execute(stmt)).scalar_one())


@dataclass(frozen=True, slots=True)
class SurveyRow:
    survey_id: str
    channel: str
    locale: str
    agent: str | None
    value: int | None


async def survey_scores(session: AsyncSession, period: Period,
                        surveys: tuple[str, ...]) -> list[SurveyRow]:
    """One row per run due in the period, with its headline ``score`` answer if any."""
    stmt = (
        select(SurveyRun.survey_id, SurveyRun.channel, SurveyRun.locale, SurveyRun.agent,
               SurveyAnswer.value)
        .outerjoin(SurveyAnswer, and_(SurveyAnswer.run_id == SurveyRun.id,
                                      SurveyAnswer.question == "score"))
        .where(SurveyRun.survey_id.in_(surveys), SurveyRun.due_at >= period.start,
               SurveyRun.due_at < period.end)
    )
    return [SurveyRow(*r) for r in (await session.execute(stmt)).all()]


async def top_entries(session: AsyncSession, period: Period,
                      limit: int = 10) -> list[tuple[str, int, int, int]]:
    """(entry id, answers, helpful, not helpful), most answered first."""
    m = Message
    answered = and_(m.sender == "bot", m.kb_entry_id.is_not(None))
    fb = m.kind == "feedback"
    stmt = (
        select(m.kb_entry_id,
               func.sum(case((answered, 1), else_=0)).label("answers"),
               func.sum(case((and_(fb, m.text == "helpful"), 1), else_=0)),
               func.sum(case((and_(fb, m.text == "not_helpful"), 1), else_=0)))
        .where(m.created_at >= period.start, m.created_at < period.end,
               m.kb_entry_id.is_not(None))
        .group_by(m.kb_entry_id)
        .order_by(func.sum(case((answered, 1), else_=0)).desc(), m.kb_entry_id)
        .limit(limit)
    )
    return [(str(r[0]), int(r[1]), int(r[2]), int(r[3]))
            for r in (await session.execute(stmt)).all()]


async def unanswered(session: AsyncSession, period: Period,
                     limit: int) -> tuple[int, list[tuple[str, str]]]:
    """How many, and the newest ``limit`` (text, locale) for clustering."""
    where = (UnansweredQuestion.created_at >= period.start,
             UnansweredQuestion.created_at < period.end)
    total = (await session.execute(
        select(func.count()).select_from(UnansweredQuestion).where(*where))).scalar_one()
    rows = (await session.execute(
        select(UnansweredQuestion.text, UnansweredQuestion.locale).where(*where)
        .order_by(UnansweredQuestion.id.desc()).limit(limit))).all()
    return int(total), [(str(r[0]), str(r[1])) for r in rows]


async def feedback(session: AsyncSession, period: Period) -> tuple[int, float | None]:
    """Ratings and reviews received: count, average rating (of those with one)."""
    stmt = select(func.count(), func.avg(Feedback.rating)).where(
        Feedback.created_at >= period.start, Feedback.created_at < period.end)
    n, avg = (await session.execute(stmt)).one()
    return int(n), (float(avg) if avg is not None else None)


async def broadcasts(session: AsyncSession, period: Period) -> tuple[int, int] | None:
    """(recipients reached, opt-outs) for broadcasts started in the period; None if the
    broadcast feature is not installed.

    Reached = recipients whose announcement the channel accepted (outbox item ``sent``).
    Opt-outs = customers who switched announcements off during the period (their
    ``consent_history``), which is what a broadcast costs in audience.
    """
    try:
        from storage.models_broadcast import Broadcast, BroadcastRecipient
    except ImportError:
        return None
    from storage.models import OutboxItem

    reached = (await session.execute(
        select(func.count()).select_from(BroadcastRecipient)
        .join(Broadcast, Broadcast.id == BroadcastRecipient.broadcast_id)
        .join(OutboxItem, OutboxItem.id == BroadcastRecipient.outbox_item_id)
        .where(Broadcast.started_at >= period.start, Broadcast.started_at < period.end,
               OutboxItem.status == "sent"))).scalar_one()
    return int(reached), await _optouts(session, period)


async def _optouts(session: AsyncSession, period: Period) -> int:
    from sqlalchemy import cast

    from bot.broadcast.consent import PURPOSE

    rows = await session.scalars(select(Customer.attributes).where(
        cast(Customer.attributes, Text).like(f"%{PURPOSE}%")))
    n = 0
    for attrs in rows:
        for change in (attrs or {}).get("consent_history") or []:
            if not isinstance(change, dict) or change.get("purpose") != PURPOSE:
                continue
            if change.get("value") is False and _when_in(change.get("at"), period):
                n += 1
    return n


def _when_in(at: Any, period: Period) -> bool:
    try:
        when = _aware(datetime.fromisoformat(str(at)))
    except ValueError:
        return False
    return when is not None and period.start <= when < period.end
