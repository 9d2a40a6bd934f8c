"""The ``web`` channel adapter: delivering to a browser means storing the message for it.

The browser may be offline (tab closed, train tunnel), so a send succeeds once the message is
committed to the widget's log; then every socket of that chat open in THIS process is poked and
pushes it at once. Sockets in other processes, and browsers that come back later, read it from
the log by id (sockets also poll every few seconds), so a live push is best effort and never the
only copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.web import store
from bot.messages import OutboundMessage
from bot.ports import RateLimit, SendResult

log = logging.getLogger("crmbot.web")


class Hub:
    """Live sockets by chat id, each represented by the event that wakes its pusher."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Event]] = defaultdict(set)

    def add(self, chat_id: str, wake: asyncio.Event) -> None:
        self._listeners[chat_id].add(wake)

    def remove(self, chat_id: str, wake: asyncio.Event) -> None:
        listeners = self._listeners.get(chat_id)
        if listeners is None:
            return
        listeners.discard(wake)
        if not listeners:
            del self._listeners[chat_id]

    def poke(self, chat_id: str) -> int:
        """Wake every socket of this chat; returns how many were woken."""
        listeners = self._listeners.get(chat_id, set())
        for wake in listeners:
            wake.set()
        return len(listeners)

    def connected(self, chat_id: str) -> int:
        return len(self._listeners.get(chat_id, ()))


class WebChannel:
    """ChannelAdapter for the website widget."""

    name = "web"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], hub: Hub) -> None:
        self._sessions = sessions
        self.hub = hub

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return ()

    def is_group(self, chat_id: str) -> bool:
        return False

    async def send(self, message: OutboundMessage) -> SendResult:
        try:
            async with self._sessions.begin() as session:
                row_id = await store.add_outbound_row(session, message)
        except Exception as exc:  # the database hiccuped: the outbox retries with backoff
            log.warning("storing a widget message for %s failed: %s", message.chat_id, exc)
            return SendResult.retry(f"{type(exc).__name__}: {exc}")
        self.hub.poke(message.chat_id)
        return SendResult.sent(f"web:{row_id}")
