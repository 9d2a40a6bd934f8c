"""The ticket status machine: one table of which action moves a ticket from which status.

Statuses used to be bare strings set in five places (the staff actions, the CSAT low-score
reopen, the race-free claim), each with its own idea of which fields go with a status. Every
change of status now goes through :func:`move`, which refuses a move the table does not allow
and sets the fields that belong to the new status.
"""

from __future__ import annotations

from datetime import datetime

from storage.models import Ticket

OPEN = "open"
CLAIMED = "claimed"
RESOLVED = "resolved"
#: A case staff still have to work on: one per conversation at most.
OPEN_STATUSES = (OPEN, CLAIMED)

#: action -> statuses it may start from. The status it leads to is :func:`target`'s.
TRANSITIONS: dict[str, frozenset[str]] = {
    "claim": frozenset({OPEN}),
    "assign": frozenset({OPEN, CLAIMED}),
    "resolve": frozenset({OPEN, CLAIMED}),
    "reopen": frozenset({RESOLVED}),
}


class TransitionError(ValueError):
    """An action the ticket's status does not allow (e.g. claiming a resolved ticket)."""


def allowed(ticket: Ticket, action: str) -> bool:
    return ticket.status in TRANSITIONS[action]


def target(ticket: Ticket, action: str) -> str:
    """The status ``action`` leads to; a reopened ticket goes back to whoever had it."""
    if action == "resolve":
        return RESOLVED
    if action == "reopen":
        return CLAIMED if ticket.assignee else OPEN
    return CLAIMED


def move(ticket: Ticket, action: str, now: datetime, assignee: str | None = None) -> None:
    """Apply ``action`` (claim, assign, resolve, reopen) with the fields its new status needs.

    ``assignee`` is who claims or gets the ticket; for resolve, who resolved it (kept as the
    assignee when nobody had claimed it, so reports can credit them)."""
    if not allowed(ticket, action):
        raise TransitionError(f"cannot {action} a {ticket.status} ticket")
    ticket.status = target(ticket, action)
    if action in ("claim", "assign"):
        ticket.assignee = assignee
        ticket.claimed_at = ticket.claimed_at or now
    elif action == "resolve":
        ticket.resolved_at = now
        ticket.assignee = ticket.assignee or assignee or None
    else:
        ticket.resolved_at = None
