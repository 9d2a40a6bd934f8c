"""Tables of the e-mail channel (issue #12): every mail seen or sent, and kept attachments.

``email_messages`` is the channel's memory: one row per inbound mail (also ignored, malformed
and rate-limited ones, kept for staff with the raw bytes within CRMBOT_EMAIL_MAX_BYTES) and per
mail we sent. ``message_id`` is unique, so a redelivered mail is stored once; threading looks up
In-Reply-To / References here to find the conversation (``chat_id``) and builds the outbound
In-Reply-To / References chain from the latest row of a chat. ``buttons`` keeps the numbered
options of an outbound mail so a customer answering "2" presses the second button.
``email_attachments`` holds attachment metadata and, within the limits, the bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, utcnow


class EmailRecord(Base):
    """One mail in or out (``direction``); ``status`` says what became of an inbound one."""

    __tablename__ = "email_messages"
    __table_args__ = (Index("ix_email_messages_chat", "chat_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    direction: Mapped[str] = mapped_column(String(3))
    chat_id: Mapped[str | None] = mapped_column(String(320))
    sender: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text, default="")
    refs: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    buttons: Mapped[list[Any] | None] = mapped_column(JSON)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailAttachment(Base):
    """An attachment of an inbound mail; ``data`` is None when it was over the limits."""

    __tablename__ = "email_attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("email_messages.id"), index=True)
    filename: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
