"""Entry point shared by the CLI, the API, the admin page and the weekly Slack post."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.hours import hours_for
from handlers.reports.metrics import Options, build_report
from handlers.reports.model import Report
from handlers.reports.period import Period, resolve
from handlers.reports.rollup import ensure_committed
from storage.db import session_factory, sqlite_reader
from storage.models import utcnow
from storage.sql import is_postgres


def options_for(settings: Settings) -> Options:
    return Options(team=hours_for(settings).team("default"),
                   assume_hours=float(settings.report_assumed_hours),
                   csat_survey=settings.csat_survey)


def report_locale(settings: Settings) -> str:
    """The language reports are written in: CRMBOT_REPORT_LOCALE, else the default locale."""
    return settings.report_locale or settings.default_locale


def period_for(settings: Settings, since: str | None, until: str | None,
               now: datetime | None = None) -> Period:
    """Dates are local days of the business-hours ``default`` team's time zone."""
    return resolve(since, until, options_for(settings).team.tz, now or utcnow())


async def make_report(sessions: async_sessionmaker[AsyncSession], settings: Settings,
                      period: Period, now: datetime | None = None) -> Report:
    # a roll-up built for another zone is rebuilt and committed first, not in every report
    await ensure_committed(sessions, period.tz.key)
    engine = sessions.kw.get("bind")
    reader = sqlite_reader(engine) if isinstance(engine, AsyncEngine) else None
    read = session_factory(reader) if reader is not None else sessions
    try:
        async with read() as session:
            # two connections read in parallel (PostgreSQL, or SQLite through the reader)
            apart = read if reader is not None or is_postgres(session) else None
            return await build_report(session, period, options_for(settings), now or utcnow(),
                                      apart=apart)
    finally:
        if reader is not None:
            await reader.dispose()
