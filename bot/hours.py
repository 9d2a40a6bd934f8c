"""Business hours, holidays and customers' time zones: when a human answers, and when not to write.

Business hours come from a YAML file (CRMBOT_BUSINESS_HOURS_FILE, default the sample shipped
next to this module), one entry per team with an IANA time zone, opening ranges per weekday and
closed dates. Every computation converts each local opening range to UTC with zoneinfo, day by
day, so a DST change is handled by the tz database (a 09:00-17:00 day is 8 hours either side of
the change; an all-day range on 2026-03-29 in Stockholm is 23 hours). Everything is pure:
``now`` is always passed in.

Users: the "a person will reply ..." text (handlers/identity/ ``wait_text``), SLA clocks and
reports (:func:`business_seconds_between`), survey timing (:func:`is_quiet`) and scheduled
broadcasts (:func:`next_send_time`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

if TYPE_CHECKING:
    from bot.config import Settings
    from storage.models import Customer

SAMPLE_HOURS = Path(__file__).resolve().parent / "business_hours.yaml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOCALE_ZONES = {"sv": "Europe/Stockholm", "lv": "Europe/Riga"}
DEFAULT_QUIET = (time(21, 0), time(8, 0))
SEARCH_DAYS = 400
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")

Range = tuple[int, int]  # minutes after local midnight, end exclusive, 0 <= start < end <= 1440


class HoursFileError(ValueError):
    """The business-hours file cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Team:
    """One team's calendar: a time zone, opening ranges per weekday (0 = Monday), holidays."""

    name: str
    tz: ZoneInfo
    hours: dict[int, tuple[Range, ...]]
    holidays: frozenset[date]

    def ranges_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The opening intervals of a local date, as UTC instants."""
        if day in self.holidays:
            return []
        return [(self._instant(day, s), self._instant(day, e)) for s, e in self.hours.get(
            day.weekday(), ())]

    def _instant(self, day: date, minutes: int) -> datetime:
        if minutes == 1440:
            day, minutes = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.tz)
        return local.astimezone(UTC)

    def intervals(self, start: datetime, days: int) -> Iterator[tuple[datetime, datetime]]:
        """Opening intervals from the local day before ``start`` on, ``days`` days long."""
        first = start.astimezone(self.tz).date() - timedelta(days=1)
        for offset in range(days + 1):
            yield from self.ranges_on(first + timedelta(days=offset))


@dataclass(frozen=True)
class BusinessHours:
    teams: dict[str, Team]

    def team(self, name: str = "default") -> Team:
        try:
            return self.teams[name]
        except KeyError:
            raise ValueError(
                f"no team {name!r} in the business-hours file (teams: {sorted(self.teams)})"
            ) from None


def is_open(now: datetime, team: Team) -> bool:
    return any(s <= now < e for s, e in team.intervals(now, 2))


def next_open(now: datetime, team: Team) -> datetime | None:
    """``now`` when the team is open, else the start of its next opening; None if never."""
    for start, end in team.intervals(now, SEARCH_DAYS):
        if end > now:
            return max(start, now)
    return None


def business_seconds_between(start: datetime, end: datetime, team: Team) -> float:
    """Seconds of ``team``'s opening time between two instants (0 when end <= start).

    For SLA clocks and reports: a ticket opened Friday 16:50 and answered Monday 09:10 waited
    20 business minutes on the sample calendar.
    """
    if end <= start:
        return 0.0
    days = (end - start).days + 2
    total = 0.0
    for s, e in team.intervals(start, days):
        overlap = (min(e, end) - max(s, start)).total_seconds()
        total += max(overlap, 0.0)
    return total


# -- loading -------------------------------------------------------------------------------


def load_business_hours(path: Path | str) -> BusinessHours:
    """Read and validate a business-hours file; HoursFileError says what is wrong where."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise HoursFileError(f"{path}: cannot read business hours: {exc}") from None
    teams = data.get("teams") if isinstance(data, dict) else None
    if not isinstance(teams, dict) or not teams:
        raise HoursFileError(f"{path}: needs a 'teams' mapping with at least one team")
    if "default" not in teams:
        raise HoursFileError(f"{path}: needs a team called 'default'")
    return BusinessHours({str(n): _team(path, str(n), t) for n, t in teams.items()})


@functools.cache
def _cached(path: str, mtime: float) -> BusinessHours:
    return load_business_hours(path)


def hours_for(settings: Settings | None) -> BusinessHours:
    """The deployment's business hours (re-read when the file changes)."""
    path = getattr(settings, "business_hours_file", None) or SAMPLE_HOURS
    try:
        mtime = Path(path).stat().st_mtime
    except OSError as exc:
        raise HoursFileError(f"{path}: cannot read business hours: {exc}") from None
    return _cached(str(path), mtime)


def _team(path: Path, name: str, raw: Any) -> Team:
    where = f"{path}: teams.{name}"
    if not isinstance(raw, dict):
        raise HoursFileError(f"{where}: must be a mapping with timezone, hours, holidays")
    tz = _zone_or_error(raw.get("timezone"), f"{where}.timezone")
    hours_raw = raw.get("hours") or {}
    if not isinstance(hours_raw, dict):
        raise HoursFileError(f"{where}.hours: must map mon..sun to ranges like 09:00-17:00")
    unknown = set(map(str, hours_raw)) - set(WEEKDAYS)
    if unknown:
        raise HoursFileError(f"{where}.hours: unknown day(s) {sorted(unknown)}; use mon..sun")
    hours = {
        WEEKDAYS.index(day): _ranges(hours_raw.get(day), f"{where}.hours.{day}")
        for day in WEEKDAYS
    }
    return Team(name, tz, hours, _holidays(raw.get("holidays") or [], f"{where}.holidays"))


def _zone_or_error(name: Any, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursFileError(
            f"{where}: {name!r} is not an IANA time zone like Europe/Stockholm"
        ) from None


def _ranges(value: Any, where: str) -> tuple[Range, ...]:
    if value is None or value is False or str(value).strip().lower() in ("", "closed"):
        return ()
    ranges = sorted(_range(part.replace(" ", ""), where) for part in str(value).split(","))
    for (_, end), (start, _) in pairwise(ranges):
        if start < end:
            raise HoursFileError(f"{where}: ranges overlap in {value!r}")
    return tuple(ranges)


def _range(text: str, where: str) -> Range:
    match = _RANGE.match(text)
    if match is None:
        raise HoursFileError(f"{where}: {text!r} is not a range like 09:00-17:00 (or 'closed')")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 1440 or start >= end:
        raise HoursFileError(f"{where}: {text!r} is not a valid range within one day")
    return start, end


def _holidays(value: Any, where: str) -> frozenset[date]:
    if not isinstance(value, list):
        raise HoursFileError(f"{where}: must be a list of dates like 2026-12-24")
    days = set()
    for item in value:
        try:
            days.add(item if isinstance(item, date) else date.fromisoformat(str(item)))
        except ValueError:
            raise HoursFileError(f"{where}: {item!r} is not a date like 2026-12-24") from None
    return frozenset(days)


# -- customers' time ------------------------------------------------------------------------


def customer_timezone(customer: Customer | None, settings: Settings | None = None) -> ZoneInfo:
    """The customer's own zone (set by /tz or the platform), else one from their language."""
    default = getattr(settings, "default_timezone", None) or "UTC"
    for name in (getattr(customer, "timezone", None),
                 LOCALE_ZONES.get(getattr(customer, "locale", None) or ""), default):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def valid_zone(name: str) -> str | None:
    """The canonical spelling of an IANA zone name ('europe/riga' -> 'Europe/Riga'), or None."""
    wanted = name.strip().replace(" ", "_").lower()
    if not wanted or wanted.startswith(("/", ".")) or ".." in wanted:
        return None
    return _zones().get(wanted)


@functools.lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """Lower-cased IANA names -> their spelling (the tz database is read from disk once: the
    widget asks on every connection)."""
    import zoneinfo

    return {known.lower(): known for known in zoneinfo.available_timezones()}


def _quiet_window(settings: Settings | None) -> tuple[time, time]:
    from bot.timeofday import parse_quiet_hours

    configured = getattr(settings, "quiet_hours", "") or ""
    return parse_quiet_hours(configured) or DEFAULT_QUIET


def is_quiet(now: datetime, customer: Customer | None, settings: Settings | None = None) -> bool:
    """True inside the customer's quiet hours (CRMBOT_QUIET_HOURS, default 21:00-08:00) on
    their own wall clock: no surveys or broadcasts then."""
    from bot.timeofday import in_quiet_hours

    local = now.astimezone(customer_timezone(customer, settings))
    return in_quiet_hours(local.time().replace(tzinfo=None), _quiet_window(settings))


def next_send_time(
    now: datetime,
    customer: Customer | None,
    settings: Settings | None = None,
    *,
    local_time: time | None = None,
) -> datetime:
    """When a scheduled message may go to this customer (UTC): at or after ``now``, at the
    next ``local_time`` on their wall clock when given, and never inside their quiet hours."""
    tz = customer_timezone(customer, settings)
    due = now
    if local_time is not None:
        due = _next_wall_clock(now, local_time, tz)
    if not is_quiet(due, customer, settings):
        return due
    end = _quiet_window(settings)[1]
    return _next_wall_clock(due, end, tz)


def _next_wall_clock(now: datetime, at: time, tz: ZoneInfo) -> datetime:
    """The first instant >= now at which the clock in ``tz`` shows ``at`` (DST-safe)."""
    local_day = now.astimezone(tz).date()
    for offset in range(3):
        candidate = datetime.combine(local_day + timedelta(days=offset), at, tzinfo=tz)
        instant = candidate.astimezone(UTC)
        if instant >= now:
            return instant
    raise AssertionError("unreachable: a wall-clock time recurs every day")
