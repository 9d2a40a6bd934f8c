"""When a customer last wrote, for the 24-hour windows of WhatsApp, Messenger and Instagram."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.core import Core
from bot.messages import OutboundMessage
from storage import receipts

LastSeen = Callable[[str], Awaitable[datetime | None]]
#: Meta's customer-service window (WhatsApp) and standard messaging window (Messenger).
WINDOW = timedelta(hours=24)


def purpose(message: OutboundMessage) -> str:
    """What a message is for, which decides what a closed window allows: announcement,
    survey or reply."""
    if "broadcast" in message.meta:
        return "announcement"
    if "survey_run" in message.meta:
        return "survey"
    return "reply"


def last_seen(core: Core, channel: str) -> LastSeen:
    """A look-up of the customer's last message in one chat of ``channel`` (own session)."""

    async def look_up(chat_id: str) -> datetime | None:
        async with core.sessions() as session:
            return await receipts.last_customer_message(session, channel, chat_id)

    return look_up
