"""One path from a Telegram update to the inbox, shared by polling and the webhook.

The update is stored (``Core.ingest``) before anything acknowledges it; a button press is
then answered with ``answerCallbackQuery`` (the spinner on the customer's button stops; the
real reply comes through the outbox). Answering is a UI courtesy, so it runs in the
background and its failure is only logged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Bot
from telegram.error import TelegramError

from bot.channels.telegram.inbound import BotIdentity, to_inbound
from bot.core import Core

log = logging.getLogger("crmbot.telegram")


class MalformedUpdate(ValueError):
    """The update cannot be read (not a storage problem): retrying it can never help."""


class UpdateSink:
    """Stores updates through the core and acknowledges button presses."""

    def __init__(self, core: Core, bot: Bot, me: BotIdentity) -> None:
        self._core = core
        self._bot = bot
        self.me = me
        self._acks: set[asyncio.Task[None]] = set()

    async def store(self, update: dict[str, Any]) -> bool:
        """Ingest one update; True if it was new. Raises MalformedUpdate for an unreadable
        update, anything else when it could not be stored (then it must be delivered again)."""
        try:
            message = to_inbound(update, self.me)
        except Exception as exc:
            raise MalformedUpdate(f"{type(exc).__name__}: {exc}") from exc
        if message is None:
            return False
        result = await self._core.ingest(message)
        query = update.get("callback_query")
        if isinstance(query, dict) and query.get("id"):
            task = asyncio.create_task(self._answer(str(query["id"])))
            self._acks.add(task)
            task.add_done_callback(self._acks.discard)
        return not result.duplicate

    async def _answer(self, query_id: str) -> None:
        try:
            await self._bot.answer_callback_query(query_id)
        except TelegramError as exc:  # too old, already answered, network: the UI copes
            log.info("telegram: answerCallbackQuery %s failed: %s", query_id, exc)

    async def close(self) -> None:
        """Let pending acknowledgements finish briefly, then drop them."""
        if self._acks:
            await asyncio.wait(set(self._acks), timeout=2.0)
        for task in self._acks:
            task.cancel()
