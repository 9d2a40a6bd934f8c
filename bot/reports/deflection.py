"""Conversation-days and their deflection verdicts, computed inside the database.

One INSERT … SELECT fills a temporary table with one row per conversation and local day:
the transcript grouped by (conversation, day), joined to its conversation, customer and the
days a ticket was opened, with the next day's first customer message (``LEAD``) and the
verdict (see metrics.py / docs/reports.md). Small GROUP BY queries over that table then give
the headline, per-day, per-channel and per-language figures, so only a few hundred rows leave
the database even for a million messages. The table is dropped at the end.

The pass reads only the columns of the covering index ``ix_messages_report_conv``; the
"helpful"/"not helpful" presses (the one condition on ``messages.text``) come from the partial
index ``ix_messages_feedback`` and are joined per conversation-day (migration 0011reports).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.reports.localday import as_date, local_day
from bot.reports.period import Period
from storage.models import Conversation, Customer, Message, Ticket

QUIET_KINDS = ("callback", "feedback")  # button presses are not "the customer wrote"
RESOLVED = ("confirmed", "assumed")
WORK_MEM = "256MB"  # the GROUP BY of 1M messages hashes in ~160 MB

_meta = MetaData()
CONV_DAYS = Table(
    "tmp_report_conv_days", _meta,
    Column("conversation_id", BigInteger), Column("customer_id", BigInteger),
    Column("channel", String(32)), Column("locale", String(12)), Column("day", Date),
    Column("n_in", Integer), Column("n_out", Integer), Column("contact", Integer),
    Column("answered", Integer), Column("verdict", String(16)),
    prefixes=["TEMPORARY"],
)


@dataclass
class Figures:
    """What the conversation-days give: headline numbers and per-key breakdowns."""

    head: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    daily: dict[str, list[int]] = field(default_factory=dict)  # day -> [days, msgs, deflected]
    by: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)


def _later_or_equal(a: Any, b: Any, seconds: float, dialect: str,
                    strict: bool = False) -> ColumnElement[bool]:
    """SQL for ``a <= b + seconds`` (``<`` if strict); SQLite keeps timestamps as text."""
    if dialect == "postgresql":
        left, right = a, b + literal(timedelta(seconds=seconds))
    else:
        left, right = func.julianday(a), func.julianday(b) + seconds / 86400.0
    result: ColumnElement[bool] = left < right if strict else left <= right
    return result


def _now(now: datetime, dialect: str) -> Any:
    if dialect == "postgresql":
        return literal(now, DateTime(timezone=True))
    return literal(now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))


def _grouped(period: Period, end: datetime, dialect: str, by_conversation: bool) -> Any:
    """The transcript grouped by (conversation, local day); ``helpful`` comes from _pressed.

    Only columns of ``ix_messages_report_conv`` are read. ``by_conversation`` makes SQLite scan
    that index in conversation order (see :func:`_scan_by_conversation`): a unary ``+`` on
    ``created_at`` (SQLite's documented way) keeps the planner off the time-range index, and
    the covering index, narrower than the table and in group order, is what it takes instead.
    """
    m = Message
    created: Any = m.created_at
    if by_conversation and dialect == "sqlite":
        created = literal_column(f"+{Message.__tablename__}.created_at", m.created_at.type)
    day = local_day(m.created_at, dialect, period.tz, period.start, end)
    customer_msg = and_(m.sender == "customer", m.kind.not_in(QUIET_KINDS))
    answer = and_(m.sender == "bot", m.kb_entry_id.is_not(None))
    stmt = (
        select(
            m.conversation_id.label("cid"), day.label("day"),
            func.sum(case((customer_msg, 1), else_=0)).label("n_customer"),
            func.sum(case((m.direction == "in", 1), else_=0)).label("n_in"),
            func.sum(case((m.direction == "out", 1), else_=0)).label("n_out"),
            func.sum(case((answer, 1), else_=0)).label("n_answers"),
            func.max(case((answer, m.created_at))).label("last_answer"),
            func.min(case((customer_msg, m.created_at))).label("first_customer"),
            func.max(case((customer_msg, m.created_at))).label("last_customer"),
        )
        .where(created >= period.start, created < end)
        .group_by(m.conversation_id, day)
    )
    return stmt.subquery("g")


def _pressed(period: Period, end: datetime, dialect: str) -> Any:
    """(conversation, local day) with a "helpful" / "not helpful" press (partial index)."""
    m = Message
    day = local_day(m.created_at, dialect, period.tz, period.start, end)
    return (
        select(m.conversation_id.label("cid"), day.label("day"),
               func.max(case((m.text == "helpful", 1), else_=0)).label("helpful"),
               func.max(case((m.text == "not_helpful", 1), else_=0)).label("unhelpful"))
        .where(m.kind == "feedback", m.created_at >= period.start, m.created_at < end)
        .group_by(m.conversation_id, day)
        .subquery("fb")
    )


async def _scan_by_conversation(session: AsyncSession, start: datetime, dialect: str) -> bool:
    """SQLite only: scan the whole covering index in conversation order, or a time range?

    SQLite groups with a sorter; fed in conversation order it runs about twice as fast as fed
    in time order, but the ordered scan reads the whole transcript. So it is used when the
    report's span is at least half of the transcript's time span (two index look-ups).
    The choice changes the speed only, never the figures (tested).
    """
    if dialect != "sqlite":
        return False
    m = Message
    lo, hi = (await session.execute(select(func.min(m.created_at),
                                           func.max(m.created_at)))).one()
    if lo is None or hi < start:
        return False
    return bool((hi - max(start, lo)) * 2 >= hi - lo)


def _ticket_days(period: Period, end: datetime, dialect: str) -> Any:
    day = local_day(Ticket.created_at, dialect, period.tz, period.start, end)
    return (select(Ticket.conversation_id.label("cid"), day.label("day")).distinct()
            .where(Ticket.created_at >= period.start, Ticket.created_at < end,
                   Ticket.conversation_id.is_not(None))
            .subquery("td"))


def _fill(period: Period, end: datetime, window_s: float, now: datetime,
          dialect: str, by_conversation: bool = False) -> Any:
    g0 = _grouped(period, end, dialect, by_conversation)
    fb = _pressed(period, end, dialect)
    g = (select(g0, func.coalesce(fb.c.helpful, 0).label("helpful"),
                func.coalesce(fb.c.unhelpful, 0).label("unhelpful"))
         .outerjoin(fb, and_(fb.c.cid == g0.c.cid, fb.c.day == g0.c.day))
         .subquery("gf"))
    td = _ticket_days(period, end, dialect)
    nxt = func.lead(g.c.first_customer).over(partition_by=g.c.cid, order_by=g.c.day)
    w = (select(g, nxt.label("next_first"), (td.c.cid.is_not(None)).label("escalated"))
         .outerjoin(td, and_(td.c.cid == g.c.cid, td.c.day == g.c.day))
         .subquery("w"))
    verdict = case(
        (w.c.escalated, "escalated"),
        (w.c.n_answers == 0, "unanswered"),
        (and_(w.c.helpful == 1, w.c.unhelpful == 0), "confirmed"),
        (w.c.unhelpful == 1, "not_helpful"),
        (and_(w.c.last_customer.is_not(None), w.c.last_customer > w.c.last_answer),
         "returned"),
        (and_(w.c.next_first.is_not(None),
              _later_or_equal(w.c.next_first, w.c.last_answer, window_s, dialect)),
         "returned"),
        # the window is not over yet: now < last answer + window
        (_later_or_equal(_now(now, dialect), w.c.last_answer, window_s, dialect, strict=True),
         "open"),
        else_="assumed",
    )
    locale = func.coalesce(Customer.locale, literal("unknown"))
    rows = (select(w.c.cid, Conversation.customer_id, Conversation.channel, locale, w.c.day,
                   w.c.n_in, w.c.n_out, case((w.c.n_customer > 0, 1), else_=0),
                   case((w.c.n_answers > 0, 1), else_=0), verdict)
            .join(Conversation, Conversation.id == w.c.cid)
            .join(Customer, Customer.id == Conversation.customer_id))
    return insert(CONV_DAYS).from_select([c.name for c in CONV_DAYS.columns], rows)


async def figures(session: AsyncSession, periods: list[Period], window_s: float,
                  now: datetime) -> list[Figures]:
    """Fill the temporary table once for all ``periods`` (same time zone), aggregate each.

    One pass over the transcript serves the report and its comparison period, and three
    queries over the table give every period's figures; it is dropped at the end (all in the
    caller's session).
    """
    dialect = session.get_bind().dialect.name
    span = Period(min(p.start for p in periods), max(p.end for p in periods), periods[0].tz)
    end = span.end + timedelta(seconds=window_s)
    conn = await session.connection()
    drop = text(f"DROP TABLE IF EXISTS {CONV_DAYS.name}")
    await conn.execute(drop)
    if dialect == "postgresql":  # let the big GROUP BY hash in memory (this transaction only)
        await conn.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    await conn.run_sync(lambda c: CONV_DAYS.create(c))
    try:
        ordered = await _scan_by_conversation(session, span.start, dialect)
        await session.execute(_fill(span, end, window_s, now, dialect, ordered))
        out = [_empty() for _ in periods]
        await _sums(session, periods, out)
        await _distinct(session, periods, out)
        return out
    finally:
        await conn.execute(drop)


def _empty() -> Figures:
    out = Figures()
    out.by = {"channel": defaultdict(lambda: defaultdict(int)),
              "locale": defaultdict(lambda: defaultdict(int))}
    return out


def _which(periods: list[Period]) -> Any:
    """SQL: the index of the period a row's day falls in (NULL: none, e.g. the window tail)."""
    day = CONV_DAYS.c.day
    return case(*[(and_(day >= p.first_day, day <= p.last_day), i)
                  for i, p in enumerate(periods)])


async def _sums(session: AsyncSession, periods: list[Period], out: list[Figures]) -> None:
    """Per day, channel and language sums: one scan of the table for all periods."""
    t = CONV_DAYS.c
    which = _which(periods).label("p")
    resolved = func.sum(case((t.verdict.in_(RESOLVED), 1), else_=0))
    rows = await session.execute(
        select(which, t.day, t.channel, t.locale, func.sum(t.n_in), func.sum(t.n_out),
               func.sum(t.contact), func.sum(t.answered),
               func.sum(case((t.verdict == "confirmed", 1), else_=0)),
               func.sum(case((t.verdict == "assumed", 1), else_=0)), resolved)
        .where(which.is_not(None)).group_by(which, t.day, t.channel, t.locale))
    for p, day, channel, locale, n_in, n_out, contact, answered, conf, assumed, res in \
            rows.all():
        fig = out[int(p)]
        vals = {"messages_in": int(n_in), "messages_out": int(n_out),
                "contact_days": int(contact), "bot_answered_days": int(answered),
                "deflected_confirmed": int(conf), "deflected_assumed": int(assumed)}
        for k, v in vals.items():
            fig.head[k] += v
        key = _day_key(day)
        d = fig.daily.setdefault(key, [0, 0, 0])
        d[0] += int(contact)
        d[1] += int(n_in) + int(n_out)
        d[2] += int(res)
        for dim, name in (("channel", channel), ("locale", locale)):
            b = fig.by[dim][name]
            b["messages"] += int(n_in) + int(n_out)
            b["contact_days"] += int(contact)
            b["deflected"] += int(res)


async def _distinct(session: AsyncSession, periods: list[Period], out: list[Figures]) -> None:
    """Distinct customers and conversations overall, by channel and by language.

    Two grouped counts instead of one per breakdown, because the breakdowns are nested: a
    conversation has one channel and its customer one language, and a customer has one
    language. So conversations add up over (channel, language) cells, customers by channel add
    up over languages, and customers overall add up over languages.
    """
    t = CONV_DAYS.c
    which = _which(periods).label("p")
    base = and_(which.is_not(None), t.contact == 1)
    cells = await session.execute(
        select(which, t.channel, t.locale, func.count(t.conversation_id.distinct()),
               func.count(t.customer_id.distinct()))
        .where(base).group_by(which, t.channel, t.locale))
    for p, channel, locale, conversations, customers in cells.all():
        fig = out[int(p)]
        fig.head["conversations"] += int(conversations)
        fig.by["channel"][channel]["conversations"] += int(conversations)
        fig.by["locale"][locale]["conversations"] += int(conversations)
        fig.by["channel"][channel]["customers"] += int(customers)
    by_locale = await session.execute(
        select(which, t.locale, func.count(t.customer_id.distinct()))
        .where(base).group_by(which, t.locale))
    for p, locale, customers in by_locale.all():
        out[int(p)].head["customers"] += int(customers)
        out[int(p)].by["locale"][locale]["customers"] = int(customers)
    for fig in out:
        fig.head.setdefault("customers", 0)
        fig.head.setdefault("conversations", 0)


def _day_key(value: Any) -> str:
    return as_date(value).isoformat() if not isinstance(value, date) else value.isoformat()
