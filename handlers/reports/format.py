"""Human formatting of report values (HTML, PDF, Slack): durations, percentages, deltas."""

from __future__ import annotations

from handlers.reports.i18n import Translate, english
from handlers.reports.model import HEADLINE, Value

DASH = "–"

#: Column headings for people (HTML, PDF and CSV alike); internal names stay in JSON.
COLUMN_LABELS = {
    "channel": "Channel", "locale": "Language", "agent": "Agent", "day": "Day",
    "customers": "Customers", "conversations": "Conversations", "messages": "Messages",
    "conversation_days": "Conversation days", "deflected": "Solved by the bot",
    "deflection_rate": "Deflection rate", "tickets_opened": "Tickets opened",
    "tickets_solved": "Tickets solved", "tickets": "Tickets", "reason": "Reason",
    "frt_business_median_s": "First response, median (business hours)",
    "frt_business_p90_s": "First response, 90th percentile (business hours)",
    "resolution_business_median_s": "Resolution, median (business hours)",
    "resolution_business_p90_s": "Resolution, 90th percentile (business hours)",
    "csat": "CSAT", "csat_responses": "CSAT answers", "csat_response_rate": "CSAT answer rate",
    "entry_id": "Knowledge-base entry", "answers": "Answers", "helpful": "Helpful",
    "not_helpful": "Not helpful", "questions": "Questions",
    "suggested_question": "Suggested question", "examples": "Examples",
    "views": "Views", "helpful_share": "Found it helpful", "sla_event": "SLA event",
}


#: Cell values that are internal names, shown by a label (SLA event kinds); CSV keeps the names.
VALUE_LABELS = {
    "first_response_breach": "First response target missed",
    "resolution_breach": "Resolution target missed",
    "first_response_warning": "First response target nearly missed",
    "resolution_warning": "Resolution target nearly missed",
}


def column_label(column: str, tr: Translate = english) -> str:
    return tr(COLUMN_LABELS.get(column, column.replace("_", " ").capitalize()))


def duration(seconds: float, tr: Translate = english) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return tr("{hours} h {minutes} min").format(hours=hours, minutes=f"{minutes:02d}")
    return tr("{days} days").format(days=f"{hours / 24:.1f}")


def value(key: str, v: Value, tr: Translate = english) -> str:
    if v is None:
        return DASH
    unit = HEADLINE.get(key, ("", "n"))[1]
    if isinstance(v, str):
        return v
    if unit == "%":
        return f"{v:.1f}%"
    if unit == "s":
        return duration(float(v), tr)
    if unit == "score":
        return f"{v:.1f}" if isinstance(v, float) else str(v)
    return f"{v:,}".replace(",", " ") if isinstance(v, int) else f"{v:.1f}"


def cell(column: str, v: Value, tr: Translate = english) -> str:
    """A table cell: columns ending in _s are durations, rate/csat columns percentages."""
    if v is None:
        return DASH
    if isinstance(v, str) and v in VALUE_LABELS:
        return tr(VALUE_LABELS[v])
    if isinstance(v, float):
        if column.endswith("_s"):
            return duration(v, tr)
        if column.endswith("rate") or column == "csat":
            return f"{v:.1f}%"
        return f"{v:.1f}"
    return str(v)


def change(key: str, now: Value, before: Value, tr: Translate = english) -> str:
    """"+12.0%" for counts and rates, "+5 min" for durations, "–" when not comparable."""
    if not isinstance(now, int | float) or not isinstance(before, int | float):
        return DASH
    unit = HEADLINE.get(key, ("", "n"))[1]
    diff = float(now) - float(before)
    if unit == "s":
        return ("+" if diff >= 0 else "−") + duration(abs(diff), tr)
    if unit in ("%", "score"):
        return f"{diff:+.1f}" + (" pp" if unit == "%" else "")
    if before == 0:
        return DASH
    return f"{100 * diff / float(before):+.1f}%"
