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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.hours import Team
from bot.reports import deflection
from bot.reports import queries as q
from bot.reports.clock import BusinessClock
from bot.reports.model import Report, Table, Value
from bot.reports.period import Period
from bot.reports.stats import average, csat, nps, percentile, rate

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
                       now: datetime) -> Report:
    conv = await deflection.figures(session, [period, period.previous()],
                                    options.assume_hours * 3600, now)
    current, tables = await _period_figures(session, period, options, conv[0], detailed=True)
    previous, _ = await _period_figures(session, period.previous(), options, conv[1],
                                        detailed=False)
    notes = [] if current["broadcast_reach"] is not None else [
        "Broadcast reach: not available (no broadcast feature installed)."]
    return Report(period, period.previous(), now, current, previous, tables, notes)


async def _period_figures(session: AsyncSession, period: Period, options: Options,
                          conv: deflection.Figures,
                          detailed: bool) -> tuple[dict[str, Value], list[Table]]:
    dims = _dims()
    head, daily = _conversation_figures(conv, dims)
    tickets = await q.tickets(session, period)
    head |= _tickets(tickets, period, options, dims)
    head["backlog"] = await q.backlog(session, period.end)
    surveys = await q.survey_scores(session, period, (options.csat_survey, options.nps_survey))
    head |= _surveys(surveys, options, dims)
    n_fb, avg_fb = await q.feedback(session, period)
    head |= {"feedback_count": n_fb, "feedback_rating": avg_fb}
    total, sample = await q.unanswered(session, period, GAP_SAMPLE)
    head["unanswered"] = total
    reach = await q.broadcasts(session, period)
    head["broadcast_reach"], head["broadcast_optouts"] = reach if reach else (None, None)
    if not detailed:
        return head, []
    tables = [_dim_table("by_channel", "By channel", dims["channel"]),
              _dim_table("by_locale", "By language", dims["locale"]),
              _agent_table(dims["agent"]), _reasons(tickets, period),
              _daily_table(daily, tickets, period),
              await _top_kb(session, period)]
    if options.gaps:
        from bot.reports.gaps import gaps_table

        tables.append(await asyncio.to_thread(gaps_table, sample))  # CPU: off the loop
    return head, tables


def _in(period: Period, t: datetime | None) -> bool:
    return t is not None and period.start <= t < period.end


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


def _tickets(rows: list[q.TicketRow], period: Period, options: Options,
             dims: Dims) -> dict[str, Value]:
    clock = BusinessClock(options.team, min([period.start, *(r.created_at for r in rows)]),
                          period.end)
    frt: list[float] = []
    frt_b: list[float] = []
    res: list[float] = []
    res_b: list[float] = []
    opened = solved = escalations = 0
    for r in rows:
        buckets = _ticket_buckets(r, dims)
        if _in(period, r.created_at):
            opened += 1
            escalations += r.from_conversation
            for b in buckets:
                b.opened += 1
        if r.first_response_at is not None and _in(period, r.first_response_at):
            frt.append((r.first_response_at - r.created_at).total_seconds())
            frt_b.append(clock.between(r.created_at, r.first_response_at))
            for b in buckets:
                b.frt.append(frt_b[-1])
        if r.resolved_at is not None and _in(period, r.resolved_at):
            solved += 1
            res.append((r.resolved_at - r.created_at).total_seconds())
            res_b.append(clock.between(r.created_at, r.resolved_at))
            for b in buckets:
                b.solved += 1
                b.resolution.append(res_b[-1])
    return {"escalations": escalations, "tickets_opened": opened, "tickets_solved": solved,
            "frt_median": percentile(frt, 0.5), "frt_p90": percentile(frt, 0.9),
            "frt_business_median": percentile(frt_b, 0.5),
            "frt_business_p90": percentile(frt_b, 0.9),
            "resolution_median": percentile(res, 0.5), "resolution_p90": percentile(res, 0.9),
            "resolution_business_median": percentile(res_b, 0.5),
            "resolution_business_p90": percentile(res_b, 0.9)}


def _ticket_buckets(r: q.TicketRow, dims: Dims) -> list[Bucket]:
    return [dims["channel"][r.channel], dims["locale"][r.locale],
            dims["agent"][r.assignee or "(unassigned)"]]


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


def _reasons(rows: Iterable[q.TicketRow], period: Period) -> Table:
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        if _in(period, r.created_at):
            counts[r.reason] += 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return Table("reasons", "Why customers needed a person (tickets by reason)",
                 ["reason", "tickets"], [[k, v] for k, v in ordered])


def _daily_table(daily: dict[str, list[int]], tickets: list[q.TicketRow],
                 period: Period) -> Table:
    opened: dict[str, int] = defaultdict(int)
    for r in tickets:
        if _in(period, r.created_at):
            opened[r.created_at.astimezone(period.tz).date().isoformat()] += 1
    rows: list[list[Value]] = []
    day = period.first_day
    while day <= period.last_day:
        k = day.isoformat()
        c, m, d = daily.get(k, [0, 0, 0])
        rows.append([k, c, m, d, opened.get(k, 0)])
        day += timedelta(days=1)
    return Table("daily", "Per day", ["day", "conversation_days", "messages", "deflected",
                                      "tickets_opened"], rows)


async def _top_kb(session: AsyncSession, period: Period) -> Table:
    rows = await q.top_entries(session, period)
    return Table("top_kb", "Most used knowledge-base answers",
                 ["entry_id", "answers", "helpful", "not_helpful"],
                 [[e, a, h, nh] for e, a, h, nh in rows])
