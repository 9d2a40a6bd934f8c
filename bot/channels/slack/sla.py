"""SLA watch: a reminder in the thread when a ticket stays unclaimed too long.

Runs as a background task owned by the Slack set-up's cleanup context. Every check, in one
transaction: find open, unclaimed tickets older than CRMBOT_SLA_UNCLAIMED_MINUTES that have a
desk thread, record the reminder (the insert is the lock: with several processes exactly one
wins) and queue a thread post that mentions the on-call user group (CRMBOT_SLACK_ONCALL_GROUP).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.i18n import Translator
from bot.messages import OutboundMessage
from storage import outbox
from storage import tickets as repo
from storage.models import utcnow

log = logging.getLogger("crmbot.slack.sla")

CHECK_SECONDS = 30.0


class SlaWatch:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        translator: Translator,
        wake: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._minutes = settings.sla_unclaimed_minutes
        self._group = settings.slack_oncall_group
        self._locale = settings.default_locale
        self._translator = translator
        self._wake = wake

    async def run(self, interval: float | None = None) -> None:
        """Check forever; a failed check is logged and tried again next time."""
        while True:
            try:
                await self.check_once()
            except Exception:
                log.exception("SLA check failed; trying again in %.0f s", CHECK_SECONDS)
            await asyncio.sleep(CHECK_SECONDS if interval is None else interval)

    async def check_once(self, now: datetime | None = None) -> list[int]:
        """Queue reminders for overdue tickets; the ticket ids reminded about."""
        now = now or utcnow()
        reminded: list[int] = []
        async with self._sessions.begin() as session:
            for ticket in await repo.overdue_unclaimed(session, self._minutes, now):
                if not await repo.mark_reminded(session, ticket.id, now):
                    continue
                outbox.enqueue(session, OutboundMessage(
                    channel="slack", chat_id=ticket.slack_channel or "",
                    text=self._text(ticket.id),
                    meta={"slack_op": "thread", "thread_ticket": ticket.id},
                ), order_key=f"ticket:{ticket.id}")
                reminded.append(ticket.id)
        if reminded:
            log.info("SLA reminders queued for tickets %s", reminded)
            self._wake()
        return reminded

    def _text(self, ticket_id: int) -> str:
        mention = f"<!subteam^{self._group}> " if self._group else ""
        return self._translator.t("desk_sla_reminder", self._locale, mention=mention,
                                  ticket=ticket_id, minutes=self._minutes)
