"""Tables of the Slack support desk (issue #4): the desk's own state, kept off ``tickets``.

``slack_threads`` says where a ticket's thread lives (the root post's channel and ``ts``); the
adapter writes it when the root post is delivered, and staff replies in a thread find their
ticket through it.

``ticket_sla_reminders`` records that the "nobody has claimed this" reminder went out for a
ticket. Its primary key is the ticket id, so the SLA checkers of several processes race on an
``INSERT … ON CONFLICT DO NOTHING`` and exactly one of them enqueues the reminder.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, utcnow


class TicketSlaReminder(Base):
    """One row per ticket whose unclaimed-SLA reminder was posted."""

    __tablename__ = "ticket_sla_reminders"

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="unclaimed")
    reminded_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlackThread(Base):
    """The Slack thread of a ticket (one per ticket: only the first root post counts)."""

    __tablename__ = "slack_threads"
    __table_args__ = (Index("ix_slack_threads_thread", "channel", "thread_ts", unique=True),)

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    thread_ts: Mapped[str] = mapped_column(String(32))
