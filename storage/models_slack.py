"""Tables of the Slack support desk (issue #4).

``ticket_sla_reminders`` records that the "nobody has claimed this" reminder went out for a
ticket. Its primary key is the ticket id, so the SLA checkers of several processes race on an
``INSERT … ON CONFLICT DO NOTHING`` and exactly one of them enqueues the reminder.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, utcnow


class TicketSlaReminder(Base):
    """One row per ticket whose unclaimed-SLA reminder was posted."""

    __tablename__ = "ticket_sla_reminders"

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="unclaimed")
    reminded_at: Mapped[datetime] = mapped_column(default=utcnow)
