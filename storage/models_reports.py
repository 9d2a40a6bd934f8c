"""Indexes the management reports (issue #9, bot/reports/) query by: time ranges.

No new tables: reports read the transcript and tickets by a period, so those time columns get
an index (migration 0009reports). Surveys, feedback and unanswered questions are far smaller
tables (and live in other branches of the migration graph); they are read without one.
"""

from __future__ import annotations

from sqlalchemy import Index

from storage.models import Message, Ticket

INDEXES = (
    Index("ix_messages_created", Message.created_at),
    Index("ix_tickets_created", Ticket.created_at),
    Index("ix_tickets_first_response", Ticket.first_response_at),
    Index("ix_tickets_resolved", Ticket.resolved_at),
)
