"""Tables of the website channel and the feedback intake (issue #5).

``web_chat_messages`` is what the widget shows: one row per bubble in either direction, with the
buttons the bot offered. It is the widget's "platform": the web adapter stores an outbound
message there (that is a successful send), and a reconnecting browser asks for every row after
the last id it saw, so nothing is missed and nothing shown twice. ``feedback`` holds ratings and
reviews from the widget form and the intake API; ``web_secrets`` keeps the generated widget
signing secret so session tokens survive restarts (and work across processes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, BigId, utcnow


class WebChatMessage(Base):
    """One bubble in a widget conversation; ``client_id`` dedups a browser's resends."""

    __tablename__ = "web_chat_messages"
    __table_args__ = (
        UniqueConstraint("chat_id", "client_id"),
        Index("ix_web_chat_messages_chat", "chat_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str | None] = mapped_column(String(100))
    sender: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    buttons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """A rating or review: from the widget form, a review site, a forum, a mail bridge."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    author: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(2000))
    rating: Mapped[int | None]
    text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(12))
    email: Mapped[str | None] = mapped_column(String(320))
    sentiment: Mapped[str] = mapped_column(String(16))
    suggested_reply: Mapped[str | None] = mapped_column(Text)
    suggested_entry_id: Mapped[str | None] = mapped_column(String(100))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The public answer staff sent back to the source (CRMBOT_REVIEW_WEBHOOKS), and who.
    reply_text: Mapped[str | None] = mapped_column(Text)
    replied_by: Mapped[str | None] = mapped_column(String(200))
    replied_at: Mapped[datetime | None]


class WebSecret(Base):
    """Generated secrets by name (the widget token key when CRMBOT_WIDGET_SECRET is unset)."""

    __tablename__ = "web_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
