"""Conversation-days and their deflection verdicts, computed inside the database.

One INSERT … SELECT fills a temporary table with one row per conversation and local day:
the transcript grouped by (conversation, day), joined to its conversation, customer and the
days a ticket was opened, with the next day's first customer message (``LEAD``) and the
verdict (see metrics.py / docs/reports.md). Small GROUP BY queries over that table then give
the headline, per-day, per-channel and per-language figures, so only a few hundred rows leave
the database even for a million messages. The table is dropped at the end.
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
WORK_MEM = "64MB"

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


def _grouped(period: Period, end: datetime, dialect: str) -> Any:
    m = Message
    day = local_day(m.created_at, dialect, period.tz, period.start, end)
    customer_msg = and_(m.sender == "customer", m.kind.not_in(QUIET_KINDS))
    answer = and_(m.sender == "bot", m.kb_entry_id.is_not(None))
    fb = m.kind == "feedback"
    return (
        select(
            m.conversation_id.label("cid"), day.label("day"),
            func.sum(case((customer_msg, 1), else_=0)).label("n_customer"),
            func.sum(case((m.direction == "in", 1), else_=0)).label("n_in"),
            func.sum(case((m.direction == "out", 1), else_=0)).label("n_out"),
            func.sum(case((answer, 1), else_=0)).label("n_answers"),
            func.max(case((answer, m.created_at))).label("last_answer"),
            func.min(case((customer_msg, m.created_at))).label("first_customer"),
            func.max(case((customer_msg, m.created_at))).label("last_customer"),
            func.max(case((and_(fb, m.text == "helpful"), 1), else_=0)).label("helpful"),
            func.max(case((and_(fb, m.text == "not_helpful"), 1), else_=0)).label("unhelpful"),
        )
        .where(m.created_at >= period.start, m.created_at < end)
        .group_by(m.conversation_id, day)
        .subquery("g")
    )


def _ticket_days(period: Period, end: datetime, dialect: str) -> Any:
    day = local_day(Ticket.created_at, dialect, period.tz, period.start, end)
    return (select(Ticket.conversation_id.label("cid"), day.label("day")).distinct()
            .where(Ticket.created_at >= period.start, Ticket.created_at < end,
                   Ticket.conversation_id.is_not(None))
            .subquery("td"))


def _fill(period: Period, end: datetime, window_s: float, now: datetime,
          dialect: str) -> Any:
    g = _grouped(period, end, dialect)
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

    One pass over the transcript serves the report and its comparison period; the table is
    dropped at the end (all in the caller's session).
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
        await session.execute(_fill(span, end, window_s, now, dialect))
        return [await _aggregate(session, p) for p in periods]
    finally:
        await conn.execute(drop)


async def _aggregate(session: AsyncSession, period: Period) -> Figures:
    t = CONV_DAYS.c
    in_period = and_(t.day >= period.first_day, t.day <= period.last_day)
    resolved = func.sum(case((t.verdict.in_(RESOLVED), 1), else_=0))
    rows = await session.execute(
        select(t.day, t.channel, t.locale, func.sum(t.n_in), func.sum(t.n_out),
               func.sum(t.contact), func.sum(t.answered),
               func.sum(case((t.verdict == "confirmed", 1), else_=0)),
               func.sum(case((t.verdict == "assumed", 1), else_=0)), resolved)
        .where(in_period).group_by(t.day, t.channel, t.locale))
    out = Figures()
    out.by = {"channel": defaultdict(lambda: defaultdict(int)),
              "locale": defaultdict(lambda: defaultdict(int))}
    for day, channel, locale, n_in, n_out, contact, answered, conf, assumed, res in rows.all():
        vals = {"messages_in": int(n_in), "messages_out": int(n_out),
                "contact_days": int(contact), "bot_answered_days": int(answered),
                "deflected_confirmed": int(conf), "deflected_assumed": int(assumed)}
        for k, v in vals.items():
            out.head[k] += v
        key = _day_key(day)
        d = out.daily.setdefault(key, [0, 0, 0])
        d[0] += int(contact)
        d[1] += int(n_in) + int(n_out)
        d[2] += int(res)
        for dim, name in (("channel", channel), ("locale", locale)):
            b = out.by[dim][name]
            b["messages"] += int(n_in) + int(n_out)
            b["contact_days"] += int(contact)
            b["deflected"] += int(res)
    await _distinct(session, out, in_period)
    return out


async def _distinct(session: AsyncSession, out: Figures, in_period: Any) -> None:
    """Distinct customers and conversations overall, by channel and by language."""
    t = CONV_DAYS.c
    base = and_(in_period, t.contact == 1)
    total = (await session.execute(select(
        func.count(t.customer_id.distinct()), func.count(t.conversation_id.distinct()))
        .where(base))).one()
    out.head["customers"], out.head["conversations"] = int(total[0]), int(total[1])
    for dim in ("channel", "locale"):
        col = t[dim]
        rows = await session.execute(
            select(col, func.count(t.customer_id.distinct()),
                   func.count(t.conversation_id.distinct())).where(base).group_by(col))
        for name, customers, conversations in rows.all():
            out.by[dim][name]["customers"] = int(customers)
            out.by[dim][name]["conversations"] = int(conversations)


def _day_key(value: Any) -> str:
    return as_date(value).isoformat() if not isinstance(value, date) else value.isoformat()
