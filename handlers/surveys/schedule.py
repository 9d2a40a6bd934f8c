"""When a survey may be sent: after a delay, and never inside the customer's quiet hours.

Quiet hours (CRMBOT_QUIET_HOURS, e.g. ``21:00-08:00``) are read in the customer's own time zone
(``Customer.timezone``, else CRMBOT_DEFAULT_TIMEZONE). A window may cross midnight. A send time
that falls inside the window moves to the window's end (local time), so nobody gets a survey
at night. Everything here is pure and deterministic: ``now`` is always passed in.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

QuietHours = tuple[time, time]
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_quiet_hours(value: str | None) -> QuietHours | None:
    """``"21:00-08:00"`` -> (21:00, 08:00); empty -> None; anything else -> ValueError."""
    if not value or not value.strip():
        return None
    match = _WINDOW.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a window like 21:00-08:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"{value!r} has an impossible time (hours 0-23, minutes 0-59)")
    start, end = time(h1, m1), time(h2, m2)
    if start == end:
        raise ValueError(f"{value!r} starts and ends at the same time")
    return start, end


def zone(name: str | None, default: ZoneInfo | None) -> ZoneInfo | None:
    """The named IANA zone, or ``default`` when the name is empty or unknown."""
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


def in_quiet_hours(local: time, window: QuietHours) -> bool:
    start, end = window
    if start < end:
        return start <= local < end
    return local >= start or local < end


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
