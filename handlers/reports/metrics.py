"""Compute a report: SQL aggregates (queries.py) folded into headline figures and tables.

Deflection (docs/reports.md): the unit is a *conversation-day* (one conversation on one local
day on which the customer wrote). The bot resolved it **confirmed** when it answered from the
KB and the customer pressed "helpful", and **assumed** when it answered, nobody pressed "not
helpful", no ticket was opened that day, the bot had the last word, and the customer did not
write again within ``assume_hours`` of its last answer (which must be that old already).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.hours import Team
from handlers.reports import deflection
from handlers.reports import queries as q
from handlers.reports.clock import EPOCH, BusinessClock, from_us
from handlers.reports.model import Report, Table, Value
from handlers.reports.period import Period
from handlers.reports.stats import average, csat, nps, percentile, rate
from storage import agents

GAP_SAMPLE = 2000  # newest unanswered questions clustered (n x n matrix)


@dataclass
class Options:
    team: Team
    assume_hours: float = 24.0
    csat_survey: str = "csat"
    nps_survey: str = "nps"
    gaps: bool = True


@dataclass
class Bucket:
    """Figures of one channel, locale or agent."""

    customers_n: int = 0
    conversations_n: int = 0
    messages: int = 0
    contact_days: int = 0
    deflected: int = 0
    opened: int = 0
    solved: int = 0
    frt: list[float] = field(default_factory=list)
    resolution: list[float] = field(default_factory=list)
    csat: list[int] = field(default_factory=list)
    csat_sent: int = 0


Dims = dict[str, dict[str, Bucket]]


def _dims() -> Dims:
    return {"channel": defaultdict(Bucket), "locale": defaultdict(Bucket),
            "agent": defaultdict(Bucket)}


async def build_report(session: AsyncSession, period: Period, options: Options,
                       now: datetime, *,
                       apart: async_sessionmaker[AsyncSession] | None = None) -> Report:
    """With ``apart`` (a second connection: PostgreSQL, or SQLite's read-only reader),
    tickets, surveys etc. are read on it while the conversation-day query runs, so the
    database works on two cores (1M messages on PostgreSQL: median 5.2 -> 3.9 s,
    docs/reports.md). Without it everything is read in turn on ``session``."""
    periods = [period, period.previous()]
    gaps = await _start_gaps(session, period, options)
    try:
        conv_part = deflection.figures(session, periods, options.assume_hours * 3600, now)
        if apart is None:
            conv = await conv_part
            raw = await _fetch_all(session, periods, options)
        else:
            conv, raw = await asyncio.gather(conv_part, _fetch_apart(apart, periods, options))
        current, tables = _period_figures(period, options, conv[0], raw[0])
        previous, _ = _period_figures(periods[1], options, conv[1], raw[1])
        await _name_agents(session, tables)
        tables.append(await _sla_table(session, period))
        tables.append(await _help_table(session))
        if gaps is not None:
            tables.append(await gaps)
    finally:
        if gaps is not None and not gaps.done():
            gaps.cancel()
    notes = [] if current["broadcast_reach"] is not None else [
        "Broadcast reach: not available (no broadcast feature installed)."]
    return Report(period, period.previous(), now, current, previous, tables, notes)


SLA_KINDS = ("first_response_breach", "resolution_breach", "first_response_warning",
             "resolution_warning")


async def _sla_table(session: AsyncSession, period: Period) -> Table:
    """SLA targets missed (and nearly missed) in the period, business hours (bot/sla.py)."""
    counts = await q.sla_events(session, period)
    return Table("sla", "SLA: targets missed and nearly missed (business hours)",
                 ["sla_event", "tickets"], [[kind, counts.get(kind, 0)] for kind in SLA_KINDS])


async def _help_table(session: AsyncSession) -> Table:
    """What help-center visitors read and found helpful (counters since the start)."""
    rows: list[list[Value]] = []
    for entry_id, locale, views, yes, no in await q.help_articles(session):
        share: Value = round(yes / (yes + no), 3) if yes + no else None
        rows.append([entry_id, locale, views, yes, no, share])
    return Table("help_center", "Help center: most-read articles (all time)",
                 ["entry_id", "locale", "views", "helpful", "not_helpful", "helpful_share"],
                 rows)


async def _name_agents(session: AsyncSession, tables: list[Table]) -> None:
    """Agents by display name where the desk learned it: "Alice Berg (U0AGENT1)"."""
    for table in tables:
        if table.name != "by_agent":
            continue
        known = await agents.names(session, (str(row[0]) for row in table.rows if row[0]))
        for row in table.rows:
            row[0] = agents.label(str(row[0]), known) if row[0] else row[0]


@dataclass
class _Raw:
    """What one period needs from the database besides the conversation-days."""

    opened: q.Opened
    times: list[q.TicketTimes]
    backlog: int
    surveys: list[q.SurveyRow]
    feedback: tuple[int, float | None]
    unanswered: int
    reach: tuple[int, int] | None
    top_kb: list[tuple[str, int, int, int]]


async def _fetch_all(session: AsyncSession, periods: list[Period],
                     options: Options) -> list[_Raw]:
    """Everything but the conversation-days, for each period (top KB for the first only)."""
    out = []
    for i, p in enumerate(periods):
        out.append(_Raw(
            opened=await q.tickets_opened(session, p),
            times=await q.ticket_times(session, p),
            backlog=await q.backlog(session, p.end),
            surveys=await q.survey_scores(session, p, (options.csat_survey,
                                                       options.nps_survey)),
            feedback=await q.feedback(session, p),
            unanswered=await q.unanswered_count(session, p),
            reach=await q.broadcasts(session, p),
            top_kb=await q.top_entries(session, p) if i == 0 else []))
    return out


async def _fetch_apart(sessions: async_sessionmaker[AsyncSession], periods: list[Period],
                       options: Options) -> list[_Raw]:
    async with sessions() as session:
        return await _fetch_all(session, periods, options)


async def _start_gaps(session: AsyncSession, period: Period,
                      options: Options) -> asyncio.Future[Table] | None:
    """Cluster the knowledge gaps in a worker thread while the database does the rest.

    The clustering is CPU work in numpy/scikit-learn and the SQL work waits on the database,
    so the two overlap instead of adding up.
    """
    if not options.gaps:
        return None
    sample = await q.unanswered_sample(session, period, GAP_SAMPLE)
    sample += await q.unmatched_searches(session, period, GAP_SAMPLE - len(sample))
    return asyncio.ensure_future(asyncio.to_thread(_gaps_table, sample))


def _gaps_table(sample: list[tuple[str, str]]) -> Table:
    """Import the clustering here, in the worker thread: scikit-learn and SciPy take 1-2 s to
    import, and the first report of a process imported them on the event loop (every
    conversation, /healthz included, waited that long)."""
    from handlers.reports.gaps import gaps_table

    return gaps_table(sample)


def _period_figures(period: Period, options: Options, conv: deflection.Figures,
                    raw: _Raw) -> tuple[dict[str, Value], list[Table]]:
    dims = _dims()
    head, daily = _conversation_figures(conv, dims)
    head |= _opened(raw.opened.cells, dims)
    head |= _times(raw.times, period, options, dims)
    head["backlog"] = raw.backlog
    head |= _surveys(raw.surveys, options, dims)
    head |= {"feedback_count": raw.feedback[0], "feedback_rating": raw.feedback[1]}
    head["unanswered"] = raw.unanswered
    head["broadcast_reach"], head["broadcast_optouts"] = raw.reach if raw.reach else (None,
                                                                                      None)
    tables = [_dim_table("by_channel", "By channel", dims["channel"]),
              _dim_table("by_locale", "By language", dims["locale"]),
              _agent_table(dims["agent"]), _reasons(raw.opened.reasons),
              _daily_table(daily, raw.opened.days, period),
              Table("top_kb", "Most used knowledge-base answers",
                    ["entry_id", "answers", "helpful", "not_helpful"],
                    [[e, a, h, nh] for e, a, h, nh in raw.top_kb])]
    return head, tables


def _conversation_figures(conv: deflection.Figures,
                          dims: Dims) -> tuple[dict[str, Value], dict[str, list[int]]]:
    """Headline and per-channel/language conversation figures (verdicts: deflection.py)."""
    head: dict[str, Value] = {k: conv.head.get(k, 0) for k in (
        "customers", "conversations", "messages_in", "messages_out", "contact_days",
        "bot_answered_days", "deflected_confirmed", "deflected_assumed")}
    resolved = conv.head.get("deflected_confirmed", 0) + conv.head.get("deflected_assumed", 0)
    head["deflection_rate"] = rate(resolved, conv.head.get("contact_days", 0))
    for dim in ("channel", "locale"):
        for name, figures in conv.by.get(dim, {}).items():
            b = dims[dim][name]
            b.customers_n = figures.get("customers", 0)
            b.conversations_n = figures.get("conversations", 0)
            b.messages = figures.get("messages", 0)
            b.contact_days = figures.get("contact_days", 0)
            b.deflected = figures.get("deflected", 0)
    return head, conv.daily


def _opened(cells: list[q.OpenedCell], dims: Dims) -> dict[str, Value]:
    """Tickets opened and escalations, overall and per channel, language and agent."""
    opened = escalations = 0
    for c in cells:
        opened += c.n
        escalations += c.escalations
        for b in _ticket_buckets(c.channel, c.locale, c.assignee, dims):
            b.opened += c.n
    return {"escalations": escalations, "tickets_opened": opened}


def _times(rows: list[q.TicketTimes], period: Period, options: Options,
           dims: Dims) -> dict[str, Value]:
    """First response and resolution times (clock and business hours), tickets solved."""
    start_us, end_us = _us(period.start), _us(period.end)
    first = min([start_us, *(r.created_us for r in rows)])
    clock = BusinessClock(options.team, from_us(first), period.end)
    frt: list[float] = []
    frt_b: list[float] = []
    res: list[float] = []
    res_b: list[float] = []
    solved = 0
    for r in rows:
        buckets = _ticket_buckets(r.channel, r.locale, r.assignee, dims)
        if r.first_response_us is not None and start_us <= r.first_response_us < end_us:
            frt.append((r.first_response_us - r.created_us) / 10**6)
            frt_b.append(clock.between_us(r.created_us, r.first_response_us))
            for b in buckets:
                b.frt.append(frt_b[-1])
        if r.resolved_us is not None and start_us <= r.resolved_us < end_us:
            solved += 1
            res.append((r.resolved_us - r.created_us) / 10**6)
            res_b.append(clock.between_us(r.created_us, r.resolved_us))
            for b in buckets:
                b.solved += 1
                b.resolution.append(res_b[-1])
    return {"tickets_solved": solved,
            "frt_median": percentile(frt, 0.5), "frt_p90": percentile(frt, 0.9),
            "frt_business_median": percentile(frt_b, 0.5),
            "frt_business_p90": percentile(frt_b, 0.9),
            "resolution_median": percentile(res, 0.5), "resolution_p90": percentile(res, 0.9),
            "resolution_business_median": percentile(res_b, 0.5),
            "resolution_business_p90": percentile(res_b, 0.9)}


def _us(t: datetime) -> int:
    """Aware datetime -> epoch microseconds (the unit of q.epoch_us)."""
    return (t - EPOCH) // timedelta(microseconds=1)


def _ticket_buckets(channel: str, locale: str, assignee: str | None,
                    dims: Dims) -> list[Bucket]:
    return [dims["channel"][channel], dims["locale"][locale],
            dims["agent"][assignee or "(unassigned)"]]


def _surveys(rows: list[q.SurveyRow], options: Options, dims: Dims) -> dict[str, Value]:
    cs = [r.value for r in rows if r.survey_id == options.csat_survey and r.value is not None]
    ns = [r.value for r in rows if r.survey_id == options.nps_survey and r.value is not None]
    cs_sent = sum(1 for r in rows if r.survey_id == options.csat_survey)
    ns_sent = sum(1 for r in rows if r.survey_id == options.nps_survey)
    for r in rows:
        if r.survey_id != options.csat_survey:
            continue
        for b in (dims["channel"][r.channel], dims["locale"][r.locale],
                  dims["agent"][r.agent or "(unassigned)"]):
            b.csat_sent += 1
            if r.value is not None:
                b.csat.append(r.value)
    return {"csat": csat(cs), "csat_average": average(cs), "csat_responses": len(cs),
            "csat_response_rate": rate(len(cs), cs_sent), "nps": nps(ns),
            "nps_responses": len(ns), "nps_response_rate": rate(len(ns), ns_sent)}


DIM_COLUMNS = ["customers", "conversations", "messages", "conversation_days", "deflected",
               "deflection_rate", "tickets_opened", "tickets_solved",
               "frt_business_median_s", "resolution_business_median_s", "csat",
               "csat_responses"]


def _dim_table(name: str, title: str, buckets: dict[str, Bucket]) -> Table:
    rows: list[list[Value]] = []
    for key in sorted(buckets):
        b = buckets[key]
        rows.append([key, b.customers_n, b.conversations_n, b.messages, b.contact_days,
                     b.deflected, rate(b.deflected, b.contact_days), b.opened, b.solved,
                     percentile(b.frt, 0.5), percentile(b.resolution, 0.5), csat(b.csat),
                     len(b.csat)])
    return Table(name, title, [name.removeprefix("by_"), *DIM_COLUMNS], rows)


def _agent_table(buckets: dict[str, Bucket]) -> Table:
    cols = ["agent", "tickets_opened", "tickets_solved", "frt_business_median_s",
            "frt_business_p90_s", "resolution_business_median_s", "resolution_business_p90_s",
            "csat", "csat_responses", "csat_response_rate"]
    rows: list[list[Value]] = [
        [k, b.opened, b.solved, percentile(b.frt, 0.5), percentile(b.frt, 0.9),
         percentile(b.resolution, 0.5), percentile(b.resolution, 0.9), csat(b.csat),
         len(b.csat), rate(len(b.csat), b.csat_sent)]
        for k, b in sorted(buckets.items())]
    return Table("by_agent", "By agent (tickets by assignee)", cols, rows)


def _reasons(counts: dict[str, int]) -> Table:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return Table("reasons", "Why customers needed a person (tickets by reason)",
                 ["reason", "tickets"], [[k, v] for k, v in ordered])


def _daily_table(daily: dict[str, list[int]], opened: dict[str, int],
                 period: Period) -> Table:
    rows: list[list[Value]] = []
    day = period.first_day
    while day <= period.last_day:
        k = day.isoformat()
        c, m, d = daily.get(k, [0, 0, 0])
        rows.append([k, c, m, d, opened.get(k, 0)])
        day += timedelta(days=1)
    return Table("daily", "Per day", ["day", "conversation_days", "messages", "deflected",
                                      "tickets_opened"], rows)
