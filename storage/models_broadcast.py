"""Tables of the announcements feature (issue #7): broadcasts and their recipients.

``broadcasts`` holds what to send (``spec``: segment, per-locale texts, buttons) and where it
stands. ``broadcast_recipients`` has exactly one row per ``(broadcast_id, customer_id)``
(unique): the snapshot of who gets it. A recipient moves ``pending`` -> ``enqueued`` in the
same transaction that creates its outbox item (``outbox_item_id``), so a restart can neither
enqueue it twice nor forget it. What happened after that is the outbox item's status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, utcnow


class Broadcast(Base):
    """One announcement. ``status``: draft, running, paused, cancelled, done."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    send_at: Mapped[datetime | None]
    materialized: Mapped[bool] = mapped_column(default=False)
    last_customer_id: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class BroadcastRecipient(Base):
    """One customer of one broadcast. ``status``: pending, enqueued, skipped (with ``reason``)."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "customer_id"),
        Index("ix_broadcast_recipients_queue", "broadcast_id", "status", "channel", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    outbox_item_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
