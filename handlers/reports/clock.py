"""Business seconds between two instants, fast enough for 100,000 tickets.

:func:`bot.hours.business_seconds_between` walks the calendar day by day for every pair; a
report needs it for every ticket, so :class:`BusinessClock` lays the team's opening intervals
over the whole span once, keeps a running sum, and answers each pair with two bisections.
The result equals ``business_seconds_between`` (a test checks it on DST and holiday edges).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta

from bot.hours import Team


class BusinessClock:
    def __init__(self, team: Team, start: datetime, end: datetime) -> None:
        days = max((end - start).days, 0) + 3
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._before: list[float] = []  # open seconds before interval i
        total = 0.0
        for s, e in team.intervals(start - timedelta(days=1), days + 1):
            if self._ends and s.timestamp() < self._ends[-1]:
                continue  # overlapping ranges on one day: keep the first
            self._starts.append(s.timestamp())
            self._ends.append(e.timestamp())
            self._before.append(total)
            total += e.timestamp() - s.timestamp()
        self._lo, self._hi = start.timestamp(), end.timestamp()
        self._team = team

    def _cumulative(self, t: float) -> float:
        i = bisect_right(self._starts, t) - 1
        if i < 0:
            return 0.0
        return self._before[i] + min(t, self._ends[i]) - self._starts[i]

    def between(self, start: datetime, end: datetime) -> float:
        """Open seconds in [start, end); 0 when end <= start."""
        if end <= start:
            return 0.0
        a, b = start.timestamp(), end.timestamp()
        if a < self._lo - 86400 or b > self._hi + 86400:  # outside the prepared span
            from bot.hours import business_seconds_between

            return business_seconds_between(start, end, self._team)
        return self._cumulative(b) - self._cumulative(a)

    def between_us(self, start_us: int, end_us: int) -> float:
        """:meth:`between` for instants in epoch microseconds (``us / 10**6`` is the float
        ``datetime.timestamp()`` gives, so the result is the same to the bit)."""
        if end_us <= start_us:
            return 0.0
        a, b = start_us / 10**6, end_us / 10**6
        if a < self._lo - 86400 or b > self._hi + 86400:
            return self.between(from_us(start_us), from_us(end_us))
        return self._cumulative(b) - self._cumulative(a)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)
