"""SLA watch: reminders and SLA alerts in the ticket's thread and the support channel.

Runs as a background task owned by the Slack set-up's cleanup context. Every check, in one
transaction:

- open, unclaimed tickets older than CRMBOT_SLA_UNCLAIMED_MINUTES get one reminder in their
  thread that mentions the on-call user group (CRMBOT_SLACK_ONCALL_GROUP);
- every open ticket is held against its priority's first-response and resolution targets in
  business hours (bot/sla.py): a warning goes to the thread, a breach to the thread and, as a
  new message, to the support channel, and counts in ``crmbot_sla_events_total{kind}``.

Each is recorded before it is queued; the insert is the lock, so with several processes
exactly one of them posts it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics, sla
from bot.config import Settings
from bot.hours import hours_for
from bot.i18n import Translator
from bot.messages import OutboundMessage
from storage import outbox
from storage import slack_threads as threads
from storage import tickets as repo
from storage.models import Ticket, utcnow

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
        self._settings = settings
        self._policy = sla.policy_of(settings)
        self._support_channel = settings.slack_support_channel
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
        """Queue reminders for overdue tickets and SLA alerts; the ticket ids reminded about."""
        now = now or utcnow()
        reminded: list[int] = []
        async with self._sessions.begin() as session:
            alerts = await self._sla(session, now)
            for ticket in await threads.overdue_unclaimed(session, self._minutes, now):
                if not await threads.mark_reminded(session, ticket.id, now):
                    continue
                outbox.enqueue(session, OutboundMessage(
                    channel="slack", chat_id=self._support_channel or "",
                    text=self._text(ticket.id),
                    meta={"slack_op": "thread", "thread_ticket": ticket.id},
                ), order_key=f"ticket:{ticket.id}")
                reminded.append(ticket.id)
        if reminded:
            log.info("SLA reminders queued for tickets %s", reminded)
        if reminded or alerts:
            self._wake()
        return reminded

    async def _sla(self, session: AsyncSession, now: datetime) -> int:
        """Record and post every SLA warning and breach reached since the last check."""
        tickets = await threads.open_with_thread(session)
        if not tickets:
            return 0
        done = await repo.sla_recorded(session, [t.id for t in tickets])
        team = hours_for(self._settings).team("default")
        posted = 0
        for ticket in tickets:
            for due in sla.reached(created_at=ticket.created_at, priority=ticket.priority,
                                   first_response_at=ticket.first_response_at, open_=True,
                                   policy=self._policy, team=team, now=now):
                if (ticket.id, due.kind) in done or not await repo.record_sla_event(
                        session, ticket.id, due.kind, due.deadline, now):
                    continue
                self._post_sla(session, ticket, due)
                metrics.SLA_EVENTS.labels(due.kind).inc()
                posted += 1
        return posted

    def _post_sla(self, session: AsyncSession, ticket: Ticket, due: sla.Due) -> None:
        mention = f"<!subteam^{self._group}> " if self._group else ""
        text = self._translator.t(f"desk_sla_{due.kind}", self._locale, ticket=ticket.id,
                                  priority=ticket.priority, minutes=due.minutes,
                                  mention=mention if due.level == sla.BREACH else "")
        outbox.enqueue(session, OutboundMessage(
            channel="slack", chat_id=self._support_channel or "", text=text,
            meta={"slack_op": "thread", "thread_ticket": ticket.id},
        ), order_key=f"ticket:{ticket.id}")
        if due.level == sla.BREACH and self._support_channel:
            outbox.enqueue(session, OutboundMessage(
                channel="slack", chat_id=self._support_channel, text=text,
                meta={"slack_op": "post"},
            ), order_key=f"slack-sla:{ticket.id}")

    def _text(self, ticket_id: int) -> str:
        mention = f"<!subteam^{self._group}> " if self._group else ""
        return self._translator.t("desk_sla_reminder", self._locale, mention=mention,
                                  ticket=ticket_id, minutes=self._minutes)
