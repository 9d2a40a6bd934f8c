"""Times of day in settings: ``HH:MM`` clock times, ``HH:MM-HH:MM`` quiet-hours windows and
IANA zone names. Runtime code (settings validation, business hours) and features (survey
scheduling, the weekly report) share these; everything is pure.
"""

from __future__ import annotations

import re
from datetime import time
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


def parse_time(value: str) -> time:
    """``HH:MM`` (24-hour clock), for CRMBOT_REPORT_SLACK_TIME; ValueError says what is wrong."""
    try:
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{value!r} is not a time like 08:00") from None
