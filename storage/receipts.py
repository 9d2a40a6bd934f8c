"""Delivery receipts and the customer-service window of platforms that have one.

WhatsApp (and Messenger) report after the send what became of a message: delivered, read, or
failed (e.g. the number has no WhatsApp). The receipt is kept on the outbox item that sent it,
found by the platform's message id; receipts may arrive out of order and more than once, so
a receipt never moves an item backwards (read stays read when a late "delivered" arrives).
A "failed" receipt also marks the item failed with the platform's reason, so it shows in
`crmbot outbox` and the transcript like any other failed send.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, OutboxItem

#: Later receipts outrank earlier ones; "failed" is final.
RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


async def record(session: AsyncSession, channel: str, external_id: str, status: str,
                 error: str, now: datetime) -> bool:
    """Keep ``status`` for the item that sent ``external_id``; False if unknown or older."""
    if status not in RANK:
        return False
    item = await session.scalar(select(OutboxItem).where(
        OutboxItem.channel == channel, OutboxItem.external_id == external_id).limit(1))
    if item is None or RANK.get(item.receipt or "", 0) >= RANK[status]:
        return False
    values: dict[str, object] = {"receipt": status, "receipt_at": now}
    if status == "failed":
        values.update(status="failed", last_error=f"{channel} reported failed: {error}"[:2000])
    await session.execute(update(OutboxItem).where(OutboxItem.id == item.id).values(**values))
    return True


async def last_customer_message(session: AsyncSession, channel: str,
                                chat_id: str) -> datetime | None:
    """When the customer last wrote in this chat (the start of a 24-hour window)."""
    return await session.scalar(select(func.max(Conversation.last_message_at)).where(
        Conversation.channel == channel, Conversation.chat_id == chat_id))
