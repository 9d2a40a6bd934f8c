"""Messenger and Instagram Direct end to end: the real app, signed deliveries, fake Graph."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.channels.messenger.adapter import message_body
from bot.messages import Button, OutboundMessage
from storage.models import Conversation, InboundEvent, utcnow
from tests.meta_support import VERIFY, MetaEnv, meta_env, mutations
from tests.webapp import eventually

PSID = "6170000000000001"
IGSID = "1780000000000002"


@pytest.fixture
async def fb(db_url: str) -> AsyncIterator[MetaEnv]:
    async with meta_env(db_url, "/messenger/webhook") as env:
        yield env


def delivery(obj: str, *events: dict[str, Any]) -> dict[str, Any]:
    return {"object": obj, "entry": [{"id": "PAGE1", "time": 1765000000000,
                                      "messaging": list(events)}]}


def event(sender: str, **content: Any) -> dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": "PAGE1"},
            "timestamp": 1765000000000, **content}


async def stored(env: MetaEnv) -> dict[str, dict[str, Any]]:
    async with env.served.core.sessions() as s:
        rows = (await s.scalars(select(InboundEvent).order_by(InboundEvent.id))).all()
    return {row.event_id: {**row.payload, "channel": row.channel} for row in rows}


async def test_handshake_and_signature(fb: MetaEnv) -> None:
    assert await fb.handshake(VERIFY, "CHALLENGE_1") == (200, "CHALLENGE_1")
    assert (await fb.handshake("x"))[0] == 403
    text = delivery("page", event(PSID, message={"mid": "m_1", "text": "hi"}))
    assert (await fb.post(text, secret="wrong-secret")).status == 401
    assert (await fb.post(text, headers={"X-Hub-Signature-256": ""})).status == 401
    assert (await fb.post({"object": "whatsapp_business_account"})).status == 400
    assert await stored(fb) == {}


async def test_messenger_and_instagram_events_become_messages_of_two_channels(
        fb: MetaEnv) -> None:
    page = delivery(
        "page",
        event(PSID, message={"mid": "m_text", "text": "How much does delivery cost?"}),
        event(PSID, message={"mid": "m_quick", "text": "Yes",
                             "quick_reply": {"payload": "fb:yes:1"}}),
        event(PSID, postback={"mid": "m_post", "title": "Get Started", "payload": "start"}),
        event(PSID, message={"mid": "m_echo", "text": "our own", "is_echo": True}),
        event(PSID, message={"mid": "m_pic", "attachments": [
            {"type": "image", "payload": {"url": "https://cdn.example/p.jpg"}}]}),
        event(PSID, delivery={"mids": ["m_OUT1"], "watermark": 1765000000000}),
    )
    insta = delivery(
        "instagram",
        event(IGSID, message={"mid": "ig_story", "text": "love it",
                              "reply_to": {"story": {"url": "https://ig.example/s",
                                                     "id": "S1"}}}),
        event(IGSID, message={"mid": "ig_mention", "attachments": [
            {"type": "story_mention", "payload": {"url": "https://ig.example/m"}}]}),
    )
    assert (await fb.post(page)).status == 200
    assert (await fb.post(insta)).status == 200
    assert (await fb.post(page)).status == 200  # redelivered: nothing new
    found = await stored(fb)
    assert set(found) == {"m_text", "m_quick", "m_post", "m_pic", "ig_story", "ig_mention"}
    assert (found["m_quick"]["kind"], found["m_quick"]["callback_data"]) == ("callback",
                                                                             "fb:yes:1")
    assert (found["m_post"]["kind"], found["m_post"]["callback_data"]) == ("callback", "start")
    assert found["m_pic"]["kind"] == "unsupported"
    assert found["ig_story"]["channel"] == "instagram"
    assert found["ig_story"]["attachments"][0]["type"] == "story_reply"
    assert found["ig_mention"]["kind"] == "unsupported"

    await eventually(lambda: _sent(fb, PSID))
    await eventually(lambda: _sent(fb, IGSID))
    reply = next(b for b in fb.graph.bodies("/me/messages") if b["recipient"]["id"] == PSID)
    assert reply["messaging_type"] == "RESPONSE"
    assert reply["message"]["text"]


async def _sent(env: MetaEnv, to: str) -> bool:
    return any(b["recipient"]["id"] == to for b in env.graph.bodies("/me/messages"))


async def _age(env: MetaEnv, hours: float) -> None:
    async with env.served.core.sessions.begin() as s:
        await s.execute(update(Conversation).values(
            last_message_at=utcnow() - timedelta(hours=hours)))


@pytest.mark.parametrize("human_agent", [False, True])
async def test_after_24_hours_only_staff_replies_with_the_human_agent_tag(
        db_url: str, human_agent: bool) -> None:
    async with meta_env(db_url, "/messenger/webhook",
                        messenger_human_agent=human_agent) as env:
        assert (await env.post(delivery("page", event(
            PSID, message={"mid": "m_1", "text": "hello"})))).status == 200
        await eventually(lambda: _sent(env, PSID))
        await _age(env, 30)
        channel = env.served.core.registry.get("messenger")
        assert channel is not None
        before = len(env.graph.calls)
        result = await channel.send(OutboundMessage("messenger", PSID, "Agent here"))
        if human_agent:
            assert result.ok
            body = env.graph.bodies("/me/messages")[-1]
            assert (body["messaging_type"], body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
        else:
            assert not result.ok and "CRMBOT_MESSENGER_HUMAN_AGENT" in result.error
            assert len(env.graph.calls) == before
        news = await channel.send(OutboundMessage("messenger", PSID, "Sale",
                                                  meta={"broadcast": 3}))
        assert not news.ok and "24-hour window is closed" in news.error
        await _age(env, 24 * 8)
        late = await channel.send(OutboundMessage("messenger", PSID, "Agent again"))
        assert not late.ok


def test_buttons_become_quick_replies_or_text() -> None:
    two = OutboundMessage("messenger", PSID, "Did this help?", buttons=((
        Button("Yes", data="fb:yes"), Button("No, talk to a person please", data="fb:no")),))
    body = message_body(two)
    assert [q["payload"] for q in body["quick_replies"]] == ["fb:yes", "fb:no"]
    assert all(len(q["title"]) <= 20 for q in body["quick_replies"])
    link = OutboundMessage("messenger", PSID, "Track it", buttons=((
        Button("Track", url="https://shop.example/t"),),))
    body = message_body(link)
    assert "quick_replies" not in body and "Track: https://shop.example/t" in body["text"]


async def test_hostile_deliveries_never_get_a_5xx(fb: MetaEnv) -> None:
    valid = delivery("instagram",
                     event(IGSID, message={"mid": "m_1", "text": "hi",
                                           "quick_reply": {"payload": "p"},
                                           "attachments": [{"type": "image",
                                                            "payload": {"url": "u"}}],
                                           "reply_to": {"story": {"url": "s", "id": "1"}}}),
                     event(PSID, postback={"mid": "m_2", "title": "t", "payload": "p"}))
    statuses = [(await fb.post(None, raw=body)).status for body in mutations(valid)]
    assert all(s < 500 for s in statuses), statuses
