"""Processing: turns stored inbound events into state changes and outbox items, exactly once.

Every event is handled in a transaction that runs the routers, writes their effects and marks
the event processed, so a crash anywhere rolls back to "not processed" and the event is simply
handled again after restart. One conversation is processed by one task at a time (in-process
bookkeeping, plus a PostgreSQL advisory lock across processes), oldest event first.

**Batches.** The running processor handles the oldest event of up to ``max_batch`` waiting
conversations in ONE transaction: one BEGIN, one look-up, one flush (multi-row INSERTs and
UPDATEs) and one commit for all of them. What nearly every handler asks ("a survey
pending?", "a person on the case elsewhere?") is asked once per batch (bot/batchreads.py), so
no SELECT between events splits that flush. Per-statement and per-commit costs, not the
handlers, were most of the time per event (docs/benchmarks.md), so under load this is a group
commit; at low load a batch holds one conversation and nothing waits for company. A batch never
holds two events of one conversation, so order per conversation is kept.

**Failures.** If anything in a batch fails (a handler raises, the commit is refused), the
batch is rolled back whole and each of its events is handled again alone: first without a
savepoint, and if a handler raises again, inside a savepoint that records the failed attempt
on the event. A failure outside the handlers (the payload does not decode, the database
refuses a write, the commit fails) is recorded on the event in a transaction of its own. Either
way the event backs off and, after a few attempts, becomes a dead letter (bot/deadletter.py):
closed, the customer apologised to, staff told, and the conversation's later events go on.
One bad event therefore never fails, delays for long, blocks or doubles the others.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Iterable
from typing import cast

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from bot.batchreads import BatchReads
from bot.context import Context, Services
from bot.deadletter import RetryPolicy
from bot.dispatcher import Dispatcher
from bot.handling import EventRunner, HandlerFailed, mark_processed
from storage.db import uncancelled
from storage.models import ChannelIdentity, Conversation, Customer, InboundEvent, utcnow
from storage.sql import advisory_xact_lock, advisory_xact_locks

log = logging.getLogger("crmbot.processor")

LOCK_NAMESPACE = 7301
MAX_BATCH = 32
WORKERS = 4

_OLDEST = (
    select(
        InboundEvent.conversation_id,
        func.min(InboundEvent.id).label("event_id"),
        func.count().label("pending"),
    )
    .where(
        InboundEvent.conversation_id.in_(bindparam("cids", expanding=True)),
        InboundEvent.processed_at.is_(None),
    )
    .group_by(InboundEvent.conversation_id)
    .subquery()
)

_NEXT_EVENTS = (
    # The oldest pending event of each given conversation with everything a handler needs,
    # and how many are pending there, in one round trip; built once.
    select(InboundEvent, Conversation, Customer, ChannelIdentity, _OLDEST.c.pending)
    .join(_OLDEST, _OLDEST.c.event_id == InboundEvent.id)
    .join(Conversation, Conversation.id == InboundEvent.conversation_id)
    .join(Customer, Customer.id == Conversation.customer_id)
    .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
    # a conversation whose oldest event is backing off after a failure waits (order)
    .where(or_(InboundEvent.retry_at.is_(None), InboundEvent.retry_at <= bindparam("now")))
    .order_by(InboundEvent.id)
)


_Next = tuple[InboundEvent, Conversation, Customer, ChannelIdentity, int]


class _Outcome(enum.Enum):
    STOP = "stop"  # nothing processed (none pending, locked elsewhere, or a failed attempt)
    MORE = "more"  # one event processed and another is waiting
    LAST = "last"  # one event processed and it was the last one seen


class Processor:
    """Runs the dispatcher over pending inbox events, per conversation, in order."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        services: Services,
        dispatcher: Dispatcher,
        *,
        workers: int = WORKERS,
        max_batch: int = MAX_BATCH,
        poll_interval: float = 1.0,
        on_commit: Callable[[], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._sessions = sessions
        self._runner = EventRunner(services, dispatcher)
        self._workers = workers
        self._max_batch = max_batch
        self._poll = poll_interval
        self._on_commit = on_commit or (lambda: None)
        self.retry = retry or RetryPolicy()
        self._ready: dict[int, None] = {}  # waiting conversations, oldest wish first
        self._active: set[int] = set()  # in a batch right now
        self._again: set[int] = set()  # notified while in a batch
        self._wakeup = asyncio.Event()

    def notify(self, conversation_id: int) -> None:
        """A new event for this conversation was committed to the inbox."""
        if conversation_id in self._active:
            self._again.add(conversation_id)
            return
        self._ready[conversation_id] = None
        self._wakeup.set()

    async def run(self) -> None:
        """Batch workers, plus a poll for events nobody was told about (other processes,
        failed attempts, events stored before a restart)."""
        workers = [asyncio.create_task(self._worker()) for _ in range(self._workers)]
        try:
            while True:
                try:
                    pending = await self._pending_conversations()
                except Exception:  # the database is away: keep trying, never die
                    log.exception("cannot list pending conversations; retrying")
                    pending = []
                for cid in pending:
                    self.notify(cid)
                await asyncio.sleep(self._poll)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            await self._wakeup.wait()
            cids = self._take()
            if not cids:
                continue
            try:
                # a batch in progress ends by itself on shutdown (storage.db.uncancelled)
                outcomes = await uncancelled(self.process_batch(cids))
            except Exception:
                log.exception("processing conversations %s failed; will retry", cids)
                outcomes = {}
            self._settle(cids, outcomes)

    def _take(self) -> list[int]:
        cids = list(self._ready)[: self._max_batch]
        for cid in cids:
            del self._ready[cid]
        self._active.update(cids)
        if not self._ready:
            self._wakeup.clear()
        return cids

    def _settle(self, cids: list[int], outcomes: dict[int, _Outcome]) -> None:
        """Conversations with more waiting go to the back of the line (fair under load)."""
        for cid in cids:
            self._active.discard(cid)
            again = cid in self._again
            self._again.discard(cid)
            if again or outcomes.get(cid) is _Outcome.MORE:
                self.notify(cid)

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
            outcome = await self._process_alone(cid)
            if outcome is _Outcome.STOP:
                return done
            done += 1
            if outcome is _Outcome.LAST:
                return done

    async def process_batch(self, cids: list[int]) -> dict[int, _Outcome]:
        """The oldest event of each conversation, all in one transaction if they succeed."""
        if len(cids) == 1:
            return {cids[0]: await self._process_alone(cids[0])}
        started = time.perf_counter()
        try:
            outcomes = await self._attempt_batch(cids)
        except Exception as exc:  # rolled back whole: each event again on its own
            log.info("a batch of %d events was rolled back (%r); one by one now", len(cids), exc)
            return await self._one_by_one(cids)
        self._committed(outcomes.values(), time.perf_counter() - started)
        return outcomes

    async def _one_by_one(self, cids: list[int]) -> dict[int, _Outcome]:
        outcomes = dict.fromkeys(cids, _Outcome.STOP)
        for cid in cids:
            try:
                outcomes[cid] = await self._process_alone(cid)
            except Exception:
                log.exception("processing conversation %s failed; will retry", cid)
        return outcomes

    async def _process_alone(self, cid: int) -> _Outcome:
        """One event in its own transaction: a batch of one. The first try runs the routers
        without a savepoint (two statements fewer); if a handler raises, that transaction is
        rolled back whole and the event is handled again inside a savepoint, which records the
        attempt. Any other failure is recorded on the event in a transaction of its own."""
        started = time.perf_counter()
        try:
            try:
                outcome = (await self._attempt_batch([cid]))[cid]
            except HandlerFailed:
                outcome = await self._attempt_guarded(cid)
        except Exception as exc:
            outcome = await self._record_failure(cid, exc)
        self._committed([outcome], time.perf_counter() - started)
        return outcome

    def _committed(self, outcomes: Iterable[_Outcome], seconds: float) -> None:
        processed = sum(1 for o in outcomes if o is not _Outcome.STOP)
        for _ in range(processed):
            metrics.PROCESSING_SECONDS.observe(seconds)
        if processed:
            self._on_commit()

    async def _attempt_batch(self, cids: list[int]) -> dict[int, _Outcome]:
        outcomes = dict.fromkeys(cids, _Outcome.STOP)
        await self._runner.refresh_kb(self._sessions)  # outside the batch's transaction
        async with self._sessions.begin() as session:
            locked = await advisory_xact_locks(session, LOCK_NAMESPACE, cids)
            rows = await self._next_events(session, locked)
            reads = await self._batch_reads(session, [row[1] for row in rows])
            handled: list[tuple[InboundEvent, Customer]] = []
            for event, conversation, customer, identity, pending in rows:
                ctx = self._runner.context(session, event, conversation, customer, identity)
                ctx.reads = reads
                await self._runner.run_unguarded(ctx, event)
                handled.append((event, ctx.customer))
                outcomes[event.conversation_id] = _Outcome.MORE if pending > 1 else _Outcome.LAST
            await mark_processed(session, handled)
        return outcomes

    @staticmethod
    async def _batch_reads(session: AsyncSession, conversations: list[Conversation]) -> BatchReads:
        """Two statements for the whole batch; a failure there is a handler failure (the
        guarded retry, which asks per event, records it)."""
        if not conversations:
            return BatchReads()
        try:
            return await BatchReads.load(session, conversations, utcnow())
        except Exception as exc:
            raise HandlerFailed from exc

    async def _attempt_guarded(self, cid: int) -> _Outcome:
        """The retry after a handler failed: the handlers run in a savepoint, and a failure
        is recorded on the event instead of rolling everything back."""
        async with self._sessions.begin() as session:
            row = await self._locked_next(session, cid)
            if row is None:
                return _Outcome.STOP
            event, conversation, customer, identity, pending = row
            ctx = self._runner.context(session, event, conversation, customer, identity)
            handled = await self._runner.run_guarded(session, ctx, event, self.retry)
            if handled:
                await mark_processed(session, [(event, ctx.customer)])
        return _after(handled, pending)

    async def _record_failure(self, cid: int, exc: Exception) -> _Outcome:
        """The conversation's oldest due event failed outside the handlers: count the attempt
        on it in a fresh transaction (a dead letter after the last). When even this fails,
        the database is away: the poll tries the conversation again later."""
        try:
            async with self._sessions.begin() as session:
                row = await self._locked_next(session, cid)
                if row is None:
                    return _Outcome.STOP
                event, *_, pending = row
                ctx = self._context_or_none(session, row)
                dead = await self._runner.failed(session, ctx, event, exc, self.retry)
        except Exception:
            log.exception("cannot record the failure of conversation %s; will retry", cid)
            return _Outcome.STOP
        return _after(dead, pending)

    async def _locked_next(self, session: AsyncSession, cid: int) -> _Next | None:
        """The conversation's oldest due event, if this transaction could lock it."""
        if not await advisory_xact_lock(session, LOCK_NAMESPACE, cid):
            return None
        rows = await self._next_events(session, [cid])
        return rows[0] if rows else None

    def _context_or_none(self, session: AsyncSession, row: _Next) -> Context | None:
        """The handler context, or None when the event's payload cannot even be decoded."""
        event, conversation, customer, identity, _ = row
        try:
            return self._runner.context(session, event, conversation, customer, identity)
        except Exception:
            return None

    @staticmethod
    async def _next_events(session: AsyncSession, cids: list[int]) -> list[_Next]:
        """The oldest pending, due event of each conversation, with what a handler needs."""
        if not cids:
            return []
        result = await session.execute(_NEXT_EVENTS, {"cids": cids, "now": utcnow()})
        return cast(list[_Next], list(result.all()))


def _after(done: bool, pending: int) -> _Outcome:
    """What a transaction that handled (or closed) one event means for its conversation."""
    if not done:
        return _Outcome.STOP
    return _Outcome.MORE if pending > 1 else _Outcome.LAST
