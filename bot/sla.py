"""SLA targets: first response and resolution per priority, counted in business hours.

A ticket opened Friday 16:50 with a 60-minute first-response target is due Monday 09:50 on the
sample calendar, not Friday 17:50: the clock only runs while the team is open (bot/hours.py).
Each target has a warning (CRMBOT_SLA_WARN_PERCENT of it, default 80 %) and a breach; the
desk's watcher records each at most once per ticket and tells staff (bot/channels/slack/sla.py).
"Claimed but never answered" is a first-response breach like any other: the clock stops at the
first reply to the customer, not at the claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import Settings
from bot.hours import Team

PRIORITIES = ("urgent", "high", "normal", "low")
DEFAULT_FIRST_RESPONSE = "urgent:30,high:60,normal:240,low:480"
DEFAULT_RESOLUTION = "urgent:240,high:480,normal:1440,low:2880"
#: How far ahead a deadline is searched for (a team closed longer than this has no deadline).
SEARCH_DAYS = 60

FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"
WARNING, BREACH = "warning", "breach"


def parse_targets(text: str, setting: str) -> dict[str, int]:
    """"urgent:30,high:60" -> {"urgent": 30, "high": 60} (business minutes); ValueError says
    what is wrong."""
    targets: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, minutes = part.partition(":")
        name = name.strip().lower()
        if name not in PRIORITIES or not minutes.strip().isdigit() or int(minutes) < 1:
            raise ValueError(f"{setting}: {part!r} is not priority:minutes (priorities: "
                             f"{', '.join(PRIORITIES)}; e.g. {DEFAULT_FIRST_RESPONSE})")
        targets[name] = int(minutes)
    return targets


@dataclass(frozen=True)
class Policy:
    first_response: dict[str, int]
    resolution: dict[str, int]
    warn_share: float = 0.8


def policy_of(settings: Settings) -> Policy:
    return Policy(
        parse_targets(settings.sla_first_response_minutes, "CRMBOT_SLA_FIRST_RESPONSE_MINUTES"),
        parse_targets(settings.sla_resolution_minutes, "CRMBOT_SLA_RESOLUTION_MINUTES"),
        settings.sla_warn_percent / 100,
    )


@dataclass(frozen=True)
class Due:
    """One SLA event a ticket has reached: ``first_response_warning`` etc."""

    target: str
    level: str
    deadline: datetime
    minutes: int

    @property
    def kind(self) -> str:
        return f"{self.target}_{self.level}"


def add_business_time(start: datetime, seconds: float, team: Team) -> datetime | None:
    """The instant after ``seconds`` of the team's opening time from ``start`` on."""
    left = seconds
    for opens, closes in team.intervals(start, SEARCH_DAYS):
        begin = max(opens, start)
        if closes <= begin:
            continue
        span = (closes - begin).total_seconds()
        if span >= left:
            return begin + timedelta(seconds=left)
        left -= span
    return None


def reached(*, created_at: datetime, priority: str, first_response_at: datetime | None,
            open_: bool, policy: Policy, team: Team, now: datetime) -> list[Due]:
    """Every warning and breach this ticket has reached by ``now`` (earliest first)."""
    found: list[Due] = []
    clocks = ((FIRST_RESPONSE, policy.first_response, open_ and first_response_at is None),
              (RESOLUTION, policy.resolution, open_))
    for target, minutes_by_priority, running in clocks:
        minutes = minutes_by_priority.get(priority) or minutes_by_priority.get("normal")
        if not running or not minutes:
            continue
        for level, share in ((WARNING, policy.warn_share), (BREACH, 1.0)):
            at = add_business_time(created_at, minutes * 60 * share, team)
            if at is not None and at <= now:
                found.append(Due(target, level, at, minutes))
    return sorted(found, key=lambda d: d.deadline)
