"""The last check before an announcement leaves: consent, pause/cancel, and crash safety.

Registered as an outbox pre-send hook (:attr:`bot.outbox.OutboxDispatcher.pre_send`); it runs
after the rate-limit token is taken, immediately before the platform call, in one short
transaction:

* the customer opted out since the broadcast started -> not sent (``opted_out``);
* the broadcast was cancelled -> not sent (``cancelled``); paused -> the recipient goes back to
  ``pending`` and is enqueued again on resume;
* otherwise the recipient is marked ``sending`` and the item's ``last_error`` cleared, then the
  send happens. If the item comes back with the recipient still ``sending`` and no error
  recorded, the process died between this check and recording the platform's answer: the
  message may have been delivered, so it is **not** sent again (``uncertain``, at most once).
  Only the few messages in flight at a crash can end up there; they are counted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from bot.messages import OutboundMessage
from storage.consent import has_consent
from storage.models import Customer, OutboxItem
from storage.models_broadcast import Broadcast, BroadcastRecipient
from storage.sql import is_postgres


class GroupGuard:
    """The hook for ``core.outbox.pre_send``; passes everything that is not a broadcast.

    Group commit (like the outbox's sent marks): whoever finds the lock free checks every
    announcement queued so far in one transaction, so 400 checks a second cost a few commits,
    not 400 (on SQLite that is the difference between keeping up with the rate or not)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._queued: list[tuple[OutboxItem, int, asyncio.Future[bool]]] = []
        self._lock = asyncio.Lock()

    async def __call__(self, item: OutboxItem, message: OutboundMessage) -> bool:
        recipient_id = message.meta.get("broadcast_recipient")
        if recipient_id is None:
            return True
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queued.append((item, int(recipient_id), done))
        async with self._lock:
            if not done.done():
                await self._flush()
        return await done

    async def _flush(self) -> None:
        batch, self._queued = self._queued, []
        try:
            async with self._sessions.begin() as session:
                results = await check_many(session, [(item, rid) for item, rid, _ in batch])
        except BaseException as exc:
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            raise
        for (_, _, fut), ok in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(ok)


async def check(session: AsyncSession, item: OutboxItem, recipient_id: int) -> bool:
    """One item (see :func:`check_many`)."""
    return (await check_many(session, [(item, recipient_id)]))[0]


async def check_many(
    session: AsyncSession, batch: list[tuple[OutboxItem, int]]
) -> list[bool]:
    """Decide for each (item, recipient id) whether it may be sent now; record the others.

    One SELECT for the whole batch; passing recipients become ``sending`` (batched UPDATE)."""
    ids = [rid for _, rid in batch]
    stmt = (
        select(BroadcastRecipient, Broadcast.status, Customer.attributes)
        .join(Broadcast, Broadcast.id == BroadcastRecipient.broadcast_id)
        .join(Customer, Customer.id == BroadcastRecipient.customer_id)
        .where(BroadcastRecipient.id.in_(ids))
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(of=BroadcastRecipient)
    found = {r.id: (r, st, attrs) for r, st, attrs in (await session.execute(stmt)).all()}
    results: list[bool] = []
    passed: list[int] = []
    for item, rid in batch:
        row = found.get(rid)
        if row is None:
            await _skip_item(session, item.id, "recipient no longer exists")
            results.append(False)
            continue
        ok = await _decide(session, item, *row)
        if ok:
            passed.append(item.id)
        results.append(ok)
    if passed:
        await session.execute(
            update(OutboxItem).where(OutboxItem.id.in_(passed)).values(last_error=None))
    return results


async def _decide(
    session: AsyncSession, item: OutboxItem, recipient: BroadcastRecipient, status: str,
    attrs: dict[str, Any] | None,
) -> bool:
    reason: str | None = None
    if recipient.outbox_item_id != item.id:
        reason = "superseded"
    elif recipient.status == "sending" and item.last_error is None:
        reason = "uncertain"
    elif recipient.status not in ("enqueued", "sending"):
        reason = recipient.reason or recipient.status
    elif status == "cancelled":
        reason = "cancelled"
    elif status == "paused":
        recipient.status, recipient.outbox_item_id = "pending", None
        await _skip_item(session, item.id, "broadcast paused")
        return False
    elif not has_consent(attrs):
        reason = "opted_out"
    if reason is not None:
        if recipient.outbox_item_id == item.id:
            recipient.status, recipient.reason = "skipped", reason
        metrics.BROADCAST_SKIPPED.labels(reason).inc()
        await _skip_item(session, item.id, f"broadcast: {reason}")
        return False
    recipient.status = "sending"
    return True


async def _skip_item(session: AsyncSession, item_id: int, why: str) -> None:
    await session.execute(
        update(OutboxItem).where(OutboxItem.id == item_id)
        .values(status="skipped", last_error=why, lease_until=None))
