"""GET /chat/ws: the widget's WebSocket. Edge checks, then customer frames in, log rows out.

Before the upgrade: a foreign Origin is refused (403) and a per-IP connection budget applies
(429 with Retry-After). Then a token that is not ours gets a ``bad_token`` error frame and close
code 4401 (browsers cannot see handshake statuses); no token means a new visitor, who gets one
in the first frame. After that:

* browser -> server: ``message`` {id, text}, ``button`` {id, data, label}, ``feedback``
  {id, rating, text, email}, ``ping``. ``id`` is the browser's message id; it becomes the inbox
  event id (``<session>:<id>``), so a resend after a network drop is stored once. The server
  answers ``ack`` {id, duplicate} only after ``core.ingest`` returned, or ``error``
  {id, code, message[, retry_after]} when it refused the frame (nothing was stored).
* server -> browser: ``session`` {token, max_chars, news}, ``message`` rows of the widget log
  in id order (history first, from the ``since`` cursor the browser sent), ``synced`` after the
  history, ``typing`` while the bot is working on an answer, ``news`` {on} when the customer's
  consent to announcements changed (the widget's toggle, a typed /stop, another tab), ``pong``.
  The toggle itself sends ``button`` frames ``bc:subscribe`` / ``bc:stop``, so a change of
  consent goes through the inbox like any message: stored once, confirmed in the chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from sqlalchemy import select

from bot.channels.web import store
from bot.channels.web.abuse import client_ip, too_many
from bot.hours import valid_zone
from bot.i18n import normalise_locale
from bot.messages import InboundMessage
from storage.clean import BadInput, db_id, loads
from storage.consent import consent_of_identity
from storage.models import Conversation

if TYPE_CHECKING:
    from bot.channels.web import WebState

MAX_ZONE = 64  # IANA names are at most ~32 characters; longer is not a zone
log = logging.getLogger("crmbot.web")

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
POLL_SECONDS = 3.0
MAX_FRAME = 256 * 1024
MAX_CALLBACK = 200
MAX_EMAIL = 320
BAD_TOKEN_CLOSE = 4401


class FrameError(Exception):
    """A frame the server refuses; ``code`` is machine-readable, the message is localised."""

    def __init__(self, code: str, key: str, retry_after: int | None = None,
                 **values: Any) -> None:
        super().__init__(code)
        self.code, self.key, self.retry_after, self.values = code, key, retry_after, values


@dataclass
class Connection:
    """One open socket: its chat, its cursor into the widget log, and a send lock."""

    ws: web.WebSocketResponse
    session_id: str
    locale: str | None
    ip: str
    cursor: int
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: bool = False
    news: bool = False  # the consent the browser was last told about
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    timezone: str | None = None  # the browser's IANA zone (``?tz=``), when valid

    @property
    def chat_id(self) -> str:
        return f"w:{self.session_id}"

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.lock:
            await self.ws.send_json(frame)


def origin_allowed(request: web.Request, allowed: tuple[str, ...]) -> bool:
    """Browsers always send Origin on a WebSocket: it must be ours or an allowed site.
    Non-browser clients send none (and could forge any), so a missing Origin is let through."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    own = f"{request.scheme}://{request.host}".lower()
    return origin == own or origin in allowed


def _refuse(status: int, code: str, message: str) -> web.Response:
    """A refused connection, in the API's one error shape (before the WebSocket upgrade)."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def chat_ws(request: web.Request) -> web.StreamResponse:
    from bot.channels.web import WEB

    state = request.app[WEB]
    settings = state.core.settings
    if not origin_allowed(request, settings.widget_origins):
        log.info("widget connection refused: origin %r", request.headers.get("Origin"))
        return _refuse(403, "origin_not_allowed",
                       "this site may not embed the chat (see CRMBOT_WIDGET_ALLOWED_ORIGINS)")
    ip = client_ip(request)
    wait = await state.limiter.hit(settings.widget_ip_rate_limit, "ws-connect", ip)
    if wait:
        return too_many(wait, "connections from this address")
    raw_since = request.query.get("since", "0").strip() or "0"
    try:
        since = 0 if raw_since == "0" else db_id(raw_since, "since")
    except BadInput:
        return _refuse(400, "bad_request", "since must be a message id (an integer)")
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    token = request.query.get("token", "")
    if token:
        session_id = state.signer.verify(token)
        if session_id is None:
            await _close_bad_token(ws)
            return ws
    else:
        session_id, token = state.signer.issue()
    conn = Connection(ws, session_id, normalise_locale(request.query.get("lang")), ip, since,
                      timezone=valid_zone(request.query.get("tz", "")[:MAX_ZONE]))
    await _serve(state, conn, token)
    return ws


async def _close_bad_token(ws: web.WebSocketResponse) -> None:
    """A token we did not sign (or signed with a rotated secret). Refused after the upgrade,
    with close code 4401, because a browser cannot read the status of a refused handshake and
    must learn to drop the token and start a new session."""
    await ws.send_json({"type": "error", "id": None, "code": "bad_token",
                        "message": "the session token is not valid; start a new session"})
    await ws.close(code=BAD_TOKEN_CLOSE, message=b"bad token")


async def _serve(state: WebState, conn: Connection, token: str) -> None:
    conn.news = await consent_of_identity(state.core.sessions, "web", conn.chat_id)
    await conn.send({"type": "session", "token": token,
                     "max_chars": state.core.settings.max_message_chars, "news": conn.news})
    state.hub.add(conn.chat_id, conn.wake)
    pusher = asyncio.create_task(_push(state, conn))
    try:
        async for msg in conn.ws:
            if msg.type != WSMsgType.TEXT:
                await conn.send(_error_frame(state, conn, None,
                                             FrameError("bad_request", "widget_error_generic")))
                continue
            await _on_frame(state, conn, msg.data)
    except ConnectionResetError:
        log.debug("widget %s went away before its ack; it resends on reconnect", conn.chat_id)
    finally:
        state.hub.remove(conn.chat_id, conn.wake)
        await _stop(conn, pusher)


async def _stop(conn: Connection, pusher: asyncio.Task[None]) -> None:
    """Let the pusher finish its database read rather than cancelling it mid-query (a
    cancelled aiosqlite call can leave its pooled connection unreturned)."""
    conn.stopped = True
    conn.wake.set()
    try:
        await asyncio.wait_for(asyncio.shield(pusher), timeout=5.0)
    except TimeoutError:
        pusher.cancel()
    except asyncio.CancelledError:
        pusher.cancel()
        raise
    except Exception:
        log.exception("widget pusher for %s failed", conn.chat_id)


async def _push(state: WebState, conn: Connection) -> None:
    """Send log rows after the cursor: at once when poked, else every few seconds."""
    first = True
    try:
        while not conn.ws.closed and not conn.stopped:
            conn.wake.clear()
            async with state.core.sessions() as session:
                rows = await store.rows_since(session, conn.chat_id, conn.cursor)
            for row in rows:
                await conn.send(row.frame())
                conn.cursor = row.id
            if first:
                await conn.send({"type": "synced", "cursor": conn.cursor})
                first = False
            elif rows:  # consent changes come with the bot's confirmation row
                await _sync_news(state, conn)
            if len(rows) >= store.HISTORY_LIMIT:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.wake.wait(), timeout=POLL_SECONDS)
    except (ConnectionResetError, RuntimeError):
        return  # the socket went away while we were writing; the browser will resume by id


async def _sync_news(state: WebState, conn: Connection) -> None:
    """Tell the browser when the customer's consent to announcements changed."""
    news = await consent_of_identity(state.core.sessions, "web", conn.chat_id)
    if news != conn.news:
        conn.news = news
        await conn.send({"type": "news", "on": news})


async def _on_frame(state: WebState, conn: Connection, data: str) -> None:
    frame: Any = None
    try:
        frame = loads(data, max_bytes=MAX_FRAME)
        if not isinstance(frame, dict):
            raise FrameError("bad_request", "widget_error_generic")
        if frame.get("type") == "ping":
            await conn.send({"type": "pong"})
            return
        await _on_customer_frame(state, conn, frame)
    except FrameError as err:
        cid = frame.get("id") if isinstance(frame, dict) else None
        await conn.send(_error_frame(state, conn, cid if isinstance(cid, str) else None, err))
    except BadInput:  # not JSON, nested too deep, or too large: the socket stays open
        await conn.send(_error_frame(state, conn, None,
                                     FrameError("bad_request", "widget_error_generic")))


async def _on_customer_frame(state: WebState, conn: Connection, frame: dict[str, Any]) -> None:
    kind = frame.get("type")
    cid = frame.get("id")
    if kind not in ("message", "button", "feedback") or not isinstance(cid, str) \
            or not CLIENT_ID.match(cid):
        raise FrameError("bad_request", "widget_error_generic")
    await _check_rate(state, conn)
    inbound, shown = _inbound(state, conn, kind, cid, frame)
    if shown is not None:
        async with state.core.sessions.begin() as session:
            await store.add_customer_row(session, conn.chat_id, cid, shown)
        state.hub.poke(conn.chat_id)
    try:
        result = await state.core.ingest(inbound)
    except Exception:
        log.exception("widget message %s could not be stored", inbound.event_id)
        raise FrameError("server_error", "widget_error_generic") from None
    await conn.send({"type": "ack", "id": cid, "duplicate": result.duplicate})
    if not result.duplicate and await _bot_answers(state, result.conversation_id):
        await conn.send({"type": "typing"})


async def _check_rate(state: WebState, conn: Connection) -> None:
    settings = state.core.settings
    wait = await state.limiter.hit(settings.widget_rate_limit, "ws-session", conn.session_id)
    wait = wait or await state.limiter.hit(settings.widget_ip_rate_limit, "ws-ip", conn.ip)
    if wait:
        raise FrameError("rate_limited", "widget_error_rate", retry_after=wait, seconds=wait)


def _text(frame: dict[str, Any], name: str, limit: int, *, required: bool) -> str:
    value = frame.get(name, "")
    if value is None and not required:
        value = ""
    if not isinstance(value, str):
        raise FrameError("bad_request", "widget_error_generic")
    value = value.strip()
    if required and not value:
        raise FrameError("empty", "empty_message")
    if len(value) > limit:
        raise FrameError("too_long", "too_long", length=len(value), limit=limit)
    return value


def _inbound(state: WebState, conn: Connection, kind: str, cid: str,
             frame: dict[str, Any]) -> tuple[InboundMessage, str | None]:
    """The inbox message for a frame, and the text of the customer's bubble (None: no bubble)."""
    limit = state.core.settings.max_message_chars
    common: dict[str, Any] = {
        "channel": "web", "event_id": f"{conn.session_id}:{cid}", "user_id": conn.chat_id,
        "chat_id": conn.chat_id, "locale_hint": conn.locale, "timezone": conn.timezone,
    }
    if kind == "message":
        text = _text(frame, "text", limit, required=True)
        command = text.startswith("/")
        return InboundMessage(text=text, kind="command" if command else "text", **common), text
    if kind == "button":
        data = _text(frame, "data", MAX_CALLBACK, required=True)
        label = _text(frame, "label", MAX_CALLBACK, required=False) or data
        return InboundMessage(text=label, kind="callback", callback_data=data, **common), label
    rating = frame.get("rating")
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise FrameError("bad_request", "widget_error_rating")
    text = _text(frame, "text", limit, required=False)
    email = _text(frame, "email", MAX_EMAIL, required=False) or None
    if email is not None and "@" not in email:
        raise FrameError("bad_email", "widget_error_email")
    feedback = {"source": "widget", "external_id": f"{conn.session_id}:{cid}",
                "rating": rating, "text": text, "email": email}
    return InboundMessage(text=text, kind="callback", callback_data="feedback_form",
                          feedback=feedback, **common), None


async def _bot_answers(state: WebState, conversation_id: int) -> bool:
    """Show "typing…" only while the bot (not a person) owns the conversation."""
    async with state.core.sessions() as session:
        mode = await session.scalar(
            select(Conversation.mode).where(Conversation.id == conversation_id)
        )
    return mode == "bot"


def _error_frame(state: WebState, conn: Connection, cid: str | None,
                 err: FrameError) -> dict[str, Any]:
    locale = conn.locale or state.core.settings.default_locale
    frame: dict[str, Any] = {
        "type": "error", "id": cid, "code": err.code,
        "message": state.core.services.translator.t(err.key, locale, **err.values),
    }
    if err.retry_after is not None:
        frame["retry_after"] = err.retry_after
    return frame
