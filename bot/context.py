"""What a handler sees and may do while one inbound event is processed.

Handlers never send anything themselves: :meth:`Context.reply` writes the transcript row and an
outbox item into the current transaction, so a reply exists exactly when the state change that
caused it is committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from bot.batchreads import BatchReads
from bot.config import Settings
from bot.desk import NullDesk, SupportDesk
from bot.i18n import Translator
from bot.kb import KnowledgeService
from bot.messages import Button, InboundMessage, OutboundMessage
from storage import outbox
from storage.models import ChannelIdentity, Conversation, Customer, Message, utcnow


@dataclass
class Services:
    """Long-lived collaborators handlers may use; built once per process by the app."""

    settings: Settings
    kb: KnowledgeService
    translator: Translator
    desk: SupportDesk = field(default_factory=NullDesk)


class Routing(Protocol):
    """What a handler may ask of the dispatcher that runs it (bot/dispatcher.py)."""

    async def dispatch_after(self, ctx: Context, priority: int) -> str | None: ...

    async def emit(self, event: str, ctx: Context, subject: Any) -> None: ...


class Undispatched:
    """The routing of a context no dispatcher has run yet: using it is a wiring error."""

    async def dispatch_after(self, ctx: Context, priority: int) -> str | None:
        raise RuntimeError("this context is not being dispatched")

    async def emit(self, event: str, ctx: Context, subject: Any) -> None:
        raise RuntimeError(f"cannot emit {event!r}: this context is not being dispatched")


@dataclass
class Context:
    session: AsyncSession
    services: Services
    inbound: InboundMessage
    conversation: Conversation
    customer: Customer
    identity: ChannelIdentity
    locale: str
    now: datetime = field(default_factory=utcnow)
    sent: list[OutboundMessage] = field(default_factory=list)
    reads: BatchReads = field(default_factory=BatchReads)  # this batch's shared reads
    routing: Routing = field(default_factory=Undispatched)  # set by the dispatcher

    @property
    def text(self) -> str:
        return self.inbound.text.strip()

    @property
    def state(self) -> dict[str, Any]:
        """Per-conversation handler state (JSON); call :meth:`save_state` after changing it."""
        if self.conversation.state is None:
            self.conversation.state = {}
        return self.conversation.state

    def save_state(self) -> None:
        flag_modified(self.conversation, "state")

    def t(self, key: str, **values: Any) -> str:
        return self.services.translator.t(key, self.locale, **values)

    def reply(
        self,
        text: str,
        buttons: tuple[tuple[Button, ...], ...] = (),
        *,
        kb_entry_id: str | None = None,
        confidence: float | None = None,
        meta: dict[str, Any] | None = None,
        sender: str = "bot",
    ) -> OutboundMessage:
        """Answer the customer on their own channel (in order, after earlier replies)."""
        message = OutboundMessage(
            channel=self.conversation.channel,
            chat_id=self.conversation.chat_id,
            text=text,
            buttons=buttons,
            locale=self.locale,
            meta=meta or {},
        )
        row = Message(
            conversation_id=self.conversation.id,
            direction="out",
            sender=sender,
            text=text,
            kind="text",
            kb_entry_id=kb_entry_id,
            confidence=confidence,
            created_at=utcnow(),
        )
        self.session.add(row)
        outbox.enqueue(
            self.session,
            message,
            order_key=f"conv:{self.conversation.id}",
            conversation_id=self.conversation.id,
            transcript=row,
        )
        self.sent.append(message)
        return message

    def notify(self, message: OutboundMessage, order_key: str) -> None:
        """Send something that is not a reply to the customer (e.g. a post in Slack)."""
        outbox.enqueue(self.session, message, order_key=order_key)
        self.sent.append(message)
