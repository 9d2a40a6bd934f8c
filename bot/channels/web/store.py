"""The widget's message log (``web_chat_messages``): what a browser shows, by increasing id.

Every bubble has one row: customer rows are written (deduplicated by the browser's message id)
before the message enters the inbox, outbound rows by the web adapter when the outbox delivers.
A browser asks for "everything after id N", so a reload or a reconnect shows exactly what it
missed, in order, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import OutboundMessage
from storage.models import Conversation, Message, utcnow
from storage.models_feedback import WebChatMessage
from storage.sql import insert_ignore

HISTORY_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    sender: str
    text: str
    buttons: list[Any]
    client_id: str | None
    meta: dict[str, Any]

    def frame(self) -> dict[str, Any]:
        """The JSON frame the widget renders."""
        frame: dict[str, Any] = {
            "type": "message", "id": self.id, "sender": self.sender, "text": self.text,
            "buttons": self.buttons,
        }
        if self.client_id:
            frame["client_id"] = self.client_id
        if self.meta.get("agent"):
            frame["agent"] = str(self.meta["agent"])[:80]
        return frame


async def add_customer_row(
    session: AsyncSession, chat_id: str, client_id: str, text: str
) -> None:
    """Record the customer's bubble once, however often the browser resends it."""
    await insert_ignore(
        session,
        WebChatMessage.__table__,  # type: ignore[arg-type]
        {"chat_id": chat_id, "client_id": client_id, "sender": "customer", "text": text,
         "buttons": [], "meta": {}, "created_at": utcnow()},
        ["chat_id", "client_id"],
    )


async def add_outbound_row(session: AsyncSession, message: OutboundMessage) -> int:
    """Store an outbound message for the browser; returns its row id."""
    sender = str(message.meta.get("sender") or await _transcript_sender(session, message))
    meta = {k: v for k, v in message.meta.items() if k in ("agent", "survey", "typing")}
    row = WebChatMessage(
        chat_id=message.chat_id,
        client_id=None,
        sender=sender if sender in ("bot", "agent", "system") else "bot",
        text=message.text,
        buttons=[[_button(b) for b in row] for row in message.buttons],
        meta=meta,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row.id


def _button(button: Any) -> dict[str, str]:
    out = {"label": str(button.label)}
    if button.url:
        out["url"] = str(button.url)
    if button.data:
        out["data"] = str(button.data)
    return out


async def _transcript_sender(session: AsyncSession, message: OutboundMessage) -> str:
    """Who wrote this reply, from the transcript (bot or agent), when meta does not say."""
    sender = await session.scalar(
        select(Message.sender)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.channel == message.channel,
            Conversation.chat_id == message.chat_id,
            Message.direction == "out",
            Message.text == message.text,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    return str(sender or "bot")


async def rows_since(session: AsyncSession, chat_id: str, since: int) -> list[Row]:
    """Rows after ``since`` in order (the newest HISTORY_LIMIT when starting from 0)."""
    stmt = select(WebChatMessage).where(WebChatMessage.chat_id == chat_id)
    if since > 0:
        stmt = stmt.where(WebChatMessage.id > since).order_by(WebChatMessage.id).limit(
            HISTORY_LIMIT
        )
        found = list((await session.scalars(stmt)).all())
    else:
        stmt = stmt.order_by(WebChatMessage.id.desc()).limit(HISTORY_LIMIT)
        found = list(reversed((await session.scalars(stmt)).all()))
    return [
        Row(r.id, r.sender, r.text, list(r.buttons or []), r.client_id, dict(r.meta or {}))
        for r in found
    ]
