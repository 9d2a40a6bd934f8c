"""The reporting period: local calendar days of the report's time zone, as UTC instants.

``--since 2026-03-02 --until 2026-03-08`` means from local midnight of the 2nd to local
midnight after the 8th (``until`` is inclusive as a day, exclusive as an instant), so a report
for Stockholm counts what happened on Stockholm's days, across DST changes too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_DAYS = 7


@dataclass(frozen=True)
class Period:
    """``start`` inclusive, ``end`` exclusive, both aware UTC; ``tz`` names the local days."""

    start: datetime
    end: datetime
    tz: ZoneInfo

    @property
    def first_day(self) -> date:
        return self.start.astimezone(self.tz).date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).astimezone(self.tz).date()

    def previous(self) -> Period:
        """The period of as many local days just before this one (for comparison)."""
        days = (self.last_day - self.first_day).days + 1
        return local_days(self.first_day - timedelta(days=days),
                          self.first_day - timedelta(days=1), self.tz)

    def label(self) -> str:
        return f"{self.first_day.isoformat()} – {self.last_day.isoformat()}"


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def local_days(first: date, last: date, tz: ZoneInfo) -> Period:
    """Local days ``first``..``last`` inclusive; ValueError when last is before first."""
    if last < first:
        raise ValueError(f"the period ends ({last}) before it starts ({first})")
    return Period(_midnight(first, tz), _midnight(last + timedelta(days=1), tz), tz)


def parse_day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not a date like 2026-03-31") from None


def resolve(since: str | None, until: str | None, tz: ZoneInfo, now: datetime) -> Period:
    """The period for optional ``YYYY-MM-DD`` bounds: default the 7 local days up to and
    including today (so far), so a new install's first report already shows today's chats."""
    today = now.astimezone(tz).date()
    last = parse_day(until, "until") if until else today
    first = parse_day(since, "since") if since else last - timedelta(days=DEFAULT_DAYS - 1)
    return local_days(first, last, tz)
