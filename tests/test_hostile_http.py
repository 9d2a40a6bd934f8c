"""Hostile input over real HTTP: whatever arrives at the webhooks and the intake API gets a
clear 4xx or is stored — never a 5xx, never a crashed worker, never a lost accepted event.

One crmbot (SQLite, Telegram in webhook mode, Slack desk, intake) runs in a background thread
against the fake Telegram and Slack APIs; hypothesis throws generated bodies at it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import build_app
from bot.keys import CORE
from storage.models import InboundEvent
from tests.conftest import _truncate_all, make_settings
from tests.fakes.slack import FakeSlack, SlackSigner
from tests.fakes.telegram import FakeTelegram

SECRET = "tg-secret"
INTAKE = "intake-token-0123456789"
SLACK_SECRET = "slack-signing-secret"
ADMIN = "admin-token-0123456789abcdef"
DEEP = b"[" * 100_000 + b"]" * 100_000

# st.text() never draws lone surrogates (category Cs) and rarely control characters: ask
# for them, and for integers past 64 bits; json.dumps writes surrogates as \ud800 escapes.
hostile_chars = st.characters() | st.characters(categories=["Cs", "Cc"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False) | st.text(hostile_chars, max_size=50),
    lambda kids: (st.lists(kids, max_size=4)
                  | st.dictionaries(st.text(hostile_chars, max_size=12), kids, max_size=5)),
    max_leaves=25,
)
update_like = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=1, max_value=2**40)},
    optional={"message": st.dictionaries(
        st.sampled_from(["message_id", "date", "chat", "from", "text", "entities", "photo",
                         "sticker", "reply_to_message", "caption"]), json_values, max_size=6),
        "callback_query": st.dictionaries(
            st.sampled_from(["id", "from", "message", "data", "chat_instance"]), json_values),
        "edited_message": json_values},
)
widget_frame = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "button", "feedback", "ping", "bogus"]) | json_values},
    optional={"id": st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True) | json_values,
              "text": st.text(hostile_chars, max_size=300) | json_values,
              "data": st.text(max_size=80) | json_values, "label": json_values,
              "email": st.emails() | st.text(max_size=30),
              "rating": st.integers(min_value=-2, max_value=7) | json_values},
)
plausible_message = st.fixed_dictionaries(
    {"type": st.just("message"), "id": st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
     "text": st.text(hostile_chars, min_size=1, max_size=500)})
widget_input = st.one_of(plausible_message.map(json.dumps), widget_frame.map(json.dumps),
                         json_values.map(json.dumps),
                         st.text(max_size=200), st.binary(max_size=100))
intake_like = st.dictionaries(
    st.sampled_from(["source", "author", "url", "rating", "text", "language", "external_id",
                     "extra"]), json_values, max_size=8)


@dataclass
class Server:
    url: str
    loop: asyncio.AbstractEventLoop
    app: web.Application

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server per backend: PostgreSQL refuses what SQLite stores (NUL, for one)."""
    if request.param == "postgresql":
        db_url: str = request.getfixturevalue("pg_migrated")
        asyncio.run(_truncate_all(db_url))
    else:
        db_url = f"sqlite+aiosqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'fuzz.db'}"
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    box: dict[str, Any] = {}

    async def start() -> None:
        tg, slack = FakeTelegram(), FakeSlack()
        await tg.start()
        await slack.start()
        st_ = make_settings(
            db_url, telegram_token=tg.token, telegram_api_url=tg.url,
            telegram_mode="webhook", telegram_webhook_secret=SECRET,
            slack_bot_token=slack.token, slack_signing_secret=SLACK_SECRET,
            slack_api_url=slack.base_url, slack_support_channel="C0SUPPORT",
            intake_token=INTAKE, intake_rate_limit="100000/minute", widget_secret="w" * 32,
            admin_token=ADMIN,
            widget_rate_limit="100000/minute", widget_ip_rate_limit="100000/minute",
        )
        app = build_app(st_)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        box.update(runner=runner, app=app, tg=tg, slack=slack,
                   url=f"http://127.0.0.1:{runner.addresses[0][1]}")

    asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    srv = Server(box["url"], loop, box["app"])
    _wait_ready(srv)
    yield srv

    async def stop() -> None:
        await box["runner"].cleanup()
        await box["tg"].close()
        await box["slack"].close()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _wait_ready(srv: Server) -> None:
    for _ in range(200):
        r = httpx.post(f"{srv.url}/telegram/webhook", content=b"{}",
                       headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        if r.status_code != 503:
            return
        threading.Event().wait(0.05)
    raise AssertionError("telegram webhook never became ready")


def _stored(srv: Server, channel: str) -> int:
    async def count() -> int:
        async with srv.app[CORE].sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(InboundEvent)
                                      .where(InboundEvent.channel == channel)) or 0)
    return int(srv.run(count()))


FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(body=st.one_of(update_like, json_values, st.binary(max_size=200)))
def test_telegram_webhook_never_500(server: Server, body: Any) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    before = _stored(server, "telegram")
    r = httpx.post(f"{server.url}/telegram/webhook", content=raw,
                   headers={"X-Telegram-Bot-Api-Secret-Token": SECRET,
                            "Content-Type": "application/json"})
    assert r.status_code in (200, 400), (r.status_code, r.text)
    if r.status_code == 400:
        assert _stored(server, "telegram") == before, "a refused update stores nothing"


@FUZZ
@given(body=st.one_of(intake_like, json_values, st.binary(max_size=200)))
def test_intake_never_500(server: Server, body: Any) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    before = _stored(server, "intake")
    r = httpx.post(f"{server.url}/api/v1/feedback", content=raw,
                   headers={"Authorization": f"Bearer {INTAKE}",
                            "Content-Type": "application/json"})
    assert r.status_code in (200, 202, 400, 413, 422), (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    after = _stored(server, "intake")
    assert after == before + (1 if r.status_code == 202 else 0)


@FUZZ
@given(event=json_values)
def test_signed_slack_events_never_500(server: Server, event: Any) -> None:
    body = json.dumps({"type": "event_callback", "team_id": "T0TEAM", "event_id":
                       f"Ev{abs(hash(json.dumps(event))) % 10**12}", "event": event})
    signer = SlackSigner(SLACK_SECRET)
    r = httpx.post(f"{server.url}/slack/events", content=body,
                   headers=signer.headers(body, "application/json"))
    assert r.status_code < 500, (r.status_code, r.text)


@FUZZ
@given(actions=json_values, user=json_values, container=json_values)
def test_signed_slack_button_payloads_never_500(
    server: Server, actions: Any, user: Any, container: Any
) -> None:
    from urllib.parse import urlencode

    payload = {"type": "block_actions", "team": {"id": "T0TEAM"}, "actions": actions,
               "user": user, "container": container, "trigger_id": "1.2.3"}
    body = urlencode({"payload": json.dumps(payload)})
    r = httpx.post(f"{server.url}/slack/events", content=body,
                   headers=SlackSigner(SLACK_SECRET).headers(
                       body, "application/x-www-form-urlencoded"))
    assert r.status_code < 500, (r.status_code, r.text)


@FUZZ
@given(raw=widget_input)
def test_widget_frames_never_break_the_socket(server: Server, raw: str | bytes) -> None:
    """Any frame gets an ack (then it is stored) or an error frame (then nothing is), and the
    same socket still answers a ping afterwards."""
    frames, session = server.run(_widget_exchange(server.url, raw))
    kinds = [f.get("type") for f in frames]
    event("acked" if "ack" in kinds else ("refused" if "error" in kinds else "ignored"))
    assert kinds[-1] == "pong", frames
    assert all(k in ("ack", "error", "message", "typing", "pong") for k in kinds), frames
    acks = [f["id"] for f in frames if f.get("type") == "ack"]
    errors = [f for f in frames if f.get("type") == "error"]
    assert all(e["code"] != "server_error" and e["message"] for e in errors), errors
    stored = server.run(_web_events(server, session))
    assert stored == {f"{session}:{cid}" for cid in acks}, (frames, stored)


async def _widget_exchange(
    url: str, raw: str | bytes, then: str | None = None
) -> tuple[list[dict[str, Any]], str]:
    """Send ``raw``, optionally a normal message after it, then a ping; collect the frames up
    to the pong (and, after a normal message, up to the bot's answer)."""
    import aiohttp

    from bot.channels.web.tokens import TokenSigner

    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/chat/ws") as ws:
        hello = await ws.receive_json(timeout=10)
        session = TokenSigner("w" * 32).verify(hello["token"])
        assert session is not None
        await (ws.send_bytes(raw) if isinstance(raw, bytes) else ws.send_str(raw))
        if then is not None:
            await ws.send_json({"type": "message", "id": "then-1", "text": then})
        await ws.send_json({"type": "ping"})
        frames: list[dict[str, Any]] = []
        while not _exchange_done(frames, then is not None):
            frame = await ws.receive_json(timeout=20)
            if frame.get("type") not in ("synced", "history"):
                frames.append(frame)
    return frames, session


def _exchange_done(frames: list[dict[str, Any]], want_answer: bool) -> bool:
    kinds = [f.get("type") for f in frames]
    if "pong" not in kinds:
        return False
    return not want_answer or kinds[-1] == "message"


async def _web_events(srv: Server, session: str) -> set[str]:
    async with srv.app[CORE].sessions() as s:
        rows = await s.scalars(select(InboundEvent.event_id).where(
            InboundEvent.channel == "web", InboundEvent.event_id.startswith(f"{session}:")))
        return set(rows.all())


def test_workers_survived_the_fuzzing(server: Server) -> None:
    """After all of it: still healthy, and no stored event crashed a handler for good."""
    assert httpx.get(f"{server.url}/healthz").status_code == 200

    async def failed() -> int:
        core = server.app[CORE]
        await core.processor.process_pending()
        async with core.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(InboundEvent)
                                      .where(InboundEvent.error.is_not(None))) or 0)
    assert server.run(failed()) == 0


def _assert_api_error(r: httpx.Response, status: int) -> None:
    """The one error shape of every JSON route: {"error": {"code", "message"}}."""
    assert r.status_code == status, (r.status_code, r.text)
    error = r.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), r.text


def test_json_nested_past_the_recursion_limit_is_a_400_everywhere(server: Server) -> None:
    signed = SlackSigner(SLACK_SECRET).headers(DEEP.decode(), "application/json")
    before = {ch: _stored(server, ch) for ch in ("telegram", "intake", "slack")}
    r = httpx.post(f"{server.url}/telegram/webhook", content=DEEP,
                   headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert r.status_code == 400, r.text
    for url, headers in (
        ("/api/v1/feedback", {"Authorization": f"Bearer {INTAKE}",
                              "Content-Type": "application/json"}),
        ("/api/v1/kb/entries", {"Authorization": f"Bearer {ADMIN}",
                                "Content-Type": "application/json"}),
        ("/slack/events", signed),
        ("/api/v1/tickets/1/actions", {"Authorization": f"Bearer {ADMIN}",
                                       "Content-Type": "application/json"}),
    ):
        _assert_api_error(httpx.post(f"{server.url}{url}", content=DEEP, headers=headers), 400)
    _assert_api_error(httpx.put(f"{server.url}/api/v1/saved-replies/late/en", content=DEEP,
                                headers={"Authorization": f"Bearer {ADMIN}",
                                         "Content-Type": "application/json"}), 400)
    assert {ch: _stored(server, ch) for ch in before} == before


def test_lone_surrogates_in_intake_fields_are_stored_cleaned(server: Server) -> None:
    body = json.dumps({"source": "trustpilot", "external_id": "r-\ud800-1",
                       "author": "A\udfffnna", "text": "Paket \ud83d kom aldrig \x00", "rating": 1})
    r = httpx.post(f"{server.url}/api/v1/feedback", content=body,
                   headers={"Authorization": f"Bearer {INTAKE}",
                            "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    assert r.json()["id"] == "trustpilot:r-\ufffd-1"


@pytest.mark.parametrize("path", ["/api/v1/tickets/{n}", "/api/v1/customers/{n}",
                                  "/api/v1/tickets/{n}/actions"])
@pytest.mark.parametrize("n", [2**63, 10**30, -1, 0])
def test_ids_out_of_the_database_range_are_a_400(server: Server, path: str, n: int) -> None:
    method = "POST" if path.endswith("/actions") else "GET"
    r = httpx.request(method, f"{server.url}{path.format(n=n)}", json={"action": "claim"},
                      headers={"Authorization": f"Bearer {ADMIN}"})
    _assert_api_error(r, 400)


def test_an_id_in_range_that_does_not_exist_is_a_404(server: Server) -> None:
    r = httpx.get(f"{server.url}/api/v1/tickets/{2**63 - 1}",
                  headers={"Authorization": f"Bearer {ADMIN}"})
    _assert_api_error(r, 404)


@pytest.mark.parametrize("stamp, signature", [
    ("abc", "v0=" + "0" * 64), ("", "v0=" + "0" * 64), ("1" * 40, "v0=" + "0" * 64),
    ("1700000000", "v1=xyz"), ("1700000000", ""), ("１２３", "v0=" + "0" * 64),
])
def test_malformed_slack_signature_headers_are_a_401(
    server: Server, stamp: str, signature: str
) -> None:
    r = httpx.post(f"{server.url}/slack/events", content=b"{}", headers=[
        (b"Content-Type", b"application/json"),
        (b"X-Slack-Request-Timestamp", stamp.encode()),
        (b"X-Slack-Signature", signature.encode())])
    _assert_api_error(r, 401)


@pytest.mark.parametrize("header", ["X-Telegram-Bot-Api-Secret-Token", "Authorization"])
def test_non_utf8_credentials_are_refused_not_crashed(server: Server, header: str) -> None:
    url = "/telegram/webhook" if header.startswith("X-") else "/api/v1/feedback"
    r = httpx.post(f"{server.url}{url}", content=b"{}",
                   headers=[(header.encode(), b"Bearer \xff\xfe\x80")])
    assert r.status_code == 401, r.text


def test_slash_command_with_a_huge_ticket_number_answers_usage(server: Server) -> None:
    from urllib.parse import urlencode

    body = urlencode({"command": "/crmbot", "text": f"ticket {10**30}", "user_id": "U0AGENT1",
                      "channel_id": "C0SUPPORT", "team_id": "T0TEAM", "trigger_id": "1.2"})
    r = httpx.post(f"{server.url}/slack/events", content=body,
                   headers=SlackSigner(SLACK_SECRET).headers(
                       body, "application/x-www-form-urlencoded"))
    assert r.status_code == 200, r.text
    assert "/crmbot" in r.text  # the usage text, to the caller only


def test_too_large_bodies_are_a_413_in_the_api_shape(server: Server) -> None:
    big = b'{"text": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    for url, headers in (
        ("/api/v1/feedback", {"Authorization": f"Bearer {INTAKE}"}),
        ("/api/v1/kb/entries", {"Authorization": f"Bearer {ADMIN}"}),
    ):
        r = httpx.post(f"{server.url}{url}", content=big,
                       headers={**headers, "Content-Type": "application/json"})
        _assert_api_error(r, 413)


def test_widget_since_beyond_64_bits_is_refused_before_the_upgrade(server: Server) -> None:
    r = httpx.get(f"{server.url}/chat/ws?since={10**30}",
                  headers={"Connection": "Upgrade", "Upgrade": "websocket",
                           "Sec-WebSocket-Version": "13",
                           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("raw", [
    DEEP.decode(),
    json.dumps({"type": "message", "id": "m-surrogate", "text": "hi \ud800 there"}),
    json.dumps({"type": "feedback", "id": "f-surrogate", "text": "\udc00", "rating": 5,
                "email": "a\ud800@example.com"}),
])
def test_hostile_widget_frames_keep_the_socket_and_the_conversation(
    server: Server, raw: str
) -> None:
    frames, _ = server.run(_widget_exchange(server.url, raw, then="Where is my order?"))
    kinds = [f.get("type") for f in frames]
    assert "pong" in kinds and ("ack" in kinds or "error" in kinds), frames
    assert all(f.get("code") != "server_error" for f in frames), frames
    assert any(f.get("type") == "message" and "order" in str(f.get("text", "")).lower()
               for f in frames), frames


def test_hostile_text_in_desk_actions_and_saved_replies_is_stored_cleaned(server: Server) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    r = httpx.put(f"{server.url}/api/v1/saved-replies/late/en", headers=auth,
                  content=json.dumps({"text": "Sorry \ud800 {name}\x00"}),
                  )
    assert r.status_code == 415  # not JSON by content type: refused, nothing stored
    r = httpx.put(f"{server.url}/api/v1/saved-replies/late/en",
                  headers={**auth, "Content-Type": "application/json"},
                  content=json.dumps({"text": "Sorry \ud800 {name}\x00"}))
    assert r.status_code == 200 and r.json()["text"] == "Sorry \ufffd {name}\ufffd"
    r = httpx.post(f"{server.url}/api/v1/tickets/1/actions",
                   headers={**auth, "Idempotency-Key": "bad\tkey"},
                   json={"action": "note", "text": "x"})
    _assert_api_error(r, 400)
