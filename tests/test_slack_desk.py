"""The Slack desk end to end: escalate, thread, claim, relay both ways, notes stay internal,
resolve. Real Bolt + slack-sdk against the fake Web API, signed requests to our real app."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from storage import agents
from storage.models import Conversation, Message, TicketNote
from tests.slack_env import AGENT, OTHER_AGENT, SUPPORT, SlackEnv, wait_for
from tests.slack_env import slack_env as slack_env  # the fixture


def _action_ids(message: dict[str, Any]) -> list[str]:
    blocks = message.get("blocks") or []
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def _block_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False)


async def _escalate(env: SlackEnv) -> dict[str, Any]:
    await env.customer_says("where is my order?", "c-1")
    await env.customer_says("/human", "c-2")
    roots = await wait_for(lambda: _roots(env))
    await wait_for(lambda: _thread_recorded(env))
    return roots[0]


async def _thread_recorded(env: SlackEnv) -> bool:
    return bool(await env.thread_ts(1))


async def _roots(env: SlackEnv) -> list[dict[str, Any]]:
    return env.fake.roots(SUPPORT)


async def test_escalation_posts_one_thread_with_context_and_buttons(slack_env: SlackEnv) -> None:
    env = slack_env
    root = await _escalate(env)
    assert await env.thread(1) == (SUPPORT, root["ts"])
    text = _block_text(root)
    assert "Ticket #1" in text and "Anna" in text and "*Channel:* test" in text
    assert "*Language:* en" in text and "where is my order?" in text
    assert _action_ids(root) == ["ticket_claim", "ticket_resolve", "ticket_bot"]
    await wait_for(lambda: _customer_got(env, "case #1"))
    assert len(env.fake.roots(SUPPORT)) == 1


async def _customer_got(env: SlackEnv, fragment: str) -> bool:
    return any(fragment in t for t in env.customer.texts())


async def test_full_ticket_life_in_slack(slack_env: SlackEnv) -> None:
    env = slack_env
    root = await _escalate(env)

    assert await env.action("ticket_claim", 1) == 200
    ticket = await wait_for(lambda: _claimed(env))
    assert ticket.assignee == AGENT and ticket.claimed_at is not None
    updated = await wait_for(lambda: _edited_root(env, root["ts"]))
    assert f"Claimed by <@{AGENT}>" in _block_text(updated)
    assert "ticket_claim" not in _action_ids(updated), "claimed: no Claim button for others"
    await wait_for(lambda: _thread_has(env, root["ts"], f"<@{AGENT}> claimed this ticket"))

    before = list(env.customer.texts())
    _, status = await env.thread_reply(1, "checking the warehouse, looks like a lost parcel")
    assert status == 200
    await env.settle()
    assert env.customer.texts() == before, "an internal note must never reach the customer"
    assert await env.slack_events() == 2, "the claim and the note"
    async with env.core.sessions() as session:
        notes = (await session.scalars(select(TicketNote.text))).all()
    assert notes == ["checking the warehouse, looks like a lost parcel"], "stored for staff"

    reply_body, status = await env.thread_reply(1, "!reply Your parcel left our warehouse today.")
    assert status == 200
    await wait_for(lambda: _customer_got(env, "Your parcel left our warehouse today."))
    reply_ts = json.loads(reply_body)["event"]["ts"]
    await wait_for(lambda: _reacted(env, reply_ts))
    ticket = await env.ticket(1)
    assert ticket.first_response_at is not None
    assert ticket.first_response_at >= ticket.created_at
    assert await _agent_transcript(env) == ["Your parcel left our warehouse today."]

    await env.customer_says("thanks! when will it arrive?", "c-3")
    await wait_for(lambda: _thread_has(env, root["ts"], "*Anna:* thanks! when will it arrive?"))

    assert await env.action("ticket_resolve", 1) == 200
    await wait_for(lambda: _customer_got(env, "case #1 is now resolved"))
    ticket = await env.ticket(1)
    assert ticket.status == "resolved" and ticket.resolved_at is not None
    assert ticket.resolved_at >= ticket.first_response_at
    assert await _mode(env) == "bot"
    final = await wait_for(lambda: _root_without_buttons(env, root["ts"]))
    assert f"Resolved by <@{AGENT}>" in _block_text(final)

    await wait_for(lambda: _customer_got(env, "How satisfied"))  # the CSAT follows the resolve
    await env.settle()
    sent_before = len(env.customer.sent)
    await env.thread_reply(1, "!reply one more thing")
    await wait_for(lambda: _ephemeral(env, "already resolved"))
    await env.settle()
    assert len(env.customer.sent) == sent_before, "nothing relayed on a resolved ticket"
    assert len(env.fake.roots(SUPPORT)) == 1, "one thread per ticket"


async def _claimed(env: SlackEnv) -> Any:
    ticket = await env.ticket(1)
    return ticket if ticket.assignee else None


async def _edited_root(env: SlackEnv, ts: str) -> Any:
    for m in env.fake.messages[SUPPORT]:
        if m["ts"] == ts and m.get("edited"):
            return m
    return None


async def _root_without_buttons(env: SlackEnv, ts: str) -> Any:
    root = await _edited_root(env, ts)
    return root if root and not _action_ids(root) else None


async def _thread_has(env: SlackEnv, ts: str, fragment: str) -> bool:
    return any(fragment in m["text"] for m in env.fake.thread(SUPPORT, ts))


async def _reacted(env: SlackEnv, ts: str) -> bool:
    return (SUPPORT, ts, "white_check_mark") in env.fake.reactions


async def _ephemeral(env: SlackEnv, fragment: str) -> bool:
    return any(fragment in str(e.get("text")) for e in env.fake.ephemeral)


async def _agent_transcript(env: SlackEnv) -> list[str]:
    async with env.core.sessions() as session:
        rows = await session.scalars(select(Message.text).where(Message.sender == "agent"))
        return list(rows.all())


async def _mode(env: SlackEnv) -> str:
    async with env.core.sessions() as session:
        return str(await session.scalar(select(Conversation.mode)))


async def test_second_claim_is_refused_and_first_reply_claims(slack_env: SlackEnv) -> None:
    env = slack_env
    await _escalate(env)
    await env.thread_reply(1, "!reply Hello, I'm looking into it.", user=OTHER_AGENT)
    await wait_for(lambda: _customer_got(env, "Hello, I'm looking into it."))
    ticket = await env.ticket(1)
    assert ticket.assignee == OTHER_AGENT, "the first relayed reply claims an unowned ticket"
    assert await env.action("ticket_claim", 1, user=AGENT) == 200
    await wait_for(lambda: _ephemeral(env, f"already claimed by <@{OTHER_AGENT}>"))
    assert (await env.ticket(1)).assignee == OTHER_AGENT


async def test_back_to_bot_and_customer_reopens(slack_env: SlackEnv) -> None:
    env = slack_env
    root = await _escalate(env)
    assert await env.action("ticket_bot", 1) == 200
    await wait_for(lambda: _customer_got(env, "talking to the assistant again"))
    assert await _mode(env) == "bot"
    await wait_for(lambda: _thread_has(env, root["ts"], "handed the conversation back"))
    await env.customer_says("where is my order?", "c-3")
    await wait_for(lambda: _customer_got(env, "shop.example/orders"))

    await env.customer_says("/human", "c-4")
    await wait_for(lambda: _thread_has(env, root["ts"], "asked for a person again"))
    assert await _mode(env) == "human"
    await env.customer_says("/bot", "c-5")
    await wait_for(lambda: _thread_has(env, root["ts"], "The customer went back to the bot"))
    assert len(env.fake.roots(SUPPORT)) == 1
    assert (await env.ticket(1)).status == "open"


async def test_keyword_escalates(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.customer_says("I have a Complaint about my delivery", "k-1")
    await wait_for(lambda: _roots(env))
    ticket = await env.ticket(1)
    assert ticket.reason == "keyword:complaint"


async def test_agents_names_are_learned_from_slack_in_the_background(slack_env: SlackEnv) -> None:
    env = slack_env
    await _escalate(env)
    assert await env.action("ticket_claim", 1) == 200

    async def learned() -> dict[str, str] | None:
        async with env.core.sessions() as session:
            known = await agents.names(session, [AGENT])
        return known or None

    assert await wait_for(learned) == {AGENT: f"agent-{AGENT.lower()}"}
    assert len(env.fake.method_calls("users.info")) == 1
    assert await env.action("ticket_resolve", 1) == 200  # known and fresh: not asked again
    await wait_for(lambda: _resolved(env))
    assert len(env.fake.method_calls("users.info")) == 1
    assert agents.label(AGENT, {AGENT: "Alice"}) == f"Alice ({AGENT})"
    assert agents.label("U0NOBODY", {}) == "U0NOBODY"


async def _resolved(env: SlackEnv) -> bool:
    return (await env.ticket(1)).status == "resolved"


async def test_a_reply_that_never_reaches_the_customer_is_reported_in_the_thread(
        slack_env: SlackEnv) -> None:
    """E.g. WhatsApp's 24-hour window closed: the outbox gives up, and staff must know."""
    from bot.ports import SendResult

    env = slack_env
    root = await _escalate(env)
    env.customer.script.append(SendResult.failed(
        "whatsapp: the customer's 24-hour window is closed and CRMBOT_WHATSAPP_TEMPLATES has "
        "no 'reply' template for 'en'"))
    _, status = await env.thread_reply(1, "!reply We found your parcel.")
    assert status == 200
    await wait_for(lambda: _thread_has(
        env, root["ts"], "Not delivered to the customer on test: “We found your parcel.”"))
    message = next(m["text"] for m in env.fake.thread(SUPPORT, root["ts"])
                   if "Not delivered" in m["text"])
    assert "24-hour window is closed" in message
