"""``crmbot report [--since DATE] [--until DATE] [--html FILE] [--pdf FILE] [--csv DIR] [--json]
[--rebuild-rollup]``.

Dates are local days of the business-hours time zone (the ``default`` team); without options
the report covers the last 7 full days and prints the headline figures as text.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import Settings
from handlers.reports.model import Report
from handlers.reports.service import make_report, period_for, report_locale


def add_arguments(rep: argparse.ArgumentParser) -> None:
    """The options of ``crmbot report`` (the parser itself belongs to bot/cli.py)."""
    rep.add_argument("--since", help="first day, YYYY-MM-DD (local; default 7 days back)")
    rep.add_argument("--until", help="last day, inclusive, YYYY-MM-DD (default today)")
    rep.add_argument("--html", type=Path, help="write the HTML report (charts embedded)")
    rep.add_argument("--pdf", type=Path, help="write the PDF report")
    rep.add_argument("--csv", type=Path, help="write one CSV per table into this directory")
    rep.add_argument("--json", action="store_true", help="print the report as JSON")
    rep.add_argument("--rebuild-rollup", action="store_true",
                     help="rebuild the conversation-day roll-up first (after a tz database "
                          "update; a change of time zone rebuilds it by itself)")
    rep.add_argument("--locale", choices=("en", "sv", "lv"),
                     help="language of the HTML, PDF and CSV (default: CRMBOT_REPORT_LOCALE)")
    rep.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from handlers.reports import render  # matplotlib: ~0.8 s, only when a report is made

    period = period_for(settings, args.since, args.until)  # bad dates: ValueError -> exit 2
    for target in (args.html, args.pdf):
        if target is not None and not target.parent.is_dir():
            raise ValueError(f"{target}: the directory {target.parent} does not exist")
    report = asyncio.run(_build(settings, period, args.rebuild_rollup))
    locale = args.locale or report_locale(settings)
    if args.html:
        args.html.write_text(render.html(report, locale), encoding="utf-8")
    if args.pdf:
        render.pdf(report, args.pdf, locale)
    if args.csv:
        render.write_csv(report, args.csv, locale)
    if args.json:
        print(render.to_json(report))
    elif not (args.html or args.pdf or args.csv):
        _print(report, locale)
    return 0


async def _build(settings: Settings, period: object, rebuild: bool = False) -> Report:
    from bot.dbtool import tool_sessions as _sessions
    from handlers.reports.period import Period
    from handlers.reports.rollup import rebuild as rebuild_rollup

    assert isinstance(period, Period)
    async with _sessions(settings) as sessions:
        if rebuild:
            await rebuild_rollup(sessions, period.tz.key)
        return await make_report(sessions, settings, period)


def _print(report: Report, locale: str) -> None:
    from handlers.reports import render

    out = sys.stdout
    out.write(f"Report {report.period.label()} ({report.period.tz.key}); "
              f"previous {report.previous.label()}\n")
    for row in render.headline_rows(report, locale):
        out.write(f"  {row['label']:<45} {row['value']:>14}  (before {row['before']}, "
                  f"{row['change']})\n")
