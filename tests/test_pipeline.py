"""The delivery promise: stored once, processed once, replies in order, retries honoured."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.core import Core
from bot.outbox import OutboxDispatcher
from bot.ports import RateLimit, SendResult
from bot.ratelimit import SendThrottle
from storage.models import InboundEvent, Message, OutboxItem
from tests.helpers import RecordingChannel, inbound


async def _run_all(core: Core) -> None:
    await core.processor.process_conversation(1)
    await core.outbox.drain()


async def _count(core: Core, model: type, *where: object) -> int:
    async with core.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_repeated_event_is_stored_and_answered_once(core: Core) -> None:
    channel = RecordingChannel()
    core.registry.add(channel)
    first = await core.ingest(inbound("where is my order?", "ev-1"))
    again = await core.ingest(inbound("where is my order?", "ev-1"))
    assert not first.duplicate and again.duplicate
    await core.processor.process_conversation(first.conversation_id)
    third = await core.ingest(inbound("where is my order?", "ev-1"))
    assert third.duplicate
    await core.processor.process_conversation(first.conversation_id)
    await core.outbox.drain()
    assert await _count(core, InboundEvent) == 1
    assert await _count(core, Message, Message.direction == "in") == 1
    answers = [t for t in channel.texts() if "shop.example/orders" in t]
    assert len(answers) == 1


async def test_concurrent_redeliveries_store_one_event(core: Core) -> None:
    results = await asyncio.gather(*(core.ingest(inbound("hi", "same")) for _ in range(10)))
    assert sum(not r.duplicate for r in results) == 1
    assert await _count(core, InboundEvent) == 1


async def test_replies_keep_message_order_per_conversation(core: Core) -> None:
    channel = RecordingChannel()
    core.registry.add(channel)
    questions = [
        "where is my order?", "how much does shipping cost?", "what are your opening hours?"
    ]
    for n, q in enumerate(questions):
        await core.ingest(inbound(q, f"o-{n}"))
    await _run_all(core)
    answers = channel.texts()
    assert "shop.example/orders" in answers[0]
    assert "50 EUR" in answers[1]
    assert "9:00" in answers[2]


async def test_retry_after_pauses_and_order_is_kept(core: Core) -> None:
    channel = RecordingChannel(rate_limits=(RateLimit("chat", 100, 1),))
    channel.script.append(SendResult.retry("Too Many Requests", after=1.0))
    core.registry.add(channel)
    await core.ingest(inbound("where is my order?", "r-1"))
    await core.ingest(inbound("/help", "r-2"))
    await core.processor.process_conversation(1)
    started = asyncio.get_running_loop().time()
    await core.outbox.drain(timeout=10)
    first_fail, first_ok = channel.attempts[0], channel.attempts[1]
    assert not first_fail[2].ok and first_ok[2].ok
    assert first_ok[0] - first_fail[0] >= 0.95, "retry_after must be honoured"
    assert first_ok[1].text == first_fail[1].text, "the failed item is retried before the next"
    assert asyncio.get_running_loop().time() - started >= 0.95
    assert channel.texts()[1].startswith("Just write your question")
    assert await _count(core, OutboxItem, OutboxItem.status == "sent") == 2


async def test_permanent_failure_marks_unreachable_and_stops(core: Core) -> None:
    channel = RecordingChannel()
    channel.script.append(SendResult.failed("Forbidden: bot was blocked by the user",
                                            unreachable=True))
    core.registry.add(channel)
    await core.ingest(inbound("where is my order?", "p-1"))
    await core.ingest(inbound("/help", "p-2"))
    await _run_all(core)
    assert len(channel.attempts) == 1, "nothing more is tried for a blocked customer"
    assert await _count(core, OutboxItem, OutboxItem.status == "failed") == 2
    from storage.models import ChannelIdentity
    async with core.sessions() as s:
        identity = await s.scalar(select(ChannelIdentity))
        assert identity is not None and "blocked" in (identity.unreachable_reason or "")


async def test_transient_errors_retry_with_backoff(core: Core) -> None:
    channel = RecordingChannel()
    channel.script.extend([SendResult.retry("HTTP 502"), SendResult.retry("timeout")])
    core.registry.add(channel)
    await core.ingest(inbound("/help", "t-1"))
    await core.processor.process_conversation(1)
    await core.outbox.drain(timeout=15)
    assert len(channel.attempts) == 3 and len(channel.sent) == 1
    gaps = [b[0] - a[0] for a, b in zip(channel.attempts, channel.attempts[1:], strict=False)]
    assert gaps[0] >= 0.45 and gaps[1] >= 0.95, gaps


async def test_per_chat_rate_limit_spaces_sends(core: Core) -> None:
    channel = RecordingChannel(rate_limits=(RateLimit("chat", 1, 1),))
    core.registry.add(channel)
    await core.ingest(inbound("where is my order?", "l-1"))
    await core.ingest(inbound("/help", "l-2"))
    await _run_all(core)
    (t1, _), (t2, _) = channel.sent
    assert t2 - t1 >= 0.9


async def test_a_send_that_waited_past_half_its_lease_is_given_back_not_doubled(
    core: Core,
) -> None:
    """A claim that waited in this process (rate-limit pacing) until its lease ran low must not
    go out: another worker may already hold the item. It goes back unsent; one send in all."""
    channel = RecordingChannel()
    core.registry.add(channel)
    await core.ingest(inbound("/help", "lease-1"))
    await core.processor.process_conversation(1)
    slow, other = (
        OutboxDispatcher(core.sessions, core.registry, SendThrottle(), lease_seconds=1.0)
        for _ in range(2)
    )

    async def stuck_in_pacing(channel_name: str, limits: object) -> None:
        await asyncio.sleep(1.3)  # e.g. behind a broadcast's queue at 30/s

    slow._throttle.pace = stuck_in_pacing  # type: ignore[method-assign]
    assert await slow.dispatch_once() == 1
    await asyncio.sleep(1.1)  # the lease has run out: the other worker takes the item
    assert await other.dispatch_once() == 1
    await other.drain(timeout=5)
    await slow.drain(timeout=5)
    assert len(channel.sent) == 1
    assert await _count(core, OutboxItem, OutboxItem.status == "sent") == 1
