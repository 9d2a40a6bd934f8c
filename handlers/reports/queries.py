"""The SQL of a report: every query aggregates or filters on an indexed time column.

The heavy one, over the transcript, is in deflection.py. Index use: ``ix_messages_created``
(range on created_at), the tickets' ``created_at``/``resolved_at``/``first_response_at``
indexes (migration 0009reports) and ``ix_tickets_backlog`` (0011reports). What can be counted
is counted here (tickets opened by every key, survey answers by score); only tickets answered
or resolved in the period come back one row each, as integers, because their durations need
the business-hours clock and exact percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, Text, and_, case, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from handlers.reports.localday import as_date, local_day
from handlers.reports.period import Period
from storage.models import Customer, Message, Ticket, TicketSlaEvent
from storage.models_admin import UnansweredQuestion
from storage.models_feedback import Feedback
from storage.models_help import HelpArticleStat, HelpSearch
from storage.models_surveys import SurveyAnswer, SurveyRun


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class OpenedCell:
    """Tickets opened in the period with the same channel, language and assignee."""

    channel: str
    locale: str
    assignee: str | None
    escalations: int  # of them opened from a conversation
    n: int


@dataclass(frozen=True, slots=True)
class Opened:
    """Tickets opened in the period: by channel/language/assignee, by reason, by local day."""

    cells: list[OpenedCell]
    reasons: dict[str, int]
    days: dict[str, int]  # YYYY-MM-DD -> tickets


@dataclass(frozen=True, slots=True)
class TicketTimes:
    """A ticket first answered or resolved in the period; instants in epoch microseconds."""

    channel: str
    locale: str
    assignee: str | None
    created_us: int
    first_response_us: int | None
    resolved_us: int | None


def epoch_us(col: Any, dialect: str) -> ColumnElement[Any]:
    """SQL: a timestamp column as integer microseconds since 1970 (exact on both backends).

    Integers rather than datetimes: no per-row parsing in Python, and ``us / 10**6`` is the
    very float ``datetime.timestamp()`` and ``timedelta.total_seconds()`` give, so durations
    do not change by a bit. SQLite stores ``YYYY-MM-DD HH:MM:SS.ffffff`` (naive UTC).
    """
    if dialect == "postgresql":
        return cast(func.extract("epoch", col) * 1000000, BigInteger)
    # whole seconds only: SQLite's date functions round fractions to milliseconds
    seconds = cast(func.strftime("%s", func.substr(col, 1, 19)), Integer)
    return seconds * 1000000 + cast(func.substr(col, 21, 6), Integer)


def _locale() -> ColumnElement[str]:
    return func.coalesce(Customer.locale, literal("unknown"))


async def tickets_opened(session: AsyncSession, period: Period) -> Opened:
    """Tickets opened in the period, counted in SQL: one small grouping per table that shows
    them (by channel, language and assignee; by reason; by day), not one over every key at
    once, which gave ~20,000 cells per 4 weeks at 50,000 tickets."""
    dialect = session.get_bind().dialect.name
    t = Ticket
    in_period = (t.created_at >= period.start, t.created_at < period.end)
    keys = (t.channel, _locale(), t.assignee)
    cells = [OpenedCell(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in (await session.execute(
        select(*keys, func.count(t.conversation_id), func.count())
        .join(Customer, Customer.id == t.customer_id)
        .where(*in_period).group_by(*keys))).all()]
    reasons = {str(r[0]): int(r[1]) for r in (await session.execute(
        select(t.reason, func.count()).where(*in_period).group_by(t.reason))).all()}
    day = local_day(t.created_at, dialect, period.tz, period.start, period.end)
    days = {as_date(r[0]).isoformat(): int(r[1]) for r in (await session.execute(
        select(day, func.count()).where(*in_period).group_by(day))).all()}
    return Opened(cells, reasons, days)


async def ticket_times(session: AsyncSession, period: Period) -> list[TicketTimes]:
    """Tickets first answered or resolved in the period (for response and resolution times)."""
    dialect = session.get_bind().dialect.name
    s, e = period.start, period.end
    stmt = (
        select(Ticket.channel, _locale(), Ticket.assignee, epoch_us(Ticket.created_at, dialect),
               epoch_us(Ticket.first_response_at, dialect),
               epoch_us(Ticket.resolved_at, dialect))
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(or_(and_(Ticket.first_response_at >= s, Ticket.first_response_at < e),
                   and_(Ticket.resolved_at >= s, Ticket.resolved_at < e)))
    )
    return [TicketTimes(*r) for r in (await session.execute(stmt)).all()]


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
    """One row per run due in the period, with its headline ``score`` answer if any.

    Counted in SQL by (survey, channel, language, agent, score) and expanded here: a few
    hundred rows cross the driver instead of one per run.
    """
    keys = (SurveyRun.survey_id, SurveyRun.channel, SurveyRun.locale, SurveyRun.agent,
            SurveyAnswer.value)
    stmt = (
        select(*keys, func.count())
        .outerjoin(SurveyAnswer, and_(SurveyAnswer.run_id == SurveyRun.id,
                                      SurveyAnswer.question == "score"))
        .where(SurveyRun.survey_id.in_(surveys), SurveyRun.due_at >= period.start,
               SurveyRun.due_at < period.end)
        .group_by(*keys)
        .order_by(*keys)
    )
    out: list[SurveyRow] = []
    for survey, channel, locale, agent, value, n in (await session.execute(stmt)).all():
        out.extend([SurveyRow(survey, channel, locale, agent, value)] * int(n))
    return out


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


async def unanswered_count(session: AsyncSession, period: Period) -> int:
    """Questions the bot could not answer alone in the period."""
    return int((await session.execute(
        select(func.count()).select_from(UnansweredQuestion)
        .where(*_unanswered_in(period)))).scalar_one())


async def unanswered_sample(session: AsyncSession, period: Period,
                            limit: int) -> list[tuple[str, str]]:
    """The newest ``limit`` (text, locale) of them, for clustering."""
    rows = (await session.execute(
        select(UnansweredQuestion.text, UnansweredQuestion.locale)
        .where(*_unanswered_in(period))
        .order_by(UnansweredQuestion.id.desc()).limit(limit))).all()
    return [(str(r[0]), str(r[1])) for r in rows]


async def unmatched_searches(session: AsyncSession, period: Period,
                             limit: int) -> list[tuple[str, str]]:
    """The newest ``limit`` (query, locale) help-center searches without a good match: the
    same kind of knowledge gap as the bot's unanswered questions."""
    rows = (await session.execute(
        select(HelpSearch.query, HelpSearch.locale)
        .where(HelpSearch.created_at >= period.start, HelpSearch.created_at < period.end)
        .order_by(HelpSearch.id.desc()).limit(limit))).all()
    return [(str(r[0]), str(r[1])) for r in rows]


async def sla_events(session: AsyncSession, period: Period) -> dict[str, int]:
    """SLA warnings and breaches reached in the period, by kind (first_response_breach ...)."""
    rows = await session.execute(
        select(TicketSlaEvent.kind, func.count())
        .where(TicketSlaEvent.created_at >= period.start, TicketSlaEvent.created_at < period.end)
        .group_by(TicketSlaEvent.kind))
    return {str(kind): int(n) for kind, n in rows}


async def help_articles(session: AsyncSession, limit: int = 20) -> list[tuple[str, str, int,
                                                                                 int, int]]:
    """The most-read help-center articles (all time): id, locale, views, helpful, not."""
    rows = (await session.execute(
        select(HelpArticleStat.entry_id, HelpArticleStat.locale, HelpArticleStat.views,
               HelpArticleStat.helpful, HelpArticleStat.unhelpful)
        .order_by(HelpArticleStat.views.desc(), HelpArticleStat.entry_id)
        .limit(limit))).all()
    return [(str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]


def _unanswered_in(period: Period) -> tuple[ColumnElement[bool], ...]:
    return (UnansweredQuestion.created_at >= period.start,
            UnansweredQuestion.created_at < period.end)


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

    from storage.consent import PURPOSE

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
