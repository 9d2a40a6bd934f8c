"""The broadcast runner: lists recipients, feeds the outbox in small windows, notices the end.

Why windows: the outbox delivers in id order. If a 100,000-recipient broadcast were enqueued at
once, every customer's conversation reply would wait behind it. The runner therefore keeps at
most about 1.5 seconds' worth of a channel's rate (:func:`window`) of due items in the outbox
(replies included, so a busy support channel slows the broadcast, not the other way round), and
fills every channel's window on each tick: channels progress side by side at their own limits.

Exactly once per recipient: a recipient goes ``pending`` -> ``enqueued`` in the transaction that
creates its outbox item; on PostgreSQL the rows are taken ``FOR UPDATE SKIP LOCKED`` so several
workers never take the same recipient. The send-time checks live in handlers/broadcast/guard.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from bot.config import Settings
from bot.i18n import Translator
from bot.messages import OutboundMessage
from bot.ports import ChannelRegistry
from handlers.broadcast.segments import Candidate, batches
from handlers.broadcast.spec import BroadcastSpec
from storage import outbox
from storage.consent import has_consent
from storage.models import Conversation, Customer, Message, OutboxItem, utcnow
from storage.models_broadcast import Broadcast, BroadcastRecipient
from storage.sql import dialect_insert, is_postgres

log = logging.getLogger("crmbot.broadcast")

MAX_BATCH = 500
DUE_HORIZON = timedelta(seconds=5)
DEFAULT_RATE = 30.0
UNLIMITED_RATE = 300.0


def window(registry: ChannelRegistry, channel: str) -> int:
    """How many due outbox items this channel may hold: ~1.5 s of its global rate."""
    adapter = registry.get(channel)
    if adapter is None:
        return 0
    rates = [lim.amount / lim.seconds for lim in adapter.limits if lim.scope == "global"]
    rate = min(rates) if rates else (UNLIMITED_RATE if not adapter.limits else DEFAULT_RATE)
    return max(5, int(rate * 1.5))


def due_at(candidate: Candidate, spec: BroadcastSpec, start: datetime, settings: Settings
           ) -> datetime:
    """When this recipient may get it: the start, or their own wall clock / outside quiet
    hours when the schedule asks (bot/hours.py)."""
    sched = spec.schedule
    if sched.local_time is None and not sched.quiet_hours:
        return start
    from bot.hours import next_send_time

    return next_send_time(start, candidate.customer, settings, local_time=sched.wall_clock())


class BroadcastRunner:
    """One per process; safe to run in every worker (the database arbitrates)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings,
        registry: ChannelRegistry, translator: Translator, *, wake: object = None,
        interval: float = 0.1,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._registry = registry
        self._translator = translator
        self._wake = wake
        self._interval = interval
        self._finish_checked: dict[int, float] = {}

    async def run(self) -> None:
        while True:
            try:
                busy = await self.tick()
            except Exception:  # a bad tick must not end announcements for good
                log.exception("broadcast tick failed")
                busy = 0
            await asyncio.sleep(self._interval if busy else max(self._interval, 0.5))

    async def tick(self) -> int:
        """One round over running broadcasts; returns how much work was done."""
        now = utcnow()
        async with self._sessions() as session:
            running = list((await session.scalars(
                select(Broadcast).where(Broadcast.status == "running").order_by(Broadcast.id)
            )).all())
        work = 0
        for row in running:
            if not row.materialized:
                work += await self.materialize(row.id)
            if row.send_at is not None and row.send_at > now:
                continue
            for channel in self._registry.names():
                work += await self.enqueue(row.id, channel)
            await self.maybe_finish(row.id)
        if work and callable(self._wake):
            self._wake()
        return work

    async def materialize(self, broadcast_id: int) -> int:
        """List the next batch of recipients (resumable: ``last_customer_id``)."""
        async with self._sessions.begin() as session:
            row = await session.get(Broadcast, broadcast_id, with_for_update=True)
            if row is None or row.materialized or row.status != "running":
                return 0
            spec = BroadcastSpec.model_validate(row.spec)
            start = row.send_at or row.started_at or utcnow()
            pages = batches(session, spec.segment, self._settings.default_locale,
                            after_id=row.last_customer_id)
            found: list[Candidate] = []
            done = False
            try:
                found, row.last_customer_id = await anext(pages)
            except StopAsyncIteration:
                done = True
            finally:
                await pages.aclose()  # type: ignore[attr-defined]
            values = [{
                "broadcast_id": broadcast_id, "customer_id": c.customer.id,
                "conversation_id": c.conversation_id, "channel": c.channel,
                "locale": c.locale, "status": "pending",
                "due_at": due_at(c, spec, start, self._settings),
            } for c in found]
            if values:
                await session.execute(
                    dialect_insert(session)(BroadcastRecipient).values(values)
                    .on_conflict_do_nothing(index_elements=["broadcast_id", "customer_id"]))
            if done:
                row.materialized = True
        return len(values) + 1

    async def enqueue(self, broadcast_id: int, channel: str) -> int:
        """Top the channel's outbox window up with this broadcast's due recipients."""
        room = window(self._registry, channel)
        now = utcnow()
        async with self._sessions.begin() as session:
            active = int(await session.scalar(
                select(func.count()).select_from(OutboxItem).where(
                    OutboxItem.status.in_(outbox.ACTIVE), OutboxItem.channel == channel,
                    OutboxItem.next_attempt_at <= now + DUE_HORIZON)) or 0)
            room = min(room - active, MAX_BATCH)
            if room <= 0:
                return 0
            stmt = (
                select(BroadcastRecipient, Conversation.chat_id, Customer.attributes)
                .join(Conversation, Conversation.id == BroadcastRecipient.conversation_id)
                .join(Customer, Customer.id == BroadcastRecipient.customer_id)
                .where(BroadcastRecipient.broadcast_id == broadcast_id,
                       BroadcastRecipient.status == "pending",
                       BroadcastRecipient.channel == channel,
                       BroadcastRecipient.due_at <= now)
                .order_by(BroadcastRecipient.id).limit(room))
            if is_postgres(session):
                stmt = stmt.with_for_update(skip_locked=True, of=BroadcastRecipient)
            rows = (await session.execute(stmt)).all()
            if not rows:
                return 0
            spec = BroadcastSpec.model_validate(
                (await session.get(Broadcast, broadcast_id)).spec  # type: ignore[union-attr]
            )
            queued: list[tuple[BroadcastRecipient, OutboxItem]] = []
            for recipient, chat_id, attrs in rows:
                if not has_consent(attrs):
                    recipient.status, recipient.reason = "skipped", "opted_out"
                    metrics.BROADCAST_SKIPPED.labels("opted_out").inc()
                    continue
                queued.append((recipient, self._enqueue_one(
                    session, broadcast_id, spec, recipient, chat_id, now)))
            await session.flush()  # one batched INSERT … RETURNING for the ids
            for recipient, item in queued:
                recipient.status, recipient.outbox_item_id = "enqueued", item.id
            metrics.BROADCAST_ENQUEUED.labels(channel).inc(len(queued))
        return len(rows)

    def _enqueue_one(
        self, session: AsyncSession, broadcast_id: int, spec: BroadcastSpec,
        recipient: BroadcastRecipient, chat_id: str, now: datetime,
    ) -> OutboxItem:
        text = spec.text_for(recipient.locale)
        if spec.footer:
            text = f"{text}\n\n{self._translator.t('broadcast_footer', recipient.locale)}"
        session.add(Message(conversation_id=recipient.conversation_id, direction="out",
                            sender="bot", text=text, kind="broadcast", created_at=now))
        return outbox.enqueue(
            session,
            OutboundMessage(channel=recipient.channel, chat_id=chat_id, text=text,
                            buttons=spec.buttons_for(recipient.locale), locale=recipient.locale,
                            meta={"broadcast": broadcast_id,
                                  "broadcast_recipient": recipient.id}),
            order_key=f"bc:{broadcast_id}:{recipient.customer_id}",
            conversation_id=recipient.conversation_id,
        )

    async def maybe_finish(self, broadcast_id: int) -> None:
        """Mark done when every recipient is listed and has an outcome (checked ~1/s)."""
        mono = time.monotonic()
        if mono - self._finish_checked.get(broadcast_id, 0.0) < 1.0:
            return
        self._finish_checked[broadcast_id] = mono
        async with self._sessions.begin() as session:
            row = await session.get(Broadcast, broadcast_id, with_for_update=True)
            if row is None or row.status != "running" or not row.materialized:
                return
            pending = await session.scalar(
                select(BroadcastRecipient.id).where(
                    BroadcastRecipient.broadcast_id == broadcast_id,
                    BroadcastRecipient.status == "pending").limit(1))
            if pending is not None:
                return
            active = await session.scalar(
                select(BroadcastRecipient.id)
                .join(OutboxItem, OutboxItem.id == BroadcastRecipient.outbox_item_id)
                .where(BroadcastRecipient.broadcast_id == broadcast_id,
                       BroadcastRecipient.status.in_(("enqueued", "sending")),
                       OutboxItem.status.in_(outbox.ACTIVE)).limit(1))
            if active is None:
                row.status, row.finished_at = "done", utcnow()
                log.info("broadcast %s finished", broadcast_id)


async def run_until_stopped(runner: BroadcastRunner) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await runner.run()
