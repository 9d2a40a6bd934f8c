"""The edge of POST /slack/events: forged, stale and retried requests are harmless; bad input
gets a clear 4xx; url_verification; ack fast; the /crmbot slash command."""

from __future__ import annotations

import asyncio
import json
import time

from sqlalchemy import func, select

from storage.models import Message
from tests.slack_env import AGENT, SUPPORT, SlackEnv, wait_for
from tests.slack_env import slack_env as slack_env  # the fixture

MARKED = "!reply Your refund was approved."


async def _ticket_with_thread(env: SlackEnv) -> str:
    await env.customer_says("/human", "c-1")

    async def recorded() -> str | None:
        return await env.thread_ts(1)

    ts: str = await wait_for(recorded)
    await env.settle()
    return ts


async def _agent_messages(env: SlackEnv) -> int:
    async with env.core.sessions() as session:
        stmt = select(func.count()).select_from(Message).where(Message.sender == "agent")
        return int(await session.scalar(stmt) or 0)


async def test_forged_signature_is_refused_and_changes_nothing(slack_env: SlackEnv) -> None:
    env = slack_env
    root = await _ticket_with_thread(env)
    sent = len(env.customer.sent)
    body = env.signer.thread_reply(SUPPORT, root, AGENT, MARKED)
    status, _, _ = await env.post(body, secret="not-the-signing-secret")
    assert status == 401
    unsigned = {"Content-Type": "application/json"}
    async with env.http.post(env.url, data=body, headers=unsigned) as resp:
        assert resp.status == 401
    claim = env.signer.action("ticket_resolve", "1", AGENT, SUPPORT, root)
    status, _, _ = await env.post(claim, "application/x-www-form-urlencoded", secret="wrong")
    assert status == 401
    await env.settle()
    assert await env.slack_events() == 0
    assert len(env.customer.sent) == sent and await _agent_messages(env) == 0
    assert (await env.ticket(1)).status == "open"


async def test_stale_timestamp_is_refused_and_changes_nothing(slack_env: SlackEnv) -> None:
    env = slack_env
    root = await _ticket_with_thread(env)
    sent = len(env.customer.sent)
    body = env.signer.thread_reply(SUPPORT, root, AGENT, MARKED)
    status, _, _ = await env.post(body, ts=int(time.time()) - 6 * 60)
    assert status == 401, "a correctly signed request older than 5 minutes is a replay"
    await env.settle()
    assert await env.slack_events() == 0 and len(env.customer.sent) == sent


async def test_retried_event_is_processed_once(slack_env: SlackEnv) -> None:
    env = slack_env
    root = await _ticket_with_thread(env)
    body = env.signer.thread_reply(SUPPORT, root, AGENT, MARKED, event_id="Ev0RETRY1")
    first = await env.post(body)
    await wait_for(lambda: _relayed(env))
    retries = [await env.post(body, headers={"X-Slack-Retry-Num": str(n),
                                             "X-Slack-Retry-Reason": "http_timeout"})
               for n in (1, 2, 3)]
    assert first[0] == 200 and all(r[0] == 200 for r in retries)
    assert all(r[2].get("x-slack-no-retry") == "1" for r in retries)
    await env.settle()
    assert await env.slack_events() == 1
    assert env.customer.texts().count("Your refund was approved.") == 1
    assert await _agent_messages(env) == 1
    ts = json.loads(body)["event"]["ts"]
    assert [r for r in env.fake.reactions if r[1] == ts] == [(SUPPORT, ts, "white_check_mark")]


async def _relayed(env: SlackEnv) -> bool:
    return "Your refund was approved." in env.customer.texts()


async def test_concurrent_redeliveries_are_stored_once(slack_env: SlackEnv) -> None:
    env = slack_env
    root = await _ticket_with_thread(env)
    body = env.signer.thread_reply(SUPPORT, root, AGENT, MARKED, event_id="Ev0RACE")
    results = await asyncio.gather(*(env.post(body) for _ in range(5)))
    assert all(r[0] == 200 for r in results)
    await env.settle()
    assert await env.slack_events() == 1
    assert env.customer.texts().count("Your refund was approved.") == 1


async def test_url_verification_and_fast_ack(slack_env: SlackEnv) -> None:
    env = slack_env
    status, body, _ = await env.post(json.dumps({"type": "url_verification", "token": "x",
                                                 "challenge": "c-8d2f"}))
    assert status == 200 and json.loads(body)["challenge"] == "c-8d2f"
    root = await _ticket_with_thread(env)
    started = time.perf_counter()
    status, _, _ = await env.post(env.signer.thread_reply(SUPPORT, root, AGENT, MARKED))
    elapsed = time.perf_counter() - started
    assert status == 200 and elapsed < 3.0, f"Slack needs an answer within 3 s, took {elapsed}"


async def test_malformed_requests_get_4xx_and_store_nothing(slack_env: SlackEnv) -> None:
    env = slack_env
    await _ticket_with_thread(env)
    for body, ctype in (("{not json", "application/json"),
                        ("payload=%7Bbroken", "application/x-www-form-urlencoded")):
        status, _, _ = await env.post(body, ctype)
        assert 400 <= status < 500, (body, status)
    bad_value = env.signer.action("ticket_claim", "not-a-number", AGENT, SUPPORT, "1.1")
    status, _, _ = await env.post(bad_value, "application/x-www-form-urlencoded")
    assert status == 200
    unknown = env.signer.action("ticket_claim", "999", AGENT, SUPPORT, "1.1")
    status, _, _ = await env.post(unknown, "application/x-www-form-urlencoded")
    assert status == 200
    await env.settle()
    assert await env.slack_events() == 0
    assert (await env.ticket(1)).assignee is None


async def test_other_threads_and_bot_messages_are_ignored(slack_env: SlackEnv) -> None:
    env = slack_env
    await _ticket_with_thread(env)
    not_a_ticket = env.signer.thread_reply(SUPPORT, "1.000001", AGENT, MARKED)
    bot_own = env.signer.event({"type": "message", "channel": SUPPORT, "user": "UBOT",
                                "bot_id": "BBOT", "text": MARKED, "ts": "2.1",
                                "thread_ts": await env.root_ts(1)})
    mention = env.signer.event({"type": "app_mention", "channel": SUPPORT, "user": AGENT,
                                "text": "<@UBOT> hi", "ts": "3.1"})
    for body in (not_a_ticket, bot_own, mention):
        status, _, _ = await env.post(body)
        assert status == 200
    await env.settle()
    assert await env.slack_events() == 0 and "Your refund was approved." not in env.customer.texts()


async def test_slash_command(slack_env: SlackEnv) -> None:
    env = slack_env
    await _ticket_with_thread(env)
    status, body = await env.command("help")
    assert status == 200 and "/crmbot list" in body
    status, body = await env.command("list")
    assert "Unresolved tickets (1)" in body
    assert "#1 · open · Anna (test) · nobody" in body
    status, body = await env.command("list mine")
    assert body == "No unresolved tickets."
    await env.action("ticket_claim", 1)

    async def claimed() -> bool:
        return (await env.ticket(1)).assignee == AGENT

    await wait_for(claimed)
    status, body = await env.command("list mine")
    assert "Your tickets (1)" in body
    status, body = await env.command("ticket 1")
    text = body
    assert "*Ticket #1* (claimed, normal priority)" in text and f"<@{AGENT}>" in text
    assert "First response: not yet" in text
    status, body = await env.command("ticket 42")
    assert body == "There is no ticket #42."
    status, body = await env.command("frobnicate")
    assert "/crmbot help" in body
    customer_id = (await env.ticket(1)).customer_id
    status, body = await env.command(f"customer {customer_id}")
    assert status == 200 and f"*Anna* (customer #{customer_id})" in body
    assert "Channels: test" in body and "Open tickets: #1" in body
    assert f"/admin/customers/{customer_id}|Customer page>" in body
    assert "> [test] customer:" in body  # the last messages, every channel
    status, body = await env.command("customer 424242")
    assert body == "There is no customer #424242."
    status, body = await env.command(f"customer {10**30}")
    assert "/crmbot help" in body
