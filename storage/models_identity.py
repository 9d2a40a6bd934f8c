"""Tables of cross-channel identity (issue #10): link codes, their attempts, and merges.

``link_codes`` holds one-time codes a customer asks for on one channel and types on another.
Only a SHA-256 of the code is stored (unique), with an expiry and a ``used_at`` that a
conditional UPDATE sets, so a code works once even when two processes race.
``link_attempts`` records every redeem attempt per channel identity: failed ones are counted
to rate-limit guessing. ``customer_merges`` is the audit trail of merges: which customer was
folded into which, by whom, and the primary keys of every row moved, so a merge can be undone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, utcnow


class LinkCode(Base):
    """A one-time code that links the channel it is typed on to ``customer_id``."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_identity_id: Mapped[int | None] = mapped_column(ForeignKey("channel_identities.id"))


class LinkAttempt(Base):
    """One attempt to redeem a code from one channel identity (failed ones rate-limit)."""

    __tablename__ = "link_attempts"
    __table_args__ = (Index("ix_link_attempts_identity", "identity_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"))
    ok: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerMerge(Base):
    """``source_id`` was folded into ``target_id``; ``moved`` lists the rows, for undo."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(64))
    moved: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    filled: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None] = mapped_column(String(200))
