"""A SQL expression for "the local calendar day of this timestamp", on both backends.

PostgreSQL converts with the tz database itself (``timezone(zone, ts)``). SQLite has no time
zones, so the expression adds the zone's UTC offset as a modifier, switching at every offset
change (DST) found in the span: ``date(ts, CASE WHEN ts < :t1 THEN '+3600 seconds' ... END)``.
Either way a message at 23:30 UTC on 28 March counts on Stockholm's 29 March.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, case, func, literal
from sqlalchemy.sql.elements import ColumnElement

STEP = timedelta(minutes=15)


def offset_segments(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """[(until, offset seconds)]: the offset that holds before each ``until`` (last is open)."""
    segments: list[tuple[datetime, int]] = []
    t = start - timedelta(days=1)
    current = _offset(tz, t)
    while t < end + timedelta(days=1):
        t += STEP
        off = _offset(tz, t)
        if off != current:
            segments.append((t - STEP + _exact(tz, t - STEP, t), current))
            current = off
    segments.append((datetime.max.replace(tzinfo=UTC), current))
    return segments


def _offset(tz: ZoneInfo, t: datetime) -> int:
    delta = t.astimezone(tz).utcoffset()
    return int(delta.total_seconds()) if delta else 0


def _exact(tz: ZoneInfo, lo: datetime, hi: datetime) -> timedelta:
    """Offset into [lo, hi) at which the zone's offset changes (minute precision)."""
    first = _offset(tz, lo)
    minutes = 0
    while minutes < 15 and _offset(tz, lo + timedelta(minutes=minutes)) == first:
        minutes += 1
    return timedelta(minutes=minutes)


def local_day(col: Any, dialect: str, tz: ZoneInfo, start: datetime,
              end: datetime) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.date(func.timezone(tz.key, col))
    segments = offset_segments(tz, start, end)
    if len(segments) == 1:
        modifier: Any = literal(f"{segments[0][1]:+d} seconds", String)
    else:
        whens = [(col < until, literal(f"{off:+d} seconds", String))
                 for until, off in segments[:-1]]
        modifier = case(*whens, else_=literal(f"{segments[-1][1]:+d} seconds", String))
    return func.date(col, modifier)


def as_date(value: Any) -> date:
    """The backend's day value (a date on PostgreSQL, 'YYYY-MM-DD' on SQLite) as a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
