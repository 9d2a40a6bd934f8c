"""The Slack channel adapter against the fake Web API (real slack-sdk): thread bookkeeping and
the mapping of Slack's errors onto the outbox's outcomes; and the SLA watch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.channels.slack.adapter import SlackAdapter
from bot.channels.slack.sla import SlaWatch
from bot.core import Core
from bot.messages import OutboundMessage
from bot.ports import SendResult
from storage.models import Conversation, Customer, OutboxItem, Ticket, utcnow
from storage.models_slack import SlackThread
from storage.outbox import enqueue
from storage.slack_threads import thread_of
from tests.fakes.slack import FakeSlack
from tests.helpers import eventually

SUPPORT = "C0SUPPORT"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.close()


def _adapter(core: Core, fake: FakeSlack, token: str | None = None,
             timeout: int = 5) -> SlackAdapter:
    client = AsyncWebClient(token=token or fake.token, base_url=fake.base_url, timeout=timeout,
                            retry_handlers=[])
    return SlackAdapter(client, core.sessions)


async def _ticket(core: Core, thread: str | None = None, **values: object) -> int:
    """A ticket; with ``thread`` (a ts), one whose root was posted to SUPPORT."""
    async with core.sessions.begin() as session:
        customer = Customer(display_name="Anna", attributes={})
        session.add(customer)
        await session.flush()
        fields: dict[str, object] = {"status": "open", "priority": "normal", "subject": "",
                                     "reason": "customer_request", "created_at": utcnow()}
        ticket = Ticket(customer_id=customer.id, channel="test", **{**fields, **values})
        session.add(ticket)
        await session.flush()
        if thread is not None:
            session.add(SlackThread(ticket_id=ticket.id, channel=SUPPORT, thread_ts=thread))
        return ticket.id


def _msg(op: str, ticket: int, text: str = "hello", **meta: object) -> OutboundMessage:
    return OutboundMessage(channel="slack", chat_id=SUPPORT, text=text,
                           meta={"slack_op": op, "thread_ticket": ticket, **meta})


async def test_root_is_recorded_once_and_threads_follow(core: Core, fake: FakeSlack) -> None:
    adapter = _adapter(core, fake)
    ticket = await _ticket(core)
    first = await adapter.send(_msg("root", ticket, "Ticket #1"))
    assert first.ok and first.external_id
    again = await adapter.send(_msg("root", ticket, "Ticket #1"))
    assert again == SendResult.sent(first.external_id), "a re-claimed root is not re-posted"
    assert len(fake.roots(SUPPORT)) == 1
    async with core.sessions() as session:
        assert await thread_of(session, ticket) == (SUPPORT, first.external_id)
    reply = await adapter.send(_msg("thread", ticket, "in the thread"))
    assert reply.ok
    assert [m["text"] for m in fake.thread(SUPPORT, first.external_id)] == ["in the thread"]
    updated = await adapter.send(_msg("update_root", ticket, "Ticket #1 claimed",
                                      blocks=[{"type": "section",
                                               "text": {"type": "mrkdwn", "text": "x"}}]))
    assert updated.ok and fake.roots(SUPPORT)[0]["text"] == "Ticket #1 claimed"
    react = _msg("react", ticket, ts=first.external_id, name="white_check_mark")
    assert (await adapter.send(react)).ok
    assert (await adapter.send(react)).ok, "already_reacted counts as done"


async def test_thread_without_root_fails_for_good(core: Core, fake: FakeSlack) -> None:
    ticket = await _ticket(core)
    result = await _adapter(core, fake).send(_msg("thread", ticket))
    assert result.permanent and "no Slack thread" in result.error
    assert fake.method_calls("chat.postMessage") == [], "never posted to the channel root"


ERROR_CASES: list[tuple[dict[str, object], tuple[str, float | None, str | None]]] = [
    (dict(error="ratelimited", status=429, retry_after=7), ("retry", 7.0, "global")),
    (dict(error="ratelimited"), ("retry", 1.0, "global")),
    (dict(error="channel_not_found"), ("failed", None, None)),
    (dict(error="not_in_channel"), ("failed", None, None)),
    (dict(error="invalid_auth"), ("failed", None, None)),
    (dict(error="internal_error", status=500), ("retry", None, "chat")),
    (dict(error="html", status=503), ("retry", None, "chat")),
    (dict(error="service_unavailable"), ("retry", None, "chat")),
]


async def test_error_mapping(core: Core, fake: FakeSlack) -> None:
    adapter = _adapter(core, fake)
    for failure, (kind, after, scope) in ERROR_CASES:
        ticket = await _ticket(core)
        fake.fail_next("chat.postMessage", **failure)  # type: ignore[arg-type]
        result = await adapter.send(_msg("root", ticket))
        assert not result.ok, failure
        if kind == "failed":
            assert result.permanent and not result.unreachable, (failure, result)
        else:
            assert not result.permanent and result.retry_after == after, (failure, result)
            assert result.retry_scope == scope, (failure, result)


async def test_bad_token_and_unreachable_slack(core: Core, fake: FakeSlack) -> None:
    ticket = await _ticket(core)
    bad = await _adapter(core, fake, token="xoxb-wrong").send(_msg("root", ticket))
    assert bad.permanent and "invalid_auth" in bad.error
    await fake.close()
    down = await _adapter(core, fake).send(_msg("root", ticket))
    assert not down.ok and not down.permanent and "unreachable" in down.error


async def test_outbox_honours_slack_retry_after(core: Core, fake: FakeSlack) -> None:
    """A 429 pauses Slack sends for Retry-After, then the same item goes out, in order."""
    core.registry.add(_adapter(core, fake))
    ticket = await _ticket(core)
    fake.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=0.5)
    async with core.sessions.begin() as session:
        enqueue(session, _msg("root", ticket, "root"), order_key=f"ticket:{ticket}")
        enqueue(session, _msg("thread", ticket, "second"), order_key=f"ticket:{ticket}")
    started = time.monotonic()
    await core.outbox.drain(timeout=10)
    assert time.monotonic() - started >= 0.45
    posts = [p.get("text") for p in fake.method_calls("chat.postMessage")]
    assert posts == ["root", "root", "second"]
    async with core.sessions() as session:
        statuses = (await session.scalars(select(OutboxItem.status))).all()
    assert list(statuses) == ["sent", "sent"]


async def test_sla_reminds_once_and_mentions_oncall(core: Core) -> None:
    settings = core.settings.model_copy(update={"slack_oncall_group": "S0ONCALL",
                                                "sla_unclaimed_minutes": 15})
    old = utcnow() - timedelta(minutes=20)
    waiting = await _ticket(core, thread="1.000001")
    claimed = await _ticket(core, thread="1.000002",
                            assignee="U1", status="claimed")
    fresh = await _ticket(core, thread="1.000003")
    async with core.sessions.begin() as session:
        for tid in (waiting, claimed):
            (await session.get_one(Ticket, tid)).created_at = old
    woken: list[int] = []
    watch = SlaWatch(core.sessions, settings, core.services.translator, lambda: woken.append(1))
    assert await watch.check_once() == [waiting]
    assert await watch.check_once() == [], "one reminder per ticket"
    assert await watch.check_once(now=utcnow() + timedelta(minutes=16)) == [fresh]
    async with core.sessions() as session:
        items = (await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all()
    texts = [i.payload["text"] for i in items]
    assert texts[0].startswith("<!subteam^S0ONCALL> Ticket #1 has waited 15 minutes")
    assert [i.order_key for i in items] == [f"ticket:{waiting}", f"ticket:{fresh}"]
    assert woken == [1, 1]


async def test_sla_watch_runs_in_the_background(core: Core, fake: FakeSlack) -> None:
    core.registry.add(_adapter(core, fake))
    ticket = await _ticket(core)
    assert (await _adapter(core, fake).send(_msg("root", ticket))).ok
    async with core.sessions.begin() as session:
        (await session.get_one(Ticket, ticket)).created_at = utcnow() - timedelta(hours=1)
    watch = SlaWatch(core.sessions, core.settings, core.services.translator, core.outbox.wake)
    task = asyncio.create_task(watch.run(interval=0.05))
    try:
        for _ in range(100):
            await core.outbox.drain(timeout=1)
            if len(fake.method_calls("chat.postMessage")) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    texts = [p["text"] for p in fake.method_calls("chat.postMessage")]
    assert len(texts) == 2 and "nobody has claimed it yet" in texts[1]
    assert fake.method_calls("chat.postMessage")[1]["thread_ts"] == fake.roots(SUPPORT)[0]["ts"]


async def test_staff_event_for_a_ticket_without_conversation_is_ignored(core: Core) -> None:
    from bot.core import UnknownTicket
    from bot.messages import StaffAction

    ticket = await _ticket(core)
    event = StaffAction(action="claim", ticket=ticket, user="U1").inbound("slack", "Ev1", SUPPORT)
    with pytest.raises(UnknownTicket):
        await core.ingest(event)
    missing = StaffAction(action="claim", ticket=999, user="U1").inbound("slack", "Ev2", SUPPORT)
    with pytest.raises(UnknownTicket):
        await core.ingest(missing)
    async with core.sessions() as session:
        assert (await session.scalars(select(Conversation))).all() == []


async def test_hung_slack_call_is_retried_once_and_order_kept(core: Core, fake: FakeSlack) -> None:
    """Slack holds a post past the client's timeout (and never serves it): the outbox retries it,
    the thread reply behind it waits its turn, each appears once."""
    core.registry.add(_adapter(core, fake, timeout=1))
    ticket = await _ticket(core)
    fake.hang_next("chat.postMessage", 30)
    async with core.sessions.begin() as session:
        enqueue(session, _msg("root", ticket, "root"), order_key=f"ticket:{ticket}")
        enqueue(session, _msg("thread", ticket, "second"), order_key=f"ticket:{ticket}")
    await core.outbox.drain(timeout=20)
    # the retry can finish before the hung call's handler wakes up
    await eventually(lambda: bool(fake.dropped))
    assert fake.dropped == 1, "the hung call was abandoned by the client"
    posted = [m.get("text") for m in fake.messages[SUPPORT]]
    assert posted == ["root", "second"], fake.messages
    async with core.sessions() as session:
        statuses = (await session.scalars(select(OutboxItem.status))).all()
    assert list(statuses) == ["sent", "sent"]
