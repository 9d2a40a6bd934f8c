"""The outbox dispatcher: delivers committed outbox items through the channel adapters.

Every process may run one; on PostgreSQL they share work through ``FOR UPDATE SKIP LOCKED``.
An item is marked sent in its own short transaction right after the platform answers: that gap
is the only place a crash can cause a repeat send (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from bot.messages import OutboundMessage
from bot.ports import ChannelAdapter, ChannelRegistry, SendResult
from bot.ratelimit import SendThrottle, scope_key
from storage import outbox as repo
from storage.db import uncancelled
from storage.models import ChannelIdentity, Conversation, OutboxItem, utcnow

log = logging.getLogger("crmbot.outbox")

DEFAULT_LEASE = 60.0
MAX_WAIT_IN_LEASE = 5.0
#: A send starts only while at least this share of its lease is left. Past the lease another
#: worker (or this one's next claim) may take the item and send it too; the other half is the
#: budget for the guard, the platform call and recording its answer. Set the lease to at least
#: twice the slowest platform call (CRMBOT_OUTBOX_LEASE_SECONDS, default 60 s).
LEASE_LEFT_TO_SEND = 0.5
#: A channel with a global rate limit is claimed about this many seconds of its rate ahead (at
#: most a quarter of the lease). A deeper queue would only wait in this process with the lease
#: running: 64 claims at Telegram's 30/s are two seconds of waiting for the last one.
CLAIM_AHEAD = 1.0
MAX_BACKOFF = 300.0

PreSend = Callable[[OutboxItem, OutboundMessage], Awaitable[bool]]
"""A last check right before a send (e.g. broadcast consent); False = do not send. A check
that returns False has recorded the item's outcome itself."""


FailureHook = Callable[[AsyncSession, OutboxItem, SendResult], Awaitable[None]]


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: 1, 2, 4 … seconds, capped at five minutes."""
    return random.uniform(0.5, 1.0) * min(MAX_BACKOFF, 2.0 ** max(0, attempt - 1))


class OutboxDispatcher:
    """Claims due items, waits for rate-limit tokens, sends, records the outcome."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: ChannelRegistry,
        throttle: SendThrottle,
        *,
        max_attempts: int = 8,
        lease_seconds: float = DEFAULT_LEASE,
        max_inflight: int = 64,
        poll_interval: float = 0.5,
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self._throttle = throttle
        #: Told, inside the transaction that marks it, about every item that failed for good
        #: (the Slack desk tells the ticket's thread that a reply never reached the customer).
        self.failure_hooks: list[FailureHook] = []
        self._max_attempts = max_attempts
        self._lease = timedelta(seconds=lease_seconds)
        self._max_inflight = max_inflight
        self._poll = poll_interval
        self._marks = _SentMarks(sessions)
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._held: Counter[str] = Counter()  # channel -> items this process holds
        self.pre_send: list[PreSend] = []

    def wake(self) -> None:
        """Tell the dispatcher new items were committed (saves waiting for the next poll)."""
        self._wake.set()

    async def run(self) -> None:
        try:
            await self._respect_predecessor()
            while True:
                try:
                    claimed = await self.dispatch_once()
                except Exception:  # the database is away: keep trying, never die
                    log.exception("cannot claim outbox items; retrying")
                    claimed = 0
                if not claimed:
                    await self._sleep()
        finally:
            for task in self._inflight:
                task.cancel()
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _respect_predecessor(self) -> None:
        """A process that just (re)started does not know what the previous one sent in the
        last second; the platform does. Pause each rate-limited channel for the rest of that
        second so a restart mid-traffic cannot burst past a per-second limit."""
        try:
            async with self._sessions() as session:
                for name in self._registry.names():
                    adapter = self._registry.get(name)
                    if adapter is None or not adapter.limits:
                        continue
                    last = await repo.last_sent_at(session, name)
                    if last is not None:
                        left = 1.0 - (utcnow() - last).total_seconds()
                        if left > 0:
                            self._throttle.pause(scope_key(name, "global"), left)
        except Exception:
            log.exception("could not read the last send times; starting without a pause")

    async def dispatch_once(self) -> int:
        """Claim what fits into free capacity and start sending it; returns how many."""
        capacity = self._max_inflight - len(self._inflight)
        if capacity <= 0 or not self._registry.names():
            return 0
        unlimited, budgets = self._room_per_channel()
        # Counted from before the claim: the lease runs from the database's clock at the claim,
        # never earlier, so this deadline is on the safe side.
        deadline = time.monotonic() + self._lease.total_seconds()
        items = await uncancelled(self._claim(capacity, unlimited)) if unlimited else []
        for name, room in budgets.items():
            room = min(room, capacity - len(items))
            if room > 0:
                items += await uncancelled(self._claim(room, [name]))
        reclaimed = sum(1 for i in items if i.attempts > 1 and i.last_error is None)
        if reclaimed:
            metrics.OUTBOX_LEASE_EXPIRED.inc(reclaimed)
        for item in items:
            self._start(item, deadline)
        return len(items)

    def _room_per_channel(self) -> tuple[list[str], dict[str, int]]:
        """Channels without a global rate limit, and for the others how many more items this
        process may hold: :data:`CLAIM_AHEAD` seconds of the rate, less what it holds."""
        ahead = min(CLAIM_AHEAD, self._lease.total_seconds() / 4)
        unlimited: list[str] = []
        budgets: dict[str, int] = {}
        for name in self._registry.names():
            adapter = self._registry.get(name)
            rates = [lim.amount / lim.seconds for lim in adapter.limits
                     if lim.scope == "global"] if adapter is not None else []
            if rates:
                budgets[name] = max(1, math.ceil(min(rates) * ahead)) - self._held[name]
            else:
                unlimited.append(name)
        return unlimited, budgets

    def _start(self, item: OutboxItem, deadline: float) -> None:
        self._held[item.channel] += 1
        task = asyncio.create_task(self._deliver(item, deadline))
        self._inflight.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._inflight.discard(finished)
            self._held[item.channel] -= 1

        task.add_done_callback(done)

    async def _claim(self, capacity: int, channels: list[str]) -> list[OutboxItem]:
        async with self._sessions.begin() as session:
            return await repo.claim_due(
                session, limit=capacity, lease=self._lease, channels=channels
            )

    async def drain(self, timeout: float = 10.0) -> None:
        """Deliver until nothing is left pending (used by the terminal chat and tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if await self.dispatch_once() == 0 and not self._inflight:
                async with self._sessions() as session:
                    if not await repo.active_count(session, self._registry.names()):
                        return
                await asyncio.sleep(0.05)
            if self._inflight:
                await asyncio.wait(set(self._inflight), timeout=0.2)

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(self._wake.wait())]
            if self._inflight:
                waiters.append(asyncio.ensure_future(asyncio.wait(set(self._inflight))))
            _, pending = await asyncio.wait(
                waiters, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED
            )
            for fut in pending:
                fut.cancel()
        self._wake.clear()

    async def _deliver(self, item: OutboxItem, deadline: float) -> None:
        adapter = self._registry.get(item.channel)
        if adapter is None:
            await self._store(repo.reschedule, item.id, 30.0, f"no adapter for {item.channel}")
            return
        message = repo.payload_of(item)
        wait = await self._throttle.take(
            item.channel, message.chat_id, adapter.limits, adapter.is_group(message.chat_id)
        )
        if wait > MAX_WAIT_IN_LEASE:
            await self._store(repo.release, item.id, wait, item.attempts)
            return
        if wait > 0:
            await asyncio.sleep(wait)
            await self._throttle.wait_turn(
                item.channel, message.chat_id, adapter.limits, adapter.is_group(message.chat_id)
            )
        # Spaced before the last checks; after them nothing waits but the rare hold of
        # SendThrottle.wire, since that gap is what a crash leaves "uncertain".
        # Checked before pacing too, so an item that would leave too late gives its slot back
        # instead of wasting it, and is not claimed again before that slot has passed.
        pacing = self._throttle.pace_wait(item.channel, adapter.limits)
        if not self._lease_left(deadline, pacing):
            await self._give_back(item, deadline, pacing)
            return
        await self._throttle.pace(item.channel, adapter.limits)
        if not self._lease_left(deadline, 0.0):
            await self._give_back(item, deadline, 0.0)
            return
        for check in self.pre_send:
            if not await check(item, message):
                return
        async with self._throttle.wire(item.channel, adapter.limits):
            try:
                result = await adapter.send(message)
            except Exception as exc:  # an adapter bug must not kill the dispatcher
                log.exception("adapter %s raised while sending item %s", item.channel, item.id)
                result = SendResult.retry(f"{type(exc).__name__}: {exc}")
        await self._record(item, adapter, message.chat_id, result)

    def _lease_left(self, deadline: float, wait: float) -> bool:
        """Whether, after ``wait`` more seconds, enough of the lease is left to start a send."""
        left = deadline - time.monotonic() - wait
        return left >= LEASE_LEFT_TO_SEND * self._lease.total_seconds()

    async def _give_back(self, item: OutboxItem, deadline: float, delay: float) -> None:
        """Unsent, but the lease is running out: release the claim if it is still ours."""
        metrics.OUTBOX_LEASE_GIVEN_BACK.labels(item.channel).inc()
        log.warning("item %s would wait too long in this process (%.1fs of its lease left); "
                    "released unsent", item.id, deadline - time.monotonic())
        await self._store(repo.release, item.id, delay, item.attempts)

    async def _record(
        self, item: OutboxItem, adapter: ChannelAdapter, chat_id: str, result: SendResult
    ) -> None:
        if result.ok:
            await self._marks.mark(item.id, result.external_id)
            metrics.OUTBOX_SENT.labels(item.channel).inc()
            return
        if result.permanent or item.attempts >= self._max_attempts:
            await self._fail(item, result)
            return
        delay = backoff(item.attempts)
        if result.retry_after is not None:
            metrics.OUTBOX_RATE_LIMITED.labels(item.channel).inc()
            key = scope_key(item.channel, result.retry_scope, chat_id)
            self._throttle.pause(key, result.retry_after)
            delay = result.retry_after
        metrics.OUTBOX_RETRIES.labels(item.channel).inc()
        log.warning("send of item %s failed (%s); retry in %.1fs", item.id, result.error, delay)
        await self._store(repo.reschedule, item.id, delay, result.error)

    async def _fail(self, item: OutboxItem, result: SendResult) -> None:
        log.error("item %s on %s failed for good: %s", item.id, item.channel, result.error)
        metrics.OUTBOX_FAILED.labels(item.channel).inc()
        await uncancelled(self._failed(item, result))

    async def _failed(self, item: OutboxItem, result: SendResult) -> None:
        async with self._sessions.begin() as session:
            await repo.mark_failed(session, item.id, result.error)
            if result.unreachable and item.conversation_id is not None:
                await _mark_unreachable(session, item, result.error)
            for hook in self.failure_hooks:
                await hook(session, item, result)

    async def _store(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        """Run one repository update in its own short transaction."""
        await uncancelled(_in_transaction(self._sessions, fn, *args))


class _SentMarks:
    """Group commit of "sent" marks: whoever finds the lock free commits every mark queued so
    far in one transaction; the others wait for that commit. Under load this turns hundreds of
    tiny transactions into a few, and each caller still returns only after its mark is durable
    (so a conversation's next item is claimed only after this one is recorded)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._queued: list[tuple[int, str | None, asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()

    async def mark(self, item_id: int, external_id: str | None) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(_retrieve)  # a cancelled waiter leaves no "never retrieved" noise
        self._queued.append((item_id, external_id, done))
        async with self._lock:
            if not done.done():
                await self._flush()
        await done

    async def _flush(self) -> None:
        batch, self._queued = self._queued, []
        try:
            await uncancelled(_in_transaction(
                self._sessions, repo.mark_sent_many, [(i, x) for i, x, _ in batch]
            ))
        except BaseException as exc:
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            raise
        for _, _, fut in batch:
            if not fut.done():
                fut.set_result(None)


async def _in_transaction(
    sessions: async_sessionmaker[AsyncSession], fn: Callable[..., Awaitable[None]], *args: object
) -> None:
    async with sessions.begin() as session:
        await fn(session, *args)


def _retrieve(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()


async def _mark_unreachable(session: AsyncSession, item: OutboxItem, reason: str) -> None:
    """The customer blocked us: record it, and stop everything still queued for them."""
    identity_id = await session.scalar(
        select(Conversation.identity_id).where(Conversation.id == item.conversation_id)
    )
    await session.execute(
        update(ChannelIdentity)
        .where(ChannelIdentity.id == identity_id)
        .values(unreachable_reason=reason[:500])
    )
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.order_key == item.order_key, OutboxItem.status == "pending")
        .values(status="failed", last_error="recipient unreachable: " + reason[:400])
    )
