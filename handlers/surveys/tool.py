"""Survey operations behind ``crmbot survey …`` (list, import, results, send).

``send`` only queues: it creates the runs and outbox items in the database; the running bot's
outbox dispatcher delivers them at the channels' rate limits. Running the same ``send`` again
(same ``--campaign``) reaches only customers who have not had this campaign yet.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.dbtool import tool_sessions as _sessions
from bot.i18n import Translator
from handlers.surveys import results, store
from handlers.surveys.campaign import Segment, send_campaign
from handlers.surveys.definitions import load_file


def _day(value: str) -> datetime:
    """``YYYY-MM-DD`` as the start of that day, UTC."""
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-01-31") from None


def add_parsers(survey: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    survey.add_parser("list", help="list surveys (built-in and imported)").set_defaults(
        func=cmd_list
    )
    imp = survey.add_parser("import", help="validate and store a YAML/JSON survey definition")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=cmd_import)
    res = survey.add_parser("results", help="results of a survey (or CSV export)")
    res.add_argument("id")
    res.add_argument("--since", type=_day, help="first day (YYYY-MM-DD, UTC)")
    res.add_argument("--until", type=_day, help="last day, inclusive (YYYY-MM-DD, UTC)")
    res.add_argument("--csv", type=Path, help="write every answer to this CSV file")
    res.set_defaults(func=cmd_results)
    send = survey.add_parser("send", help="queue a survey campaign for a segment of customers")
    send.add_argument("id")
    send.add_argument("--campaign", help="campaign name (default: <id>-<today>); re-run to resume")
    send.add_argument("--channel")
    send.add_argument("--locale", choices=("en", "sv", "lv"))
    send.add_argument("--contacted-since", type=_day)
    send.add_argument("--contacted-before", type=_day)
    send.set_defaults(func=cmd_send)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> list[store.StoredSurvey]:
        async with _sessions(settings) as sessions, sessions() as session:
            return await store.list_definitions(session)

    for item in asyncio.run(go()):
        version = f"v{item.version}" if item.source == "database" else "built-in"
        print(f"{item.survey.id:<20} {len(item.survey.questions)} question(s)  {version:<9} "
              f"{item.survey.title['en']}")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    survey = load_file(args.file)

    async def go() -> int:
        async with _sessions(settings) as sessions, sessions.begin() as session:
            return await store.save_definition(session, survey, actor=f"cli:{args.file.name}")

    version = asyncio.run(go())
    print(f"imported survey {survey.id!r} ({len(survey.questions)} questions), version {version}")
    return 0


def cmd_results(args: argparse.Namespace, settings: Settings) -> int:
    end = args.until + timedelta(days=1) if args.until else None

    async def go() -> tuple[results.SurveySummary, str | None]:
        async with _sessions(settings) as sessions, sessions() as session:
            found = await results.summary(session, args.id, args.since, end)
            text = await results.export_csv(session, args.id, args.since, end) if args.csv else None
            return found, text

    found, text = asyncio.run(go())
    if args.csv and text is not None:
        args.csv.write_text(text, encoding="utf-8")
        print(f"wrote {text.count(chr(10)) - 1} answers to {args.csv}")
    print(format_summary(found))
    return 0


def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    campaign = args.campaign or f"{args.id}-{datetime.now(UTC).date().isoformat()}"
    segment = Segment(channel=args.channel, locale=args.locale,
                      contacted_since=args.contacted_since,
                      contacted_before=args.contacted_before)

    async def go() -> str:
        async with _sessions(settings) as sessions:
            r = await send_campaign(sessions, settings, Translator(), args.id, campaign, segment)
        return (f"campaign {campaign!r}: {r.queued} queued, {r.already} already had it, "
                f"{r.unreachable} unreachable, {r.opted_out} opted out, {r.busy} with staff now")

    print(asyncio.run(go()))
    return 0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_summary(s: results.SurveySummary) -> str:
    lines = [
        f"survey {s.survey_id}: {s.sent} sent, {s.responded} responded "
        f"({_fmt(s.response_rate)}%), {s.completed} completed, {s.skipped} skipped, "
        f"{s.expired} expired",
    ]
    for q in s.questions:
        if q.score is not None:
            extra = f", NPS {_fmt(q.score.nps)}" if q.score.nps is not None else ""
            lines.append(f"  {q.question} (scale): {q.answered} answers, average "
                         f"{_fmt(q.score.average)}, satisfied {_fmt(q.score.satisfied)}%{extra}, "
                         f"distribution {q.score.distribution}")
        elif q.kind == "choice":
            lines.append(f"  {q.question} (choice): {q.choices}")
        else:
            lines.append(f"  {q.question} (text): {q.answered} comments")
    for title, groups in (("channel", s.by_channel), ("locale", s.by_locale),
                          ("agent", s.by_agent), ("week", s.by_week)):
        for key, stats in groups.items():
            extra = f", NPS {_fmt(stats.nps)}" if stats.nps is not None else ""
            lines.append(f"  by {title} {key}: {stats.count} answers, average "
                         f"{_fmt(stats.average)}{extra}")
    return "\n".join(lines)
