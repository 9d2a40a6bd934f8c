"""Processing: turns stored inbound events into state changes and outbox items, exactly once.

Each event is handled in ONE transaction that runs the routers, writes their effects and marks
the event processed, so a crash anywhere rolls back to "not processed" and the event is simply
handled again after restart. One conversation is processed by one task at a time (in-process
set, plus a PostgreSQL advisory lock across processes), oldest event first.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import language, metrics
from bot.context import Context, Services
from bot.dispatcher import Dispatcher
from bot.i18n import normalise_locale
from bot.messages import InboundMessage
from storage.models import ChannelIdentity, Conversation, Customer, InboundEvent, utcnow
from storage.sql import advisory_xact_lock

log = logging.getLogger("crmbot.processor")

LOCK_NAMESPACE = 7301
MAX_ATTEMPTS = 3


_NEXT_EVENT = (
    # The oldest pending event with everything a handler needs, in one round trip; built once.
    select(InboundEvent, Conversation, Customer, ChannelIdentity)
    .join(Conversation, Conversation.id == InboundEvent.conversation_id)
    .join(Customer, Customer.id == Conversation.customer_id)
    .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
    .where(
        InboundEvent.conversation_id == bindparam("cid"), InboundEvent.processed_at.is_(None)
    )
    .order_by(InboundEvent.id)
    .limit(2)  # the second row only says whether another event is waiting
)


class _Outcome(enum.Enum):
    STOP = "stop"  # nothing processed (none pending, locked elsewhere, or a failed attempt)
    MORE = "more"  # one event processed and another is waiting
    LAST = "last"  # one event processed and it was the last one seen


class _HandlerFailed(Exception):
    """A handler raised on the savepoint-free path: roll back and retry with a savepoint."""


class Processor:
    """Runs the dispatcher over pending inbox events, per conversation, in order."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        services: Services,
        dispatcher: Dispatcher,
        *,
        concurrency: int = 16,
        poll_interval: float = 1.0,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._services = services
        self._dispatcher = dispatcher
        self._slots = asyncio.Semaphore(concurrency)
        self._poll = poll_interval
        self._on_commit = on_commit or (lambda: None)
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._active: set[int] = set()
        self._again: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, conversation_id: int) -> None:
        """A new event for this conversation was committed to the inbox."""
        self._queue.put_nowait(conversation_id)

    async def run(self) -> None:
        try:
            while True:
                try:
                    pending = await self._pending_conversations()
                except Exception:  # the database is away: keep trying, never die
                    log.exception("cannot list pending conversations; retrying")
                    await asyncio.sleep(self._poll)
                    continue
                for cid in pending:
                    self._start(cid)
                with contextlib.suppress(TimeoutError):
                    cid = await asyncio.wait_for(self._queue.get(), timeout=self._poll)
                    self._start(cid)
                    while not self._queue.empty():
                        self._start(self._queue.get_nowait())
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self, cid: int) -> None:
        if cid in self._active:
            self._again.add(cid)
            return
        self._active.add(cid)
        task = asyncio.create_task(self._run_conversation(cid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_conversation(self, cid: int) -> None:
        try:
            async with self._slots:
                while True:
                    self._again.discard(cid)
                    await self.process_conversation(cid)
                    if cid not in self._again:
                        break
        except Exception:
            log.exception("processing conversation %s failed; will retry", cid)
        finally:
            self._active.discard(cid)

    async def _pending_conversations(self) -> list[int]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(InboundEvent.conversation_id)
                .where(InboundEvent.processed_at.is_(None))
                .distinct()
                .limit(1000)
            )
            return [int(r) for r in rows.all()]

    async def process_pending(self) -> int:
        """Process every conversation with pending events, in this task (start-up, tools, tests)."""
        done = 0
        while cids := await self._pending_conversations():
            batch = sum([await self.process_conversation(cid) for cid in cids])
            if batch == 0:
                break
            done += batch
        return done

    async def process_conversation(self, cid: int) -> int:
        """Process this conversation's pending events oldest first; returns how many."""
        done = 0
        while True:
            outcome = await self._process_next(cid)
            if outcome is _Outcome.STOP:
                return done
            done += 1
            self._on_commit()
            if outcome is _Outcome.LAST:
                return done

    async def _process_next(self, cid: int) -> _Outcome:
        """One event in one transaction. The first try runs the routers without a savepoint
        (two statements fewer); if a handler raises, that transaction is rolled back whole and
        the event is handled again inside a savepoint, which records the failed attempt."""
        started = time.perf_counter()
        try:
            outcome = await self._attempt(cid, savepoint=False)
        except _HandlerFailed:
            outcome = await self._attempt(cid, savepoint=True)
        if outcome is not _Outcome.STOP:
            metrics.PROCESSING_SECONDS.observe(time.perf_counter() - started)
        return outcome

    async def _attempt(self, cid: int, *, savepoint: bool) -> _Outcome:
        async with self._sessions.begin() as session:
            if not await advisory_xact_lock(session, LOCK_NAMESPACE, cid):
                return _Outcome.STOP
            rows = (await session.execute(_NEXT_EVENT, {"cid": cid})).all()
            if not rows:
                return _Outcome.STOP
            event, conversation, customer, identity = rows[0]
            ctx = self._context(session, event, conversation, customer, identity)
            if savepoint:
                handled = await self._handle(session, ctx, event)
            else:
                await self._handle_unguarded(ctx, event)
                handled = True
        if not handled:
            return _Outcome.STOP
        return _Outcome.MORE if len(rows) > 1 else _Outcome.LAST

    async def _handle_unguarded(self, ctx: Context, event: InboundEvent) -> None:
        """The common case: no savepoint. Any handler error aborts the whole transaction."""
        try:
            await self._services.kb.refresh(ctx.session)
            routed = await self._dispatcher.dispatch(ctx)
        except Exception as exc:
            raise _HandlerFailed from exc
        self._done(ctx, event, routed)

    async def _handle(self, session: AsyncSession, ctx: Context, event: InboundEvent) -> bool:
        try:
            async with session.begin_nested():
                await self._services.kb.refresh(session)
                routed = await self._dispatcher.dispatch(ctx)
        except Exception as exc:
            await _reload(session, ctx, event)
            return self._failed(ctx, event, exc)
        self._done(ctx, event, routed)
        return True

    @staticmethod
    def _done(ctx: Context, event: InboundEvent, routed: str | None) -> None:
        event.processed_at = utcnow()
        ctx.customer.last_contact_at = utcnow()
        metrics.PROCESSED.labels(routed or "unrouted").inc()

    def _failed(self, ctx: Context, event: InboundEvent, exc: Exception) -> bool:
        """A handler raised: its effects are rolled back; give up after a few attempts."""
        log.exception("event %s (%s) failed in a handler", event.id, event.channel)
        event.attempts += 1
        event.error = f"{type(exc).__name__}: {exc}"[:2000]
        if event.attempts < MAX_ATTEMPTS:
            return False
        event.processed_at = utcnow()
        ctx.sent.clear()
        ctx.reply(ctx.t("internal_error"))
        metrics.PROCESSED.labels("error").inc()
        return True

    def _context(
        self,
        session: AsyncSession,
        event: InboundEvent,
        conversation: Conversation,
        customer: Customer,
        identity: ChannelIdentity,
    ) -> Context:
        inbound = InboundMessage.from_json(event.payload)
        return Context(
            session=session,
            services=self._services,
            inbound=inbound,
            conversation=conversation,
            customer=customer,
            identity=identity,
            locale=self._locale(customer, inbound),
        )

    def _locale(self, customer: Customer, inbound: InboundMessage) -> str:
        """The customer's chosen language wins; else what they write in; else remembered."""
        attributes = customer.attributes or {}
        if attributes.get("locale_source") != "explicit" and inbound.kind in ("text", "edited"):
            detected = language.detect(inbound.text)
            if detected and detected != customer.locale:
                set_locale(customer, detected, "detected")
        chosen = normalise_locale(customer.locale) or normalise_locale(inbound.locale_hint)
        if chosen and not customer.locale:
            set_locale(customer, chosen, "platform")
        return chosen or self._services.settings.default_locale


def set_locale(customer: Customer, locale: str, source: str) -> None:
    """Remember the customer's language and where it came from (explicit beats detected)."""
    customer.locale = locale
    customer.attributes = {**(customer.attributes or {}), "locale_source": source}


async def _reload(session: AsyncSession, ctx: Context, event: InboundEvent) -> None:
    """After a rolled-back savepoint the ORM objects are expired; load them again explicitly."""
    for obj in (event, ctx.conversation, ctx.customer, ctx.identity):
        await session.refresh(obj)
