"""When a survey may be sent: after a delay, and never inside the customer's quiet hours.

Quiet hours (CRMBOT_QUIET_HOURS, e.g. ``21:00-08:00``) are read in the customer's own time zone
(``Customer.timezone``, else CRMBOT_DEFAULT_TIMEZONE). A window may cross midnight. A send time
that falls inside the window moves to the window's end (local time), so nobody gets a survey
at night. Everything here is pure and deterministic: ``now`` is always passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.timeofday import QuietHours, in_quiet_hours, parse_quiet_hours, zone

__all__ = ["QuietHours", "in_quiet_hours", "parse_quiet_hours", "send_time", "zone"]

def send_time(
    now: datetime, delay: timedelta, window: QuietHours | None, tz: ZoneInfo
) -> datetime:
    """The earliest moment at or after ``now + delay`` outside the quiet window (UTC-aware)."""
    due = now + delay
    if window is None:
        return due
    local = due.astimezone(tz)
    if not in_quiet_hours(local.timetz().replace(tzinfo=None), window):
        return due
    end = window[1]
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (local + timedelta(days=1)).replace(
            hour=end.hour, minute=end.minute, second=0, microsecond=0
        )
    # Re-localise: a DST change between the two dates must not shift the wall-clock hour.
    wall = candidate.replace(tzinfo=None)
    return wall.replace(tzinfo=tz).astimezone(due.tzinfo)
