"""The widget's WebSocket against the real app: edge checks, delivery, resend, feedback form."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.messages import OutboundMessage
from storage import outbox
from storage.consent import consent_of_identity
from storage.models import Conversation, InboundEvent, Message, Ticket, utcnow
from storage.models_feedback import Feedback, WebChatMessage, WebSecret
from tests.conftest import make_settings
from tests.webapp import Served, eventually, serve


@pytest.fixture
async def served(db_url: str) -> AsyncIterator[Served]:
    async with serve(make_settings(db_url)) as s:
        yield s


class Chat:
    """A scripted browser: one socket; frames are awaited by type in any arrival order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._unread: list[dict[str, Any]] = []

    async def find(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The first not yet consumed frame matching ``predicate`` (waiting for it)."""
        for frame in self._unread:
            if predicate(frame):
                self._unread.remove(frame)
                return frame
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.ws.receive_json(timeout=max(0.01, deadline - loop.time()))
            self.frames.append(frame)
            if predicate(frame):
                return frame
            self._unread.append(frame)

    async def next(self, kind: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        return await self.find(
            lambda f: f.get("type") == kind and all(f.get(k) == v for k, v in match.items()),
            timeout,
        )

    async def message(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        return await self.find(lambda f: f.get("type") == "message" and predicate(f), timeout)

    async def send(self, **frame: Any) -> None:
        await self.ws.send_json(frame)


async def _open(session: aiohttp.ClientSession, served: Served, **query: str) -> Chat:
    ws = await session.ws_connect(served.ws_url, params=query)
    return Chat(ws)


async def test_question_answer_and_button(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        chat = await _open(http, served)
        session = await chat.next("session")
        assert session["token"] and session["max_chars"] == 4000
        await chat.next("synced")
        await chat.send(type="message", id="m1", text="where is my order?")
        ack = await chat.next("ack", id="m1")
        assert ack["duplicate"] is False
        mine = await chat.message(lambda f: f.get("client_id") == "m1")
        assert mine["sender"] == "customer" and mine["text"] == "where is my order?"
        answer = await chat.message(lambda f: "shop.example/orders" in f["text"])
        assert answer["sender"] == "bot" and answer["text"].endswith("Did this answer help?")
        helped = answer  # the "did this help?" buttons ride on the answer
        yes = helped["buttons"][0][0]
        assert yes["data"].startswith("fb:") and yes["data"].endswith(":y")
        await chat.next("typing")  # sent after the ack; may arrive after a fast answer
        await chat.send(type="button", id="b1", data=yes["data"], label=yes["label"])
        await chat.next("ack", id="b1")
        thanks = await chat.message(lambda f: f["sender"] == "bot" and f["id"] > helped["id"]
                                    and f["text"] == "Glad I could help!")
        assert thanks["id"] > answer["id"]
        await chat.ws.close()


async def test_resend_after_reconnect_is_stored_once(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        first = await _open(http, served)
        token = (await first.next("session"))["token"]
        await first.next("synced")
        await first.send(type="message", id="r1", text="how much does shipping cost?")
        await first.next("ack", id="r1")
        # r2 goes out, the network drops before the ack is read: the browser keeps it unacked
        await first.send(type="message", id="r2", text="what are your opening hours?")
        await first.ws.close()

        again = await _open(http, served, token=token, since="0")
        assert (await again.next("session"))["token"] == token
        await again.next("synced")
        await again.send(type="message", id="r2", text="what are your opening hours?")
        await again.send(type="message", id="r1", text="how much does shipping cost?")
        await again.next("ack", id="r2")
        assert (await again.next("ack", id="r1"))["duplicate"] is True
        await eventually(lambda: _has_answer(served, "9:00"))
        await again.ws.close()

    assert await served.count(InboundEvent, InboundEvent.channel == "web") == 2
    assert await served.count(Message, Message.direction == "in") == 2
    for cid in ("r1", "r2"):
        assert await served.count(WebChatMessage, WebChatMessage.client_id == cid) == 1
    async with served.core.sessions() as s:
        texts = list(await s.scalars(select(Message.text).where(Message.direction == "out")))
    assert sum("50 EUR" in t for t in texts) == 1, "the shipping answer is given once"
    assert sum("9:00" in t for t in texts) == 1, "the opening-hours answer is given once"


async def _has_answer(served: Served, needle: str) -> bool:
    return await served.count(WebChatMessage, WebChatMessage.text.contains(needle)) > 0


async def test_history_is_sent_on_reconnect_from_the_cursor(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        chat = await _open(http, served)
        token = (await chat.next("session"))["token"]
        await chat.next("synced")
        await chat.send(type="message", id="h1", text="where is my order?")
        last = await chat.message(lambda f: bool(f["buttons"]))
        await chat.ws.close()

        reload = await _open(http, served, token=token)
        await reload.next("session")
        synced = await reload.next("synced")
        history = [f for f in reload.frames if f["type"] == "message"]
        assert [f["sender"] for f in history][:2] == ["customer", "bot"]
        assert synced["cursor"] == last["id"]

        resumed = await _open(http, served, token=token, since=str(last["id"]))
        await resumed.next("session")
        await resumed.next("synced")
        resent = [f for f in resumed.frames if f["type"] == "message"]
        assert not resent, "nothing new, nothing sent"
        for ws in (reload.ws, resumed.ws):
            await ws.close()


async def test_bad_tokens_are_refused(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        good = await _open(http, served)
        token = (await good.next("session"))["token"]
        await good.ws.close()
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        for bad in ("garbage", "abc.def", forged, "x" * 30 + "." + token.split(".")[1]):
            chat = await _open(http, served, token=bad)
            error = await chat.next("error")
            assert error["code"] == "bad_token"
            closing = await chat.ws.receive(timeout=5)
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4401
            await chat.ws.close()
        reused = await _open(http, served, token=token)
        assert (await reused.next("session"))["token"] == token
        await reused.ws.close()


async def test_foreign_origin_is_refused_and_allowed_ones_pass(db_url: str) -> None:
    settings = make_settings(db_url, widget_allowed_origins="https://shop.example")
    async with serve(settings) as served, aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(served.ws_url, headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403
        for origin in ("https://shop.example", served.base):
            ws = await http.ws_connect(served.ws_url, headers={"Origin": origin})
            assert (await ws.receive_json(timeout=5))["type"] == "session"
            await ws.close()
        ui = await http.get(served.base + "/chat/ui", headers={"Origin": "https://evil.example"})
        assert ui.status == 403


async def test_oversize_and_malformed_frames_get_clear_errors(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        chat = await _open(http, served)
        await chat.next("synced")
        await chat.send(type="message", id="big", text="x" * 4001)
        error = await chat.next("error", id="big")
        assert error["code"] == "too_long" and "4000" in error["message"]
        await chat.send(type="message", id="blank", text="   ")
        assert (await chat.next("error", id="blank"))["code"] == "empty"
        await chat.send(type="message", id="bad id!", text="hi")
        assert (await chat.next("error"))["code"] == "bad_request"
        await chat.ws.send_str("{not json")
        assert (await chat.next("error"))["code"] == "bad_request"
        await chat.send(type="ping")
        await chat.next("pong")
        await chat.ws.close()
    assert await served.count(InboundEvent) == 0
    assert await served.count(WebChatMessage) == 0


async def test_rate_limits_per_session_and_per_ip(db_url: str) -> None:
    settings = make_settings(db_url, widget_rate_limit="2/minute", widget_ip_rate_limit="3/minute")
    async with serve(settings) as served, aiohttp.ClientSession() as http:
        chat = await _open(http, served)
        await chat.next("synced")
        for n in range(2):
            await chat.send(type="message", id=f"q{n}", text="hello")
            await chat.next("ack", id=f"q{n}")
        await chat.send(type="message", id="q2", text="hello again")
        error = await chat.next("error", id="q2")
        assert error["code"] == "rate_limited" and error["retry_after"] >= 1
        await chat.ws.close()
        await _open(http, served)  # second connection from this address
        await _open(http, served)  # third
        with pytest.raises(aiohttp.WSServerHandshakeError) as limited:
            await http.ws_connect(served.ws_url)
        assert limited.value.status == 429
        assert int(limited.value.headers["Retry-After"]) >= 1
    assert await served.count(InboundEvent) == 2, "the refused message was not stored"


async def test_generated_secret_survives_restart(db_url: str) -> None:
    settings = make_settings(db_url)
    async with serve(settings) as served, aiohttp.ClientSession() as http:
        chat = await _open(http, served)
        token = (await chat.next("session"))["token"]
        await chat.ws.close()
        assert await served.count(WebSecret) == 1
    async with serve(settings) as served, aiohttp.ClientSession() as http:
        chat = await _open(http, served, token=token)
        assert (await chat.next("session"))["token"] == token
        await chat.ws.close()


async def test_configured_secret_is_used(db_url: str) -> None:
    settings = make_settings(db_url, widget_secret="s" * 32)
    async with serve(settings) as served, aiohttp.ClientSession() as http:
        chat = await _open(http, served)
        token = (await chat.next("session"))["token"]
        await chat.ws.close()
        assert await served.count(WebSecret) == 0
    other = make_settings(db_url, widget_secret="t" * 32)
    async with serve(other) as served, aiohttp.ClientSession() as http:
        chat = await _open(http, served, token=token)
        assert (await chat.next("error"))["code"] == "bad_token"
        await chat.ws.close()


async def test_feedback_form_low_rating_opens_a_ticket(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        chat = await _open(http, served)
        await chat.next("synced")
        await chat.send(type="feedback", id="f0", rating=7, text="?")
        assert (await chat.next("error", id="f0"))["code"] == "bad_request"
        await chat.send(type="feedback", id="f1", rating=1, text="Parcel never arrived",
                        email="ann@example.com")
        await chat.next("ack", id="f1")
        await chat.message(lambda f: "sorry we let you down" in f["text"])
        handed = await chat.message(lambda f: "case #" in f["text"])
        await chat.send(type="feedback", id="f1", rating=1, text="Parcel never arrived")
        assert (await chat.next("ack", id="f1"))["duplicate"] is True
        await chat.ws.close()
    async with served.core.sessions() as s:
        rows = list(await s.scalars(select(Feedback)))
        tickets = list(await s.scalars(select(Ticket)))
    assert len(rows) == 1 and len(tickets) == 1
    row, ticket = rows[0], tickets[0]
    assert (row.source, row.rating, row.email) == ("widget", 1, "ann@example.com")
    assert row.ticket_id == ticket.id and ticket.reason == "low_rating"
    assert f"#{ticket.id}" in handed["text"]


async def test_feedback_form_good_rating_thanks(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        chat = await _open(http, served)
        await chat.next("synced")
        await chat.send(type="feedback", id="g1", rating=5, text="Lovely shop", email=None)
        await chat.next("ack", id="g1")
        await chat.message(lambda f: f["text"] == "Thank you for your feedback!")
        await chat.ws.close()
    assert await served.count(Ticket) == 0
    assert await served.count(Feedback, Feedback.sentiment == "positive") == 1


async def test_agent_reply_reaches_the_open_socket(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        chat = await _open(http, served)
        await chat.next("synced")
        await chat.send(type="message", id="a1", text="/human")
        await chat.message(lambda f: "case #" in f["text"])
        async with served.core.sessions.begin() as s:
            conv = await s.scalar(select(Conversation).where(Conversation.channel == "web"))
            assert conv is not None and conv.mode == "human"
            s.add(Message(conversation_id=conv.id, direction="out", sender="agent",
                          text="Hi, Anna here. Let me check.", created_at=utcnow()))
            outbox.enqueue(s, OutboundMessage("web", conv.chat_id, "Hi, Anna here. Let me check."),
                           order_key=f"conv:{conv.id}", conversation_id=conv.id)
        served.core.outbox.wake()
        reply = await chat.message(lambda f: f["text"].startswith("Hi, Anna"))
        assert reply["sender"] == "agent"
        await chat.ws.close()


async def test_widget_assets_and_demo_page(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        js = await http.get(served.base + "/widget.js")
        assert js.status == 200 and "javascript" in js.headers["Content-Type"]
        assert "innerHTML" not in await js.text()
        css = await http.get(served.base + "/widget.css")
        assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
        page = await (await http.get(served.base + "/")).text()
        assert "Example Shop" in page and '<script src="/widget.js"' in page
        ui = await (await http.get(served.base + "/chat/ui", params={"lang": "sv-SE"})).json()
        assert ui["locale"] == "sv" and ui["texts"]["send"] == "Skicka"
        feedback = await (await http.get(served.base + "/feedback")).text()
        assert 'data-open="feedback"' in feedback


async def test_news_toggle_records_consent_and_follows_a_typed_stop(served: Served) -> None:
    """The widget's toggle sends bc:subscribe / bc:stop through the inbox; the server reports
    the consent in the session frame and after every change, also one typed in the chat."""
    async with aiohttp.ClientSession() as http:
        chat = await _open(http, served, lang="sv")
        session = await chat.next("session")
        assert session["news"] is False, "a new visitor has not opted in"
        await chat.next("synced")
        await chat.send(type="button", id="n1", data="bc:subscribe",
                        label="Skicka mig nyheter, tack")
        await chat.next("ack", id="n1")
        assert (await chat.next("news"))["on"] is True
        confirm = await chat.message(lambda f: f["sender"] == "bot")
        assert "prenumererar" in confirm["text"], confirm["text"]
        assert await consent_of_identity(served.core.sessions, "web", f"w:{_sid(session)}")
        await chat.send(type="message", id="n2", text="sluta")
        await chat.next("ack", id="n2")
        assert (await chat.next("news"))["on"] is False
        await chat.ws.close()
        again = await _open(http, served, token=session["token"])
        assert (await again.next("session"))["news"] is False
        await again.ws.close()


def _sid(session_frame: dict[str, Any]) -> str:
    """The session id inside a widget token (``<session id>.<signature>``)."""
    return str(session_frame["token"]).split(".", 1)[0]


async def test_the_browser_time_zone_is_kept_for_the_customer(served: Served) -> None:
    """The widget sends the browser's zone (``?tz=``): opening hours are stated on the
    customer's clock. A name that is no IANA zone is ignored; a zone the customer set with /tz
    is never overwritten by the browser's."""
    async with aiohttp.ClientSession() as http:
        chat = await _open(http, served, tz="Europe/Riga")
        token = (await chat.next("session"))["token"]
        await chat.send(type="message", id="t1", text="hello")
        await chat.next("ack", id="t1")
        await eventually(lambda: _zone_of(served, "Europe/Riga"))
        await chat.ws.close()
        chat = await _open(http, served, tz="Mars/Olympus_Mons", token=token)
        await chat.next("session")
        await chat.send(type="message", id="t2", text="/tz Asia/Tokyo")
        await eventually(lambda: _processed(served, 2))
        assert await _zone_of(served, "Asia/Tokyo")
        await chat.ws.close()
        chat = await _open(http, served, tz="America/New_York", token=token)
        await chat.next("session")
        await chat.send(type="message", id="t3", text="hi again")
        await chat.next("ack", id="t3")
        await eventually(lambda: _processed(served, 3))
        assert await _zone_of(served, "Asia/Tokyo"), "the customer's own choice stays"
        await chat.ws.close()


async def _processed(served: Served, events: int) -> bool:
    async with served.core.sessions() as session:
        done = (await session.scalars(select(InboundEvent.id).where(
            InboundEvent.processed_at.is_not(None)))).all()
    return len(done) == events


async def _zone_of(served: Served, zone: str) -> bool:
    from storage.models import Customer

    async with served.core.sessions() as session:
        found = (await session.scalars(select(Customer.timezone))).all()
    return list(found) == [zone]


async def test_a_hostile_time_zone_is_ignored_and_the_chat_works(served: Served) -> None:
    """``?tz=`` is a free string from the browser: a path, NUL, 2,000 characters and a lone
    surrogate's escape are ignored (no zone kept), and the conversation goes on; a URL past
    the server's request-line limit is refused with 400 before anything is stored."""
    hostile = ["../../etc/passwd", "Europe/Riga\x00", "A" * 2_000, "%ED%A0%80", "Europe/../UTC"]
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await _open(http, served, tz="A" * 10_000)
        assert refused.value.status == 400
        for number, zone in enumerate(hostile):
            chat = await _open(http, served, tz=zone)
            await chat.next("session")
            await chat.send(type="message", id=f"h{number}", text="hello")
            await chat.next("ack", id=f"h{number}")
            await chat.ws.close()
        await eventually(lambda: _processed(served, len(hostile)))
        async with served.core.sessions() as session:
            from storage.models import Customer

            zones = set((await session.scalars(select(Customer.timezone))).all())
    assert zones == {None}, zones
