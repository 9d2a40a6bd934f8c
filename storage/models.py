"""The database schema. Change it only together with an Alembic migration.

Three tables carry the delivery promise (docs/architecture.md): ``inbound_events`` (the inbox,
unique per channel and event id), ``messages`` (the transcript) and ``outbox`` (what is to be
sent, written in the same transaction as the state change that caused it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, orm_insert_sentinel, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both backends (SQLite stores naive values and loses the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(), dict[str, Any]: JSON()
    }


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(12))
    timezone: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_contact_at: Mapped[datetime | None]
    _sentinel: Mapped[int | None] = orm_insert_sentinel()  # see Message._sentinel


class ChannelIdentity(Base):
    """How one customer is known on one channel (a Telegram user, a widget visitor, ...)."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))
    unreachable_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """One chat with one customer on one channel; ``mode`` says who answers: bot or human."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "chat_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16), default="bot")
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime | None]


class InboundEvent(Base):
    """The inbox: every inbound event once, stored before the platform is acknowledged."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("channel", "event_id"),
        Index("ix_inbound_pending", "processed_at", "conversation_id"),
        Index("ix_inbound_dead", "dead_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(200))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    #: Not tried again before this (a failed attempt backs off); None: due now.
    retry_at: Mapped[datetime | None]
    #: Failed every attempt and closed without its effects (a dead letter, bot/deadletter.py).
    dead_at: Mapped[datetime | None]


class Message(Base):
    """The transcript, both directions; ``sender`` is customer, bot or agent."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conv_created", "conversation_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(3))
    sender: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default="text")
    inbound_event_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_events.id"))
    kb_entry_id: Mapped[str | None] = mapped_column(String(100))
    confidence: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Lets the ORM insert a batch's rows in ONE multi-row INSERT … RETURNING on SQLite too:
    #: SQLite cannot tie new ROWIDs to the parameter sets, so without a sentinel the unit of
    #: work sends one INSERT per row (two per reply; 64 statements in a batch of 32 events).
    _sentinel: Mapped[int | None] = orm_insert_sentinel()


class OutboxItem(Base):
    """One message to deliver; ``order_key`` items are delivered strictly one after another."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_order", "order_key", "id"),
        Index("ix_outbox_channel_external_id", "channel", "external_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    #: What the platform reported later (WhatsApp statuses): delivered, read or failed.
    receipt: Mapped[str | None] = mapped_column(String(16))
    receipt_at: Mapped[datetime | None]
    #: The transcript row this item delivers; set as an object so the unit of work fills in
    #: ``message_id`` when it inserts both in one flush (no extra round trip).
    message: Mapped[Message | None] = relationship(lazy="raise")
    _sentinel: Mapped[int | None] = orm_insert_sentinel()  # see Message._sentinel


class KBEntryRow(Base):
    """The current version of one knowledge-base entry (id, locale)."""

    __tablename__ = "kb_entries"
    __table_args__ = (UniqueConstraint("entry_id", "locale"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(12))
    question: Mapped[str] = mapped_column(Text)
    phrasings: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    revision: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200))


class KBRevision(Base):
    """Every change to an entry, with who made it: the history admins diff and restore from."""

    __tablename__ = "kb_revisions"
    __table_args__ = (Index("ix_kb_revisions_entry", "entry_id", "locale", "revision"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(12))
    revision: Mapped[int]
    action: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KBState(Base):
    """A single row whose counter rises on every KB change: processes reload when it moves."""

    __tablename__ = "kb_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)


class Ticket(Base):
    """A case handed to humans; ``id`` is the human-friendly number staff quote."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    reason: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text, default="")
    assignee: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]


class TicketNote(Base):
    """An internal note on a ticket: stored for staff, never sent to the customer."""

    __tablename__ = "ticket_notes"
    __table_args__ = (Index("ix_ticket_notes_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    author: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketSlaEvent(Base):
    """An SLA warning or breach a ticket reached (bot/sla.py), recorded once: the primary key
    is what lets the watchers of several processes race safely."""

    __tablename__ = "ticket_sla_events"
    __table_args__ = (Index("ix_ticket_sla_events_created", "created_at"),)

    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    deadline: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


from storage import agents as _agents  # noqa: E402,F401
from storage import models_admin as _models_admin  # noqa: E402,F401
from storage import models_broadcast as _models_broadcast  # noqa: E402,F401
from storage import models_email as _models_email  # noqa: E402,F401
from storage import models_feedback as _models_feedback  # noqa: E402,F401
from storage import models_help as _models_help  # noqa: E402,F401
from storage import models_identity as _models_identity  # noqa: E402,F401
from storage import models_reports as _models_reports  # noqa: E402,F401
from storage import models_slack as _models_slack  # noqa: E402,F401
from storage import models_surveys as _models_surveys  # noqa: E402,F401
from storage import saved_replies as _saved_replies  # noqa: E402,F401
