"""The desk over the REST API (issue 30): the same staff actions as in Slack, through the
inbox, the ticket handlers and the outbox, on both databases; and the whole customer."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.messages import InboundMessage
from storage.models import Conversation, InboundEvent, Message, OutboxItem, Ticket, TicketNote
from tests.admin_support import BOOTSTRAP, Running, browser_session, csrf_of, login, running
from tests.conftest import make_settings
from tests.identity_support import RecordingDesk, channels


@pytest.fixture
async def srv(db_url: str) -> Any:
    async with running(make_settings(db_url, admin_token=BOOTSTRAP)) as r:
        r.core.set_desk(RecordingDesk())
        channels(r.core, "test", "other")
        yield r


async def _settle(srv: Running) -> None:
    """Until every stored event is processed (the app's own processor runs too, and on
    PostgreSQL holds the conversation's lock while it does)."""
    for _ in range(200):
        await srv.core.processor.process_pending()
        async with srv.core.sessions() as s:
            left = await s.scalar(select(func.count()).select_from(InboundEvent).where(
                InboundEvent.processed_at.is_(None)))
        if not left:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("events left unprocessed")


async def _say(srv: Running, text: str, event: str, chat: str = "cust-1",
               channel: str = "test") -> int:
    result = await srv.core.ingest(InboundMessage(
        channel=channel, event_id=event, user_id=chat, chat_id=chat, text=text,
        kind="command" if text.startswith("/") else "text", display_name="Dana Doe"))
    await _settle(srv)
    return result.conversation_id


async def _ticket(srv: Running) -> Ticket:
    await _say(srv, "/human", "h1")
    async with srv.core.sessions() as s:
        ticket = await s.scalar(select(Ticket).order_by(Ticket.id.desc()))
    assert ticket is not None
    return ticket


async def _act(srv: Running, ticket_id: int, token: str, body: dict[str, Any],
               key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = srv.h(token) | ({"Idempotency-Key": key} if key else {})
    async with aiohttp.ClientSession(srv.url) as http, http.post(
            f"/api/v1/tickets/{ticket_id}/actions", json=body, headers=headers) as resp:
        answer = await resp.json()
    await _settle(srv)
    return resp.status, answer


async def _outbound(srv: Running, conversation_id: int) -> list[str]:
    async with srv.core.sessions() as s:
        rows = await s.scalars(select(Message.text).where(
            Message.conversation_id == conversation_id, Message.direction == "out")
            .order_by(Message.id))
        return list(rows.all())


async def test_a_reply_reaches_the_customer_through_the_outbox_once(srv: Running) -> None:
    ticket = await _ticket(srv)
    status, answer = await _act(srv, ticket.id, srv.agent,
                                {"action": "reply", "text": "Your parcel left today."}, "k-1")
    assert status == 202 and answer["status"] == "accepted"
    again, repeat = await _act(srv, ticket.id, srv.agent,
                               {"action": "reply", "text": "Your parcel left today."}, "k-1")
    assert again == 202 and repeat["status"] == "duplicate"
    texts = await _outbound(srv, ticket.conversation_id or 0)
    assert texts.count("Your parcel left today.") == 1
    async with srv.core.sessions() as s:
        item = await s.scalar(select(OutboxItem).where(
            OutboxItem.conversation_id == ticket.conversation_id).order_by(OutboxItem.id.desc()))
        fresh = await s.get_one(Ticket, ticket.id)
    assert item is not None and item.channel == "test"  # the customer's own channel
    assert item.payload["text"] == "Your parcel left today."
    assert (fresh.assignee or "").startswith("token:test agent")  # the first reply claims
    assert fresh.first_response_at is not None


async def test_a_note_is_stored_and_never_sent(srv: Running) -> None:
    ticket = await _ticket(srv)
    before = await _outbound(srv, ticket.conversation_id or 0)
    status, _ = await _act(srv, ticket.id, srv.agent,
                           {"action": "note", "text": "VIP: refund without asking"})
    assert status == 202
    assert await _outbound(srv, ticket.conversation_id or 0) == before
    async with aiohttp.ClientSession(srv.url) as http, http.get(
            f"/api/v1/tickets/{ticket.id}", headers=srv.h(srv.agent)) as resp:
        detail = await resp.json()
    assert [(n["text"], n["source"]) for n in detail["notes"]] == [
        ("VIP: refund without asking", "api")]
    assert detail["notes"][0]["author"].startswith("token:test agent")


async def test_assign_transfer_priority_resolve_and_reopen_keep_the_assignee(
    srv: Running,
) -> None:
    ticket = await _ticket(srv)
    for body in ({"action": "assign", "assignee": "U0ALICE"},
                 {"action": "assign", "assignee": "U0BOB"},  # a transfer
                 {"action": "priority", "priority": "urgent"},
                 {"action": "resolve"}):
        status, _ = await _act(srv, ticket.id, srv.agent, body)
        assert status == 202, body
    async with srv.core.sessions() as s:
        done = await s.get_one(Ticket, ticket.id)
    assert (done.status, done.assignee, done.priority) == ("resolved", "U0BOB", "urgent")
    await _act(srv, ticket.id, srv.admin, {"action": "reopen"})
    async with srv.core.sessions() as s:
        reopened = await s.get_one(Ticket, ticket.id)
    assert (reopened.status, reopened.assignee, reopened.resolved_at) == (
        "claimed", "U0BOB", None)


@pytest.mark.parametrize(("body", "status"), [
    ({"action": "dance"}, 422), ({"action": "reply"}, 422), ({"action": "reply", "text": 5}, 422),
    ({"action": "assign"}, 422), ({"action": "priority", "priority": "asap"}, 422),
    ({"action": "reply", "text": "x" * 5000}, 413),
])
async def test_bad_actions_are_refused_and_store_nothing(
    srv: Running, body: dict[str, Any], status: int
) -> None:
    ticket = await _ticket(srv)
    got, answer = await _act(srv, ticket.id, srv.agent, body)
    assert got == status and answer["error"]["code"]
    async with srv.core.sessions() as s:
        notes = (await s.scalars(select(TicketNote))).all()
    assert notes == []


async def test_unknown_ticket_and_anonymous_caller(srv: Running) -> None:
    got, _ = await _act(srv, 424242, srv.agent, {"action": "claim"})
    assert got == 404
    got, answer = await _act(srv, 1, "", {"action": "claim"})
    assert got == 401 and answer["error"]["code"] == "unauthorized"


async def test_the_customer_page_shows_every_channel_in_one_timeline(srv: Running) -> None:
    first = await _say(srv, "where is my order?", "t1", chat="dana-test")
    await _say(srv, "/link", "t2", chat="dana-test")
    async with srv.core.sessions() as s:
        code = await s.scalar(select(Message.text).where(
            Message.conversation_id == first, Message.direction == "out")
            .order_by(Message.id.desc()))
    link = next(w for w in (code or "").replace(".", " ").split() if "-" in w and w.isupper())
    await _say(srv, f"/link {link}", "o1", chat="dana-other", channel="other")
    await _say(srv, "and my invoice?", "o2", chat="dana-other", channel="other")
    async with srv.core.sessions() as s:
        customer_id = (await s.get_one(Conversation, first)).customer_id
    async with aiohttp.ClientSession(srv.url) as http, http.get(
            f"/api/v1/customers/{customer_id}", headers=srv.h(srv.agent)) as resp:
        body = await resp.json()
    assert resp.status == 200
    assert {i["channel"] for i in body["identities"]} == {"test", "other"}
    said = [(e["channel"], e["text"]) for e in body["timeline"] if e["direction"] == "in"]
    assert ("test", "where is my order?") in said and ("other", "and my invoice?") in said
    assert said.index(("test", "where is my order?")) < said.index(("other", "and my invoice?"))
    assert body["consent"] == {"announcements": False} and "merges" in body


async def test_the_admin_ticket_page_acts_like_the_api(srv: Running) -> None:
    ticket = await _ticket(srv)
    async with browser_session(srv.url) as http:
        await login(http, "bob")  # an agent
        async with http.get(f"/admin/tickets/{ticket.id}") as resp:
            page = await resp.text()
        assert resp.status == 200 and f'href="/admin/customers/{ticket.customer_id}"' in page
        token = csrf_of(page)
        form = {"_csrf": token, "action": "reply", "text": "Sent from the admin page."}
        async with http.post(f"/admin/tickets/{ticket.id}/action", data=form) as resp:
            assert resp.status == 200 and "Queued: reply" in await resp.text()
        await _settle(srv)
        note = {"_csrf": token, "action": "note", "text": "called the carrier"}
        async with http.post(f"/admin/tickets/{ticket.id}/action", data=note) as resp:
            assert resp.status == 200
        await _settle(srv)
        async with http.get(f"/admin/tickets/{ticket.id}") as resp:
            assert "called the carrier" in await resp.text()
        bad = {"_csrf": token, "action": "priority", "priority": "asap"}
        async with http.post(f"/admin/tickets/{ticket.id}/action", data=bad) as resp:
            assert "Not done: priority must be one of" in await resp.text()
        forged = {"_csrf": "forged", "action": "reply", "text": "forged"}
        async with http.post(f"/admin/tickets/{ticket.id}/action", data=forged) as resp:
            assert resp.status == 403
        async with http.get(f"/admin/customers/{ticket.customer_id}") as resp:
            customer_page = await resp.text()
        assert resp.status == 200 and "/human" in customer_page
        for missing in (f"/admin/customers/{10**30}", "/admin/customers/424242",
                        f"/admin/tickets/{2**63}"):
            async with http.get(missing) as resp:
                assert resp.status == 404, missing
    texts = await _outbound(srv, ticket.conversation_id or 0)
    assert texts.count("Sent from the admin page.") == 1 and "forged" not in texts
    assert "called the carrier" not in texts


async def test_saved_replies_are_sent_in_the_customers_language_with_placeholders(
    srv: Running,
) -> None:
    async with aiohttp.ClientSession(srv.url) as http:
        for locale, text in (("en", "Hi {name}, ticket {ticket} is with us. {hours}"),
                             ("sv", "Hej {name}, ärende {ticket} är hos oss.")):
            async with http.put(f"/api/v1/saved-replies/refund_ok/{locale}", json={"text": text},
                                headers=srv.h(srv.admin)) as resp:
                assert resp.status == 200, await resp.text()
        async with http.put("/api/v1/saved-replies/refund_ok/en", json={"text": "x {bogus}"},
                            headers=srv.h(srv.admin)) as resp:
            assert resp.status == 422 and "bogus" in (await resp.json())["error"]["message"]
        async with http.put("/api/v1/saved-replies/Bad Name/en", json={"text": "x"},
                            headers=srv.h(srv.admin)) as resp:
            assert resp.status == 422
        async with http.put("/api/v1/saved-replies/refund_ok/en", json={"text": "x"},
                            headers=srv.h(srv.agent)) as resp:
            assert resp.status == 403  # agents read, admins write
        async with http.get("/api/v1/saved-replies", headers=srv.h(srv.agent)) as resp:
            names = {(r["name"], r["locale"]) for r in (await resp.json())["items"]}
        assert names == {("refund_ok", "en"), ("refund_ok", "sv")}
    await _say(srv, "/lang sv", "l1")
    ticket = await _ticket(srv)
    await _act(srv, ticket.id, srv.agent, {"action": "reply", "text": ":refund_ok"})
    await _act(srv, ticket.id, srv.agent, {"action": "reply", "text": ":no_such_reply"})
    texts = await _outbound(srv, ticket.conversation_id or 0)
    assert f"Hej Dana Doe, ärende {ticket.id} är hos oss." in texts
    assert not any("no_such_reply" in t for t in texts)
    async with aiohttp.ClientSession(srv.url) as http:
        async with http.delete("/api/v1/saved-replies/refund_ok/sv",
                               headers=srv.h(srv.admin)) as resp:
            assert resp.status == 204
        async with http.delete("/api/v1/saved-replies/refund_ok/sv",
                               headers=srv.h(srv.admin)) as resp:
            assert resp.status == 404


def test_saved_replies_from_the_command_line(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from bot import cli

    monkeypatch.setenv("CRMBOT_DATABASE_URL", db_url)
    assert cli.main(["replies", "set", "late", "lv", "Atvainojiet, {name}!"]) == 0
    assert cli.main(["replies", "set", "late", "lv", "bad {what}"]) == 2
    assert cli.main(["replies", "list"]) == 0
    assert ":late\tlv\tAtvainojiet, {name}!" in capsys.readouterr().out
    assert cli.main(["replies", "delete", "late", "lv"]) == 0
    assert cli.main(["replies", "delete", "late", "lv"]) == 1


async def test_transfer_to_a_team_picks_its_least_loaded_agent(db_url: str) -> None:
    rules = '[{"agents": ["U0SV1", "U0SV2"], "team": "nordics", "locales": ["sv"]}]'
    async with running(make_settings(db_url, admin_token=BOOTSTRAP, assign_rules=rules)) as r:
        r.core.set_desk(RecordingDesk())
        channels(r.core, "test", "other")
        first = await _ticket(r)
        await _say(r, "/human", "h2", chat="cust-2")
        async with r.core.sessions() as s:
            second = await s.scalar(select(Ticket).order_by(Ticket.id.desc()))
        assert second is not None and second.id != first.id
        for ticket_id in (first.id, second.id):
            status, _ = await _act(r, ticket_id, r.agent, {"action": "assign", "team": "nordics"})
            assert status == 202
        status, _ = await _act(r, first.id, r.agent, {"action": "assign", "team": "nowhere"})
        assert status == 202  # accepted, then refused by the ticket handler: nobody changes
        async with r.core.sessions() as s:
            got = [(await s.get_one(Ticket, t)).assignee for t in (first.id, second.id)]
        assert got == ["U0SV1", "U0SV2"], "the second goes to the one with fewer open tickets"
