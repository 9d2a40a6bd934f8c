"""Indexes and the conversation-day roll-up the management reports (issue #9) read.

Indexes: reports read the transcript and tickets by a period, so those time columns get an
index (migration 0009reports), plus (migration 0011reports):

- ``ix_messages_report_conv``: every column the transcript pass reads, in conversation order.
  The roll-up's maintenance and rebuild (below) read the transcript through it.
- ``ix_messages_feedback`` (partial, ``kind = 'feedback'``): the "helpful"/"not helpful"
  presses, read apart so the plain transcript pass never needs ``messages.text``.
- ``ix_tickets_backlog``: the backlog count (created before, not resolved by) from the index.

Roll-up (migration 0012reports, handlers/reports/rollup.py): ``report_conversation_days`` holds one
row per conversation and local day of the report time zone with what the report needs of that
day's messages (counts by direction and kind, first/last customer message, last KB answer,
feedback presses). Database triggers on ``messages`` keep it exact on insert, update and
delete, on SQLite and PostgreSQL. ``report_rollup_state`` names the zone the days are in (no
row: not built, the triggers do nothing); ``report_rollup_offsets`` lists that zone's UTC
offsets from each transition on, which is how SQLite (no time zones) finds a local day.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, Message, Ticket

INDEXES = (
    Index("ix_messages_created", Message.created_at),
    Index("ix_tickets_created", Ticket.created_at),
    Index("ix_tickets_first_response", Ticket.first_response_at),
    Index("ix_tickets_resolved", Ticket.resolved_at),
    Index("ix_messages_report_conv", Message.conversation_id, Message.created_at,
          Message.direction, Message.sender, Message.kind, Message.kb_entry_id),
    Index("ix_messages_feedback", Message.created_at, Message.conversation_id, Message.text,
          sqlite_where=text("kind = 'feedback'"), postgresql_where=text("kind = 'feedback'")),
    Index("ix_tickets_backlog", Ticket.created_at, Ticket.resolved_at),
)


class ReportConversationDay(Base):
    """One conversation on one local day with at least one message (kept by triggers)."""

    __tablename__ = "report_conversation_days"
    # SQLite: stored in key order, so a report's scan in (conversation, day) order for LEAD()
    # reads the table sequentially instead of looking every row up from an index
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 (SQLAlchemy reads it once)

    conversation_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    n_in: Mapped[int] = mapped_column(Integer)
    n_out: Mapped[int] = mapped_column(Integer)
    n_customer: Mapped[int] = mapped_column(Integer)  # customer wrote (not button/feedback)
    n_answers: Mapped[int] = mapped_column(Integer)  # bot answers from the KB
    n_helpful: Mapped[int] = mapped_column(Integer)  # feedback "helpful"
    n_unhelpful: Mapped[int] = mapped_column(Integer)  # feedback "not_helpful"
    first_customer: Mapped[datetime | None]
    last_customer: Mapped[datetime | None]
    last_answer: Mapped[datetime | None]


class ReportRollupState(Base):
    """The single row (id 1) naming the roll-up's time zone; absent = not built."""

    __tablename__ = "report_rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    zone: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[datetime]


class ReportRollupOffset(Base):
    """From ``since`` (UTC) on, the zone is ``modifier`` (SQLite's '+3600 seconds') ahead."""

    __tablename__ = "report_rollup_offsets"

    since: Mapped[datetime] = mapped_column(primary_key=True)
    modifier: Mapped[str] = mapped_column(String(24))
