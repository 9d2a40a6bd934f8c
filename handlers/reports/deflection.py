"""Conversation-days and their deflection verdicts, computed inside the database.

The conversation-days (one row per conversation and local day) come from the roll-up
``report_conversation_days``, kept exact by triggers on ``messages`` (handlers/reports/rollup.py,
migration 0012reports), so a report no longer groups the transcript. One query adds the next
day's first customer message (``LEAD``) and the last earlier day the customer wrote (same
window, over the roll-up in its key order), the days a ticket was opened, the conversation's
channel and customer's language and the verdict (see metrics.py / docs/reports.md), and sums it
all per period, day, channel and language, with conversations counted on their first contact
day of the period. Customers are those conversations corrected for customers with several
conversations (a few rows). Only a few hundred rows leave the database.

SQLite gets the same rows without window functions (:func:`_rows_sqlite`): the next day and
the earlier contact day are primary-key look-ups in the roll-up, made only where the verdict
or the count needs them, and the loop runs over the conversations in a fixed order. That
query costs about half the CPU of the windowed one on 1M messages; PostgreSQL keeps the
windows (its plan for them is fast, and this change was not measured there).

The same sums over the transcript grouped on the fly, with plain distinct counts
(``rollup=False``), are the computation the roll-up is tested against
(tests/test_reports_rollup.py). That pass reads only the columns of the covering index
``ix_messages_report_conv``; the "helpful"/"not helpful" presses (the one condition on
``messages.text``) come from the partial index ``ix_messages_feedback`` and are joined per
conversation-day (migration 0011reports).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    String,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Join

from handlers.reports.localday import as_date, local_day
from handlers.reports.period import Period
from handlers.reports.rollup import ensure as ensure_rollup
from storage.models import Conversation, Customer, Message, Ticket
from storage.models_reports import ReportConversationDay

QUIET_KINDS = ("callback", "feedback")  # button presses are not "the customer wrote"
RESOLVED = ("confirmed", "assumed")
WORK_MEM = "256MB"  # the GROUP BY of 1M messages hashes in ~160 MB

@dataclass
class Figures:
    """What the conversation-days give: headline numbers and per-key breakdowns."""

    head: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    daily: dict[str, list[int]] = field(default_factory=dict)  # day -> [days, msgs, deflected]
    by: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # conversations the customer wrote in, by (channel, language) (for customer counts)
    cells: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))


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


def _from_transcript(period: Period, end: datetime, dialect: str,
                     by_conversation: bool = False) -> Any:
    """Conversation-days grouped from the transcript (no roll-up; the reference)."""
    g0 = _grouped(period, end, dialect, by_conversation)
    fb = _pressed(period, end, dialect)
    return (select(g0, func.coalesce(fb.c.helpful, 0).label("helpful"),
                   func.coalesce(fb.c.unhelpful, 0).label("unhelpful"))
            .outerjoin(fb, and_(fb.c.cid == g0.c.cid, fb.c.day == g0.c.day))
            .subquery("gf"))


def _from_rollup(period: Period, end: datetime, in_key_order: bool = False) -> Any:
    """Conversation-days read from the roll-up (same columns as :func:`_from_transcript`).

    A roll-up row holds the whole local day, also the part after ``end``; that changes
    nothing: rows of the period's days are complete either way, and the next day's first
    customer message is only compared with ``last answer + window < end``.
    ``in_key_order`` (SQLite): a unary ``+`` keeps the planner off the ``day`` index, so it
    scans the table in key order, as ``LEAD`` needs it, instead of sorting a day range.
    """
    r = ReportConversationDay
    last = (end - timedelta(microseconds=1)).astimezone(period.tz).date()
    day: Any = r.day
    if in_key_order:
        day = literal_column(f"+{ReportConversationDay.__tablename__}.day", r.day.type)
    return (
        select(r.conversation_id.label("cid"), r.day.label("day"),
               r.n_customer, r.n_in, r.n_out, r.n_answers, r.last_answer, r.first_customer,
               r.last_customer, case((r.n_helpful > 0, 1), else_=0).label("helpful"),
               case((r.n_unhelpful > 0, 1), else_=0).label("unhelpful"))
        .where(day >= period.first_day, day <= last)
        .subquery("gf")
    )


async def _rollup_in_key_order(session: AsyncSession, period: Period, dialect: str) -> bool:
    """SQLite only: read the whole roll-up in key order, or a day range (then sorted)?

    In key order when the report's days are at least half of the roll-up's day range
    (the same rule as :func:`_scan_by_conversation`); the figures are the same either way.
    In key order, the conversation-day query (:func:`_rows_sqlite`) loops over the
    conversations and their roll-up rows by key; otherwise over the days by the day index.
    """
    if dialect != "sqlite":
        return False
    r = ReportConversationDay
    lo, hi = (await session.execute(select(func.min(r.day), func.max(r.day)))).one()
    if lo is None:
        return False
    lo, hi = as_date(lo), as_date(hi)
    if hi < period.first_day:
        return False
    return bool((hi - max(period.first_day, lo)) * 2 >= hi - lo)


def _rows(g: Any, periods: list[Period], period: Period, end: datetime, window_s: float,
          now: datetime, dialect: str) -> Any:
    """The conversation-days of ``periods`` with their verdicts (a subquery).

    ``LEAD`` runs over ``g`` alone (the roll-up is stored in its order), the ticket days and
    the conversation's channel and customer are joined after it; rows of days outside every
    period (the window's tail, only needed for ``LEAD``) are left out.
    """
    td = _ticket_days(period, end, dialect)
    nxt = func.lead(g.c.first_customer).over(partition_by=g.c.cid, order_by=g.c.day)
    # the last earlier day the customer wrote (same window order as LEAD: no second sort)
    before = func.max(case((g.c.n_customer > 0, g.c.day))).over(
        partition_by=g.c.cid, order_by=g.c.day, rows=(None, -1))
    gw = select(g, nxt.label("next_first"), before.label("wrote_before")).subquery("gw")
    w = (select(gw, (td.c.cid.is_not(None)).label("escalated"))
         .outerjoin(td, and_(td.c.cid == gw.c.cid, td.c.day == gw.c.day))
         .subquery("w"))
    returned_next = and_(w.c.next_first.is_not(None),
                         _later_or_equal(w.c.next_first, w.c.last_answer, window_s, dialect))
    verdict = _verdict(w.c.escalated, w.c.n_answers,
                       and_(w.c.helpful == 1, w.c.unhelpful == 0), w.c.unhelpful == 1,
                       w.c.last_customer, w.c.last_answer, returned_next,
                       _later_or_equal(_now(now, dialect), w.c.last_answer, window_s, dialect,
                                       strict=True))
    which = _which(periods, w.c.day)
    first_day = _first_day(periods, w.c.day)
    # the conversation's first contact day in this period: conversations are counted by it
    new_conv = and_(w.c.n_customer > 0,
                    or_(w.c.wrote_before.is_(None), w.c.wrote_before < first_day))
    locale = func.coalesce(Customer.locale, literal("unknown"))
    return (select(which.label("p"), w.c.day, Conversation.channel,
                   locale.label("locale"), w.c.n_in, w.c.n_out,
                   case((w.c.n_customer > 0, 1), else_=0).label("contact"),
                   case((new_conv, 1), else_=0).label("new_conv"),
                   case((w.c.n_answers > 0, 1), else_=0).label("answered"),
                   verdict.label("verdict"))
            .join(Conversation, Conversation.id == w.c.cid)
            .join(Customer, Customer.id == Conversation.customer_id)
            .where(which.is_not(None))
            .subquery("rows"))


def _verdict(escalated: Any, answers: Any, confirmed: Any, not_helpful: Any,
             last_customer: Any, last_answer: Any, returned_next: Any, window_open: Any) -> Any:
    """A conversation-day's verdict, the first rule that holds (docs/reports.md): the one
    definition of deflection, whichever query supplies the columns. ``returned_next``: the
    customer wrote again on a later day within the window; ``window_open``: now < last answer
    + window, so it is too early to assume the answer resolved the question."""
    return case(
        (escalated, "escalated"),
        (answers == 0, "unanswered"),
        (confirmed, "confirmed"),
        (not_helpful, "not_helpful"),
        (and_(last_customer.is_not(None), last_customer > last_answer), "returned"),
        (returned_next, "returned"),
        (window_open, "open"),
        else_="assumed",
    )


def _first_day(periods: list[Period], day: Any) -> Any:
    """The first day of the period ``day`` falls in (NULL outside the periods)."""
    return case(*[(and_(day >= p.first_day, day <= p.last_day), literal(p.first_day, Date))
                  for p in periods])


class _InOrder(Join):
    """An inner join SQLite must run in the order written (``CROSS JOIN ... ON``: SQLite's
    documented way to fix the join order)."""

    inherit_cache = True


@compiles(_InOrder)
def _in_order(element: _InOrder, compiler: Any, **kw: Any) -> str:
    kw["asfrom"] = True
    left = compiler.process(element.left, **kw)
    right = compiler.process(element.right, **kw)
    on = compiler.process(element.onclause, **{k: v for k, v in kw.items() if k != "asfrom"})
    return f"{left} CROSS JOIN {right} ON {on}"


def _rows_sqlite(periods: list[Period], period: Period, end: datetime, window_s: float,
                 now: datetime, by_conversation: bool) -> Any:
    """SQLite: the rows of :func:`_rows` (same columns, same values) without window functions.

    SQLite's windows copy every row through two temporary tables and the verdicts then went
    through the sorter of the GROUP BY as strings evaluated three times (the subquery was
    flattened into the sums). Here the next day's first customer message and "wrote earlier
    in the period" are primary-key look-ups in the roll-up, made only for the rows whose
    verdict or count needs them (``CASE`` stops at the first match); ``LIMIT -1`` keeps the
    subquery from being flattened, so each verdict is computed once. ``by_conversation`` (the
    report spans at least half of the roll-up, :func:`_rollup_in_key_order`): the loop runs
    over the conversations (their channel and customer's language read once each, not once
    per day) and their roll-up rows by key; otherwise over the period's days by the ``day``
    index. The ``nxt.day <= last`` bound mirrors the rows ``LEAD`` sees; a row after it could
    not be within the window anyway. 1M messages: 3.7-4.0 -> 2.1-2.6 s CPU for this query
    (docs/reports.md).
    """
    r = ReportConversationDay.__table__.alias("r")
    nxt = ReportConversationDay.__table__.alias("nxt")
    before = ReportConversationDay.__table__.alias("before")
    conv, cust = Conversation.__table__, Customer.__table__
    last = (end - timedelta(microseconds=1)).astimezone(period.tz).date()  # the window's tail
    td = _ticket_days(period, end, "sqlite")
    # LEAD(first_customer) compared with the window: the next roll-up row of the conversation
    returned_next = (
        select(_later_or_equal(nxt.c.first_customer, r.c.last_answer, window_s, "sqlite"))
        .where(nxt.c.conversation_id == r.c.conversation_id, nxt.c.day > r.c.day,
               nxt.c.day <= last)
        .order_by(nxt.c.day).limit(1).scalar_subquery())
    verdict = _verdict(td.c.cid.is_not(None), r.c.n_answers,
                       and_(r.c.n_helpful > 0, r.c.n_unhelpful == 0), r.c.n_unhelpful > 0,
                       r.c.last_customer, r.c.last_answer, returned_next,
                       _later_or_equal(_now(now, "sqlite"), r.c.last_answer, window_s, "sqlite",
                                       strict=True))
    first_day = _first_day(periods, r.c.day)
    wrote_before = select(literal(1)).where(
        before.c.conversation_id == r.c.conversation_id, before.c.day >= first_day,
        before.c.day < r.c.day, before.c.n_customer > 0).exists()
    new_conv = and_(r.c.n_customer > 0, ~wrote_before)
    if by_conversation:
        joined: Any = _InOrder(_InOrder(conv, cust, cust.c.id == conv.c.customer_id), r,
                               r.c.conversation_id == conv.c.id)
    else:
        joined = r.join(conv, conv.c.id == r.c.conversation_id).join(
            cust, cust.c.id == conv.c.customer_id)
    joined = joined.outerjoin(td, and_(td.c.cid == r.c.conversation_id, td.c.day == r.c.day))
    which = _which(periods, r.c.day)
    locale = func.coalesce(cust.c.locale, literal("unknown"))
    return (select(which.label("p"), r.c.day, conv.c.channel, locale.label("locale"),
                   r.c.n_in, r.c.n_out,
                   case((r.c.n_customer > 0, 1), else_=0).label("contact"),
                   case((new_conv, 1), else_=0).label("new_conv"),
                   case((r.c.n_answers > 0, 1), else_=0).label("answered"),
                   verdict.label("verdict"))
            .select_from(joined)
            .where(r.c.day >= min(p.first_day for p in periods),
                   r.c.day <= max(p.last_day for p in periods), which.is_not(None))
            .limit(-1)
            .subquery("rows"))


async def figures(session: AsyncSession, periods: list[Period], window_s: float,
                  now: datetime, *, rollup: bool = True) -> list[Figures]:
    """Every period's conversation-day figures (same time zone).

    The conversation-days come from the roll-up (handlers/reports/rollup.py; rebuilt first if it
    is built for another zone): one grouped query gives the sums per period, day, channel and
    language, conversations included, and a small one the customers with several
    conversations. With ``rollup=False`` they are grouped from the transcript and the
    conversations and customers are plain distinct counts (the reference the roll-up is
    tested against; it groups the transcript twice). A few hundred rows leave the database.
    """
    dialect = session.get_bind().dialect.name
    span = Period(min(p.start for p in periods), max(p.end for p in periods), periods[0].tz)
    end = span.end + timedelta(seconds=window_s)
    if rollup:
        await ensure_rollup(session, span.tz.key)
    if dialect == "postgresql":  # let big sorts and hashes stay in memory (this transaction)
        await session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    in_key_order = False
    if rollup:
        in_key_order = await _rollup_in_key_order(session, span, dialect)
        g = _from_rollup(span, end, in_key_order)
    else:
        ordered = await _scan_by_conversation(session, span.start, dialect)
        g = _from_transcript(span, end, dialect, ordered)
    out = [_empty() for _ in periods]
    if rollup and dialect == "sqlite":
        rows = _rows_sqlite(periods, span, end, window_s, now, in_key_order)
    else:
        rows = _rows(g, periods, span, end, window_s, now, dialect)
    await _sums(session, rows, out)
    if rollup:
        await _customers(session, g, periods, out)
    else:  # the reference: plain distinct counts (conversations too; _sums counted them)
        for fig in out:
            fig.head.pop("conversations", None)
            for dim in ("channel", "locale"):
                for b in fig.by[dim].values():
                    b.pop("conversations", None)
        await _distinct(session, _contact_from(g, periods), out)
    return out


def _empty() -> Figures:
    out = Figures()
    out.by = {"channel": defaultdict(lambda: defaultdict(int)),
              "locale": defaultdict(lambda: defaultdict(int))}
    return out


def _which(periods: list[Period], day: Any) -> Any:
    """SQL: the index of the period ``day`` falls in (NULL: none, e.g. the window tail)."""
    return case(*[(and_(day >= p.first_day, day <= p.last_day), i)
                  for i, p in enumerate(periods)])


async def _sums(session: AsyncSession, rows: Any, out: list[Figures]) -> None:
    """Per period, day, channel and language sums of the conversation-days (``_rows``)."""
    t = rows.c
    resolved = func.sum(case((t.verdict.in_(RESOLVED), 1), else_=0))
    rows = await session.execute(
        select(t.p, t.day, t.channel, t.locale, func.sum(t.n_in), func.sum(t.n_out),
               func.sum(t.contact), func.sum(t.answered),
               func.sum(case((t.verdict == "confirmed", 1), else_=0)),
               func.sum(case((t.verdict == "assumed", 1), else_=0)), resolved,
               func.sum(t.new_conv))
        .group_by(t.p, t.day, t.channel, t.locale))
    for p, day, channel, locale, n_in, n_out, contact, answered, conf, assumed, res, convs \
            in rows.all():
        fig = out[int(p)]
        if convs:  # conversations, counted on their first contact day in the period
            fig.head["conversations"] += int(convs)
            for dim, name in (("channel", channel), ("locale", locale)):
                fig.by[dim][name]["conversations"] += int(convs)
            fig.cells[(channel, locale)] += int(convs)
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


async def _customers(session: AsyncSession, g: Any, periods: list[Period],
                     out: list[Figures]) -> None:
    """Distinct customers overall, by channel and by language, from the conversation counts.

    A customer with one conversation is one customer in its conversation's cell, so customers
    = conversations, corrected for the customers with several conversations (after merges,
    or several chats on one channel): their conversations the customer wrote in during a
    period are fetched (few rows) and counted exactly. Channels nest in (channel, language)
    cells, and a customer has one language, so customers overall add up over languages.
    """
    which = _which(periods, g.c.day)
    several = (select(Conversation.customer_id).group_by(Conversation.customer_id)
               .having(func.count() > 1))
    locale = func.coalesce(Customer.locale, literal("unknown"))
    rows = (await session.execute(
        select(which, g.c.cid, Conversation.customer_id, Conversation.channel, locale)
        .join(Conversation, Conversation.id == g.c.cid)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(which.is_not(None), g.c.n_customer > 0,
               Conversation.customer_id.in_(several))
        .distinct())).all()
    multi: list[dict[tuple[str, str], tuple[set[int], set[int]]]] = [{} for _ in out]
    for p, cid, customer, channel, loc in rows:
        convs, people = multi[int(p)].setdefault((channel, loc), (set(), set()))
        convs.add(int(cid))
        people.add(int(customer))
    for fig, corrections in zip(out, multi, strict=True):
        per_locale: dict[str, int] = defaultdict(int)
        people_locale: dict[str, set[int]] = defaultdict(set)
        conv_locale: dict[str, int] = defaultdict(int)
        for (channel, loc), n in fig.cells.items():
            convs, people = corrections.get((channel, loc), (set(), set()))
            customers = n - len(convs) + len(people)
            if customers:
                fig.by["channel"][channel]["customers"] += customers
            per_locale[loc] += n
            conv_locale[loc] += len(convs)
            people_locale[loc] |= people
        for loc, n in per_locale.items():
            customers = n - conv_locale[loc] + len(people_locale[loc])
            if customers:
                fig.by["locale"][loc]["customers"] = customers
                fig.head["customers"] += customers
        fig.head.setdefault("customers", 0)
        fig.head.setdefault("conversations", 0)


def _contact_from(g: Any, periods: list[Period]) -> Any:
    """(period, customer, channel, language) of each conversation the customer wrote in
    during the period: the contact days of ``g`` grouped per period and conversation, then
    joined to the conversation and its customer."""
    which = _which(periods, g.c.day)
    contact = (select(which.label("p"), g.c.cid)
               .where(which.is_not(None), g.c.n_customer > 0)
               .group_by(which, g.c.cid).subquery("contact"))
    locale = func.coalesce(Customer.locale, literal("unknown"))
    return (select(contact.c.p, Conversation.customer_id, Conversation.channel,
                   locale.label("locale"))
            .join(Conversation, Conversation.id == contact.c.cid)
            .join(Customer, Customer.id == Conversation.customer_id))


async def _distinct(session: AsyncSession, contact: Any, out: list[Figures]) -> None:
    """Distinct customers and conversations overall, by channel and by language.

    ``contact`` has one row per period and conversation the customer wrote in (a contact day
    needs no verdict), with its customer, channel and language: conversations are counted as
    rows, customers as the rows of a ``DISTINCT``. The breakdowns are nested: a conversation
    has one channel and its customer one language, and a customer has one language. So
    conversations add up over (channel, language) cells, customers by channel add up over
    languages, and customers overall add up over languages.
    """
    convs = contact.cte("convs").prefix_with("MATERIALIZED")
    c = convs.c
    none = literal(None, String)
    conversations = select(literal(0).label("kind"), c.p, c.channel, c.locale,
                           func.count()).group_by(c.p, c.channel, c.locale)
    # customers: DISTINCT first, then plain counts (hash aggregates, no per-group sort)
    by_cell = select(c.p, c.channel, c.locale, c.customer_id).distinct().subquery("bc")
    customers = select(literal(1), by_cell.c.p, by_cell.c.channel, by_cell.c.locale,
                       func.count()).group_by(by_cell.c.p, by_cell.c.channel, by_cell.c.locale)
    by_loc = select(c.p, c.locale, c.customer_id).distinct().subquery("bl")
    per_locale = select(literal(2), by_loc.c.p, none, by_loc.c.locale,
                        func.count()).group_by(by_loc.c.p, by_loc.c.locale)
    rows = await session.execute(conversations.union_all(customers, per_locale))
    for kind, p, channel, locale, n in rows.all():
        fig = out[int(p)]
        if int(kind) == 0:
            fig.head["conversations"] += int(n)
            fig.by["channel"][channel]["conversations"] += int(n)
            fig.by["locale"][locale]["conversations"] += int(n)
        elif int(kind) == 1:
            fig.by["channel"][channel]["customers"] += int(n)
        else:
            fig.head["customers"] += int(n)
            fig.by["locale"][locale]["customers"] = int(n)
    for fig in out:
        fig.head.setdefault("customers", 0)
        fig.head.setdefault("conversations", 0)


def _day_key(value: Any) -> str:
    return as_date(value).isoformat() if not isinstance(value, date) else value.isoformat()
