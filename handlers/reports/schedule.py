"""The weekly report posted to Slack (CRMBOT_REPORT_SLACK_CHANNEL, _WEEKDAY, _TIME).

Every minute the running bot checks whether the latest weekly slot (e.g. Monday 08:00 in the
business-hours time zone) has passed and that week's post is not queued yet; if so it builds
the report of the 7 local days before the slot and enqueues one outbox item (channel "slack",
``slack_op`` "post") with order key ``report:weekly:<slot date>``. That key makes the post
happen once, also with several processes (on PostgreSQL an advisory lock serialises the check)
and after restarts; the outbox delivers it with Slack's rate limits and retries. A slot is
caught up within ``CATCH_UP`` after it (the bot was down at 08:00), not later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import background
from bot.config import Settings
from bot.messages import OutboundMessage
from bot.timeofday import parse_time
from handlers.reports.period import local_days
from handlers.reports.render import summary_text
from handlers.reports.service import make_report, options_for, report_locale
from storage import outbox
from storage.models import OutboxItem, utcnow
from storage.sql import advisory_xact_lock

log = logging.getLogger(__name__)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CATCH_UP = timedelta(hours=24)
CHECK_EVERY = 60.0
LOCK = 7309


def latest_slot(now: datetime, weekday: str, at: time, tz: ZoneInfo) -> datetime:
    """The most recent weekly slot at or before ``now`` (aware UTC)."""
    local = now.astimezone(tz)
    back = (local.weekday() - WEEKDAYS.index(weekday)) % 7
    day = local.date() - timedelta(days=back)
    slot = datetime.combine(day, at, tzinfo=tz)
    if slot > local:
        slot = datetime.combine(day - timedelta(days=7), at, tzinfo=tz)
    return slot.astimezone(now.tzinfo)


def order_key(slot: datetime, tz: ZoneInfo) -> str:
    return f"report:weekly:{slot.astimezone(tz).date().isoformat()}"


async def post_if_due(sessions: async_sessionmaker[AsyncSession], settings: Settings,
                      now: datetime | None = None) -> bool:
    """Queue this week's post when its slot has passed and it is not queued; True if queued."""
    channel = settings.report_slack_channel
    if not channel:
        return False
    now = now or utcnow()
    tz = options_for(settings).team.tz
    slot = latest_slot(now, settings.report_slack_weekday,
                       parse_time(settings.report_slack_time), tz)
    if now - slot > CATCH_UP:
        return False
    key = order_key(slot, tz)
    last = slot.astimezone(tz).date() - timedelta(days=1)
    period = local_days(last - timedelta(days=6), last, tz)
    if await _queued(sessions, key):
        return False
    # build outside the write transaction: SQLite would hold its write lock for the whole build
    report = await make_report(sessions, settings, period, now)
    link = settings.public_url.rstrip("/") + (
        f"/admin/reports?since={period.first_day}&until={period.last_day}")
    message = OutboundMessage(channel="slack", chat_id=channel,
                              text=summary_text(report, link, report_locale(settings)),
                              meta={"slack_op": "post"})
    async with sessions.begin() as session:
        if not await advisory_xact_lock(session, LOCK, 0):
            return False  # another process is queueing it right now
        if await session.scalar(select(OutboxItem.id).where(OutboxItem.order_key == key)):
            return False
        outbox.enqueue(session, message, order_key=key)
    log.info("weekly report for %s queued for Slack %s", period.label(), channel)
    return True


async def _queued(sessions: async_sessionmaker[AsyncSession], key: str) -> bool:
    async with sessions() as session:
        found = await session.scalar(select(OutboxItem.id).where(OutboxItem.order_key == key))
        return found is not None


def cleanup_ctx(sessions: async_sessionmaker[AsyncSession],
                settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context running the minute check while the app is up."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with background.running(_loop(sessions, settings), "crmbot-report-schedule"):
            yield

    return ctx


async def _loop(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    while True:
        try:
            await post_if_due(sessions, settings)
        except Exception:  # a failed report must not kill the loop; next minute tries again
            log.exception("weekly report check failed")
        await asyncio.sleep(CHECK_EVERY)
