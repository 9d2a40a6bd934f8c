"""When a customer last wrote, for the 24-hour windows of WhatsApp, Messenger and Instagram."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.core import Core
from storage import receipts

LastSeen = Callable[[str], Awaitable[datetime | None]]


def last_seen(core: Core, channel: str) -> LastSeen:
    """A look-up of the customer's last message in one chat of ``channel`` (own session)."""

    async def look_up(chat_id: str) -> datetime | None:
        async with core.sessions() as session:
            return await receipts.last_customer_message(session, channel, chat_id)

    return look_up
