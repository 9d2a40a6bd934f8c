"""Indexes the management reports (issue #9, bot/reports/) query by.

No new tables: reports read the transcript and tickets by a period, so those time columns get
an index (migration 0009reports), plus (migration 0011reports):

- ``ix_messages_report_conv``: every column the transcript pass reads, in conversation order.
  On SQLite the pass scans it instead of the table (no row lookups), and rows arrive grouped
  by conversation, so the GROUP BY (conversation, local day) sorter gets almost sorted input:
  about twice as fast as a range scan on ``created_at`` when the report covers most of the
  transcript (bot/reports/deflection.py decides).
- ``ix_messages_feedback`` (partial, ``kind = 'feedback'``): the "helpful"/"not helpful"
  presses, read apart so the pass above never needs ``messages.text``.
- ``ix_tickets_backlog``: the backlog count (created before, not resolved by) from the index.
"""

from __future__ import annotations

from sqlalchemy import Index, text

from storage.models import Message, Ticket

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
