"""WhatsApp (Cloud API) end to end: the real app, signed deliveries, a fake Graph API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.channels.meta.graph import GraphError, outcome
from bot.channels.whatsapp import outbound
from bot.config import Settings
from bot.messages import Button, OutboundMessage
from storage.models import Conversation, InboundEvent, Message, OutboxItem, utcnow
from tests.meta_support import VERIFY, MetaEnv, meta_env, mutations
from tests.webapp import eventually

CUSTOMER = "46700000001"


@pytest.fixture
async def wa(db_url: str) -> AsyncIterator[MetaEnv]:
    async with meta_env(db_url, "/whatsapp/webhook") as env:
        yield env


def delivery(*messages: dict[str, Any], statuses: tuple[dict[str, Any], ...] = (),
             name: str = "Kerstin") -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001055", "phone_number_id": "1055"},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": CUSTOMER}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}]}


def text(wamid: str, body: str) -> dict[str, Any]:
    return {"from": CUSTOMER, "id": wamid, "timestamp": "1765000000", "type": "text",
            "text": {"body": body}}


async def events(env: MetaEnv) -> list[InboundEvent]:
    async with env.served.core.sessions() as s:
        return list((await s.scalars(select(InboundEvent).order_by(InboundEvent.id))).all())


async def test_handshake_echoes_the_challenge_only_for_the_right_token(wa: MetaEnv) -> None:
    assert await wa.handshake(VERIFY) == (200, "1158201444")
    assert (await wa.handshake("guess"))[0] == 403
    async with wa.http.get(wa.served.base + "/whatsapp/webhook",
                           params={"hub.mode": "subscribe"}) as r:
        assert r.status == 400


BAD_SIGNATURES = ["", "sha256=" + "0" * 64, "sha1=abc", "sha256=ÿÿ", "sha256=" + "a" * 1000]


async def test_an_unsigned_or_wrongly_signed_delivery_is_refused_and_stores_nothing(
        wa: MetaEnv) -> None:
    for header in BAD_SIGNATURES:
        response = await wa.post(delivery(text("wamid.A", "hello")),
                                 headers={"X-Hub-Signature-256": header})
        assert response.status == 401, header[:40]
    assert await events(wa) == []


async def test_a_delivery_signed_with_another_secret_is_refused(wa: MetaEnv) -> None:
    response = await wa.post(delivery(text("wamid.A", "hello")), secret="not-the-app-secret")
    assert response.status == 401
    assert await events(wa) == []


MALFORMED = [b"{not json", b"[]", b'{"object": "page"}', b"[" * 100_000 + b"]" * 100_000,
             b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": '
             b'"messages", "value": {"messages": [{"id": "wamid.X", "type": "text"}]}}]}]}']


async def test_a_signed_but_malformed_delivery_gets_400_and_stores_nothing(wa: MetaEnv) -> None:
    for raw in MALFORMED:
        response = await wa.post(None, raw=raw)
        assert response.status in (400, 413), raw[:40]
    assert await events(wa) == []


async def test_messages_are_stored_once_answered_and_acknowledged_after_commit(
        wa: MetaEnv) -> None:
    payload = delivery(text("wamid.T1", "How much does delivery cost?"))
    assert (await wa.post(payload)).status == 200
    assert (await wa.post(payload)).status == 200  # WhatsApp delivers again: no second event
    stored = await events(wa)
    assert [e.event_id for e in stored] == ["wamid.T1"]
    assert stored[0].channel == "whatsapp"

    await eventually(lambda: _sent_to(wa, CUSTOMER))
    sent = wa.graph.bodies("/1055/messages")[0]
    assert (sent["messaging_product"], sent["to"]) == ("whatsapp", CUSTOMER)
    assert sent["type"] in ("text", "interactive")
    async with wa.served.core.sessions() as s:
        conv = await s.scalar(select(Conversation))
        assert conv is not None and conv.chat_id == CUSTOMER
        item = await s.scalar(select(OutboxItem).where(OutboxItem.channel == "whatsapp"))
        assert item is not None and item.external_id == "wamid.OUT1"


async def _sent_to(env: MetaEnv, to: str, n: int = 1) -> bool:
    return len([b for b in env.graph.bodies("/messages") if b.get("to") == to]) >= n


async def test_buttons_replies_media_and_reactions_are_stored_never_dropped(
        wa: MetaEnv) -> None:
    button = {"from": CUSTOMER, "id": "wamid.B1", "type": "interactive", "interactive": {
        "type": "button_reply", "button_reply": {"id": "fb:yes:1", "title": "Yes"}}}
    row = {"from": CUSTOMER, "id": "wamid.L1", "type": "interactive", "interactive": {
        "type": "list_reply", "list_reply": {"id": "kb:returns", "title": "Returns"}}}
    image = {"from": CUSTOMER, "id": "wamid.I1", "type": "image",
             "image": {"id": "MEDIA1", "mime_type": "image/jpeg", "sha256": "x"}}
    where = {"from": CUSTOMER, "id": "wamid.P1", "type": "location",
             "location": {"latitude": 59.3, "longitude": 18.1}}
    reaction = {"from": CUSTOMER, "id": "wamid.R1", "type": "reaction",
                "reaction": {"message_id": "wamid.OUT1", "emoji": "👍"}}
    payload = delivery(button, row, image, where, reaction)
    payload["entry"].append(delivery(text("wamid.T2", "hej"))["entry"][0])  # two entries
    assert (await wa.post(payload)).status == 200
    stored = {e.event_id: e.payload for e in await events(wa)}
    assert set(stored) == {"wamid.B1", "wamid.L1", "wamid.I1", "wamid.P1", "wamid.R1",
                           "wamid.T2"}
    assert (stored["wamid.B1"]["kind"], stored["wamid.B1"]["callback_data"]) == (
        "callback", "fb:yes:1")
    assert stored["wamid.L1"]["callback_data"] == "kb:returns"
    assert stored["wamid.I1"]["kind"] == "unsupported"
    assert stored["wamid.I1"]["attachments"][0]["id"] == "MEDIA1"
    assert stored["wamid.P1"]["attachments"][0]["value"]["latitude"] == 59.3
    assert stored["wamid.R1"]["attachments"][0]["value"]["emoji"] == "👍"
    assert stored["wamid.T2"]["display_name"] == "Kerstin"


async def test_lone_surrogates_and_control_characters_are_stored_cleaned(wa: MetaEnv) -> None:
    raw = (json.dumps(delivery(text("wamid.S1", "x"))).replace('"x"', '"a\\ud800b\\u0000c"')
           .encode())
    assert (await wa.post(None, raw=raw)).status == 200
    async with wa.served.core.sessions() as s:
        row = await s.scalar(select(Message.text).where(Message.direction == "in"))
    assert row == "a\ufffdb\ufffdc"


async def test_receipts_update_the_outbox_item_and_never_go_backwards(wa: MetaEnv) -> None:
    assert (await wa.post(delivery(text("wamid.T1", "hello")))).status == 200
    await eventually(lambda: _sent_to(wa, CUSTOMER))

    def status(s: str) -> dict[str, Any]:
        return {"id": "wamid.OUT1", "status": s, "timestamp": "1765000100",
                "recipient_id": CUSTOMER}

    for s in ("delivered", "read", "delivered"):
        assert (await wa.post(delivery(statuses=(status(s),)))).status == 200
    item = await _item(wa, "wamid.OUT1")
    assert (item.receipt, item.status) == ("read", "sent")
    from storage.customer_view import customer_history

    async with wa.served.core.sessions() as s:
        conv = await s.scalar(select(Conversation))
        assert conv is not None
        timeline = await customer_history(s, conv.customer_id)
    assert [(h.direction, h.delivery) for h in timeline] == [("in", None), ("out", "read")]
    failed = {**status("failed"), "errors": [{"code": 131026, "title": "Undeliverable"}]}
    assert (await wa.post(delivery(statuses=(failed,)))).status == 200
    item = await _item(wa, "wamid.OUT1")
    assert (item.receipt, item.status) == ("failed", "failed")
    assert "131026: Undeliverable" in (item.last_error or "")


async def _item(env: MetaEnv, external_id: str) -> OutboxItem:
    async with env.served.core.sessions() as s:
        item = await s.scalar(select(OutboxItem).where(OutboxItem.external_id == external_id))
    assert item is not None
    return item


async def _close_window(env: MetaEnv) -> None:
    async with env.served.core.sessions.begin() as s:
        await s.execute(update(Conversation).values(
            last_message_at=utcnow() - timedelta(hours=25)))


async def test_outside_the_24_hour_window_a_reply_needs_a_template(db_url: str) -> None:
    templates = json.dumps({"reply": {"en": "support_reply"}})
    async with meta_env(db_url, "/whatsapp/webhook", whatsapp_templates=templates) as env:
        assert (await env.post(delivery(text("wamid.T1", "hello")))).status == 200
        await eventually(lambda: _sent_to(env, CUSTOMER))
        await _close_window(env)
        channel = env.served.core.registry.get("whatsapp")
        assert channel is not None
        result = await channel.send(OutboundMessage("whatsapp", CUSTOMER, "We fixed it."))
        assert result.ok
        body = env.graph.bodies("/messages")[-1]
        assert body["type"] == "template"
        assert body["template"]["name"] == "support_reply"
        assert body["template"]["components"][0]["parameters"][0]["text"] == "We fixed it."
        sv = await channel.send(OutboundMessage("whatsapp", CUSTOMER, "Klart.", locale="sv"))
        assert not sv.ok and sv.permanent and "no 'reply' template for 'sv'" in sv.error


async def test_announcements_go_only_as_templates(wa: MetaEnv) -> None:
    assert (await wa.post(delivery(text("wamid.T1", "hello")))).status == 200
    await eventually(lambda: _sent_to(wa, CUSTOMER))
    channel = wa.served.core.registry.get("whatsapp")
    assert channel is not None
    calls = len(wa.graph.calls)
    news = OutboundMessage("whatsapp", CUSTOMER, "Sale!", meta={"broadcast": 1})
    result = await channel.send(news)
    assert not result.ok and "announcements go only as approved templates" in result.error
    assert len(wa.graph.calls) == calls, "nothing was sent to WhatsApp"


ERRORS = [
    (131056, 400, ("retry", 60.0, "chat")),  # pair rate limit
    (130429, 400, ("retry", 10.0, "global")),  # throughput
    (131026, 400, ("unreachable", None, "chat")),  # undeliverable
    (131047, 400, ("failed", None, "chat")),  # re-engagement required
    (190, 401, ("retry", 300.0, "global")),  # expired token: pause
    (999999, 500, ("retry", None, "chat")),
    (999999, 400, ("failed", None, "chat")),
]


async def test_graph_errors_map_to_outbox_outcomes(wa: MetaEnv) -> None:
    assert (await wa.post(delivery(text("wamid.T1", "hello")))).status == 200
    await eventually(lambda: _sent_to(wa, CUSTOMER))
    channel = wa.served.core.registry.get("whatsapp")
    assert channel is not None
    for code, status, expect in ERRORS:
        wa.graph.fail_next(code, status)
        result = await channel.send(OutboundMessage("whatsapp", CUSTOMER, "hi"))
        kind = ("unreachable" if result.unreachable else "failed" if result.permanent
                else "retry")
        assert (kind, result.retry_after, result.retry_scope) == expect, code
        assert str(code) in result.error


def test_a_graph_error_without_code_is_judged_by_http_status() -> None:
    assert not outcome(503, None).permanent
    assert outcome(400, None).permanent
    assert str(GraphError(131056, 2, "pair")) == "Graph error 131056/2: pair"


def message(*labels: str, url: str | None = None) -> OutboundMessage:
    buttons = [Button(label, data=f"d:{i}") for i, label in enumerate(labels)]
    if url:
        buttons.append(Button("Track", url=url))
    return OutboundMessage("whatsapp", CUSTOMER, "Pick one", buttons=(tuple(buttons),))


def test_three_short_buttons_become_reply_buttons() -> None:
    body = outbound.body(message("Yes", "No", "Talk to a person"))
    assert body["interactive"]["type"] == "button"
    titles = [b["reply"]["title"] for b in body["interactive"]["action"]["buttons"]]
    assert titles == ["Yes", "No", "Talk to a person"]


def test_more_buttons_or_long_titles_become_a_list_of_at_most_ten_rows() -> None:
    body = outbound.body(message("A", "B", "C", "D"), "Välj")
    assert body["interactive"]["type"] == "list"
    assert body["interactive"]["action"]["button"] == "Välj"
    long = outbound.body(message("How do I return a parcel I never opened?"))
    row = long["interactive"]["action"]["sections"][0]["rows"][0]
    assert len(row["title"]) == 24 and row["description"].startswith("How do I return")


def test_what_does_not_fit_is_written_out_as_text() -> None:
    nps = outbound.body(message(*[str(n) for n in range(11)]))
    assert nps["type"] == "text"
    assert nps["text"]["body"].endswith("0 · 1 · 2 · 3 · 4 · 5 · 6 · 7 · 8 · 9 · 10")
    link = outbound.body(message("Yes", url="https://shop.example/track"))
    assert link["type"] == "text" and "Track: https://shop.example/track" in link["text"]["body"]


def test_a_partly_configured_whatsapp_is_a_start_up_error(db_url: str) -> None:
    with pytest.raises(ValueError, match=r"WhatsApp channel is partly configured.*"
                                         r"CRMBOT_WHATSAPP_APP_SECRET"):
        Settings(_env_file=None, database_url=db_url, whatsapp_token="t",  # type: ignore[call-arg]
                 whatsapp_phone_number_id="1", whatsapp_verify_token="v")
    with pytest.raises(ValueError, match="CRMBOT_WHATSAPP_TEMPLATES"):
        Settings(_env_file=None, database_url=db_url,  # type: ignore[call-arg]
                 whatsapp_templates='{"promo": {"en": "x"}}')


def test_the_api_base_gets_a_version_unless_it_has_one() -> None:
    from bot.channels.meta.graph import versioned

    assert versioned("https://graph.facebook.com") == "https://graph.facebook.com/v21.0"
    assert versioned("http://127.0.0.1:9/v19.0/") == "http://127.0.0.1:9/v19.0"


async def test_hostile_deliveries_never_get_a_5xx(wa: MetaEnv) -> None:
    valid = delivery(text("wamid.H", "hello"),
                     {"from": CUSTOMER, "id": "wamid.I", "type": "interactive",
                      "interactive": {"type": "button_reply",
                                      "button_reply": {"id": "x", "title": "y"}}},
                     statuses=({"id": "wamid.S", "status": "read"},))
    statuses = []
    for body in mutations(valid):
        statuses.append((await wa.post(None, raw=body)).status)
    assert all(s < 500 for s in statuses), statuses
    assert {200, 400} >= set(statuses)
