"""What a report is: headline figures (this period and the previous one) and named tables.

Everything renders from these plain structures: HTML and PDF (``render``), CSV (one file per
table), JSON (the API and ``crmbot report --json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from handlers.reports.period import Period

Value = int | float | str | None

# key -> (label, unit); unit: "n" count, "%" percent, "s" seconds, "score"
HEADLINE: dict[str, tuple[str, str]] = {
    "customers": ("Customers who wrote", "n"),
    "conversations": ("Conversations", "n"),
    "messages_in": ("Messages from customers", "n"),
    "messages_out": ("Messages to customers", "n"),
    "contact_days": ("Conversation-days", "n"),
    "bot_answered_days": ("Conversation-days the bot answered", "n"),
    "deflected_confirmed": ("Resolved by the bot (confirmed)", "n"),
    "deflected_assumed": ("Resolved by the bot (assumed)", "n"),
    "deflection_rate": ("Deflection rate", "%"),
    "escalations": ("Escalations to a person", "n"),
    "tickets_opened": ("Tickets opened", "n"),
    "tickets_solved": ("Tickets solved", "n"),
    "backlog": ("Backlog at period end", "n"),
    "frt_business_median": ("First response, median (business hours)", "s"),
    "frt_business_p90": ("First response, p90 (business hours)", "s"),
    "frt_median": ("First response, median (clock)", "s"),
    "frt_p90": ("First response, p90 (clock)", "s"),
    "resolution_business_median": ("Resolution, median (business hours)", "s"),
    "resolution_business_p90": ("Resolution, p90 (business hours)", "s"),
    "resolution_median": ("Resolution, median (clock)", "s"),
    "resolution_p90": ("Resolution, p90 (clock)", "s"),
    "csat": ("CSAT (% satisfied)", "%"),
    "csat_average": ("CSAT average (1-5)", "score"),
    "csat_responses": ("CSAT answers", "n"),
    "csat_response_rate": ("CSAT response rate", "%"),
    "nps": ("NPS", "score"),
    "nps_responses": ("NPS answers", "n"),
    "nps_response_rate": ("NPS response rate", "%"),
    "feedback_count": ("Ratings and reviews received", "n"),
    "feedback_rating": ("Average rating", "score"),
    "unanswered": ("Questions the bot could not answer", "n"),
    "broadcast_reach": ("Broadcast recipients reached", "n"),
    "broadcast_optouts": ("Broadcast opt-outs", "n"),
}


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Value]] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Value]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class Report:
    period: Period
    previous: Period
    generated_at: datetime
    headline: dict[str, Value]
    previous_headline: dict[str, Value]
    tables: list[Table]
    notes: list[str] = field(default_factory=list)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "period": _period_json(self.period),
            "previous_period": _period_json(self.previous),
            "generated_at": self.generated_at.isoformat(),
            "headline": self.headline,
            "previous": self.previous_headline,
            "tables": {t.name: t.as_dicts() for t in self.tables},
            "notes": self.notes,
        }


def _period_json(p: Period) -> dict[str, str]:
    return {"since": p.first_day.isoformat(), "until": p.last_day.isoformat(),
            "start": p.start.isoformat(), "end": p.end.isoformat(), "timezone": p.tz.key}


def day_str(d: date) -> str:
    return d.isoformat()
