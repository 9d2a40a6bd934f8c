"""A fake Telegram Bot API server that speaks Telegram's wire format.

``POST /bot<TOKEN>/<method>`` with query, form, JSON or multipart parameters; answers
``{"ok": true, "result": ...}`` or the real error status with
``{"ok": false, "error_code", "description", "parameters": {"retry_after": N}}``. It keeps
enough state (updates with offset confirmation, a webhook that makes getUpdates 409, sent
messages per chat) for the real PTB client to behave as it would against Telegram.

Test driver API: ``push_message``/``push_callback``/``push_photo``/``push_edit`` queue updates,
``fail_next(method, status, description, **parameters)`` injects errors, ``calls`` logs every
request, ``sent(chat_id)`` lists what the bot sent, ``deliver_webhook(url, secret)`` POSTs an
update like Telegram does.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import time
from collections import Counter, defaultdict, deque
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.hang import client_gone

BOT_ID = 700001
BOT_USERNAME = "shop_support_bot"
MAX_TEXT = 4096
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                "tg-spoiler", "span", "blockquote", "tg-emoji"}


class ApiError(Exception):
    def __init__(self, status: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


class FakeTelegram:
    """State and handlers of one fake bot; ``await start()`` serves it on 127.0.0.1:0."""

    def __init__(self, token: str = "123456:TEST-token", *, global_rate: int = 0,
                 rate_grace: float = 0.02) -> None:
        self.token = token
        # Optional enforcement of the bot-wide send limit like Telegram's: more than
        # ``global_rate`` sendMessage calls within one second -> 429 retry_after 1. The window
        # is shortened by ``rate_grace`` seconds for the jitter between the bot taking a token
        # and the request arriving here. ``rate_limited`` counts the 429s provoked.
        self.global_rate = global_rate
        self.rate_grace = rate_grace
        self.rate_limited = 0
        self._accepted: deque[float] = deque()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.call_times: list[float] = []
        self.sent_times: list[float] = []  # wall clock when each bot message was accepted
        self.updates: list[dict[str, Any]] = []
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(1000)
        self.messages: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
        self.bot_messages: list[dict[str, Any]] = []
        self.blocked: set[int] = set()
        self.webhook: dict[str, Any] | None = None
        self.confirmed = 0
        self.send_delay = 0.0
        # Fault injection for every call of a method: ``chaos(method)`` returns None (serve it),
        # "5xx", "429" or "hang" (hold the call until the client gives up, at most
        # ``hang_seconds``: a call whose client gave up is dropped unserved, as if it never
        # reached Telegram; one still wanted then is served late). ``faults`` counts them.
        self.chaos: Any = None
        self.hang_seconds = 30.0
        self.faults: Counter[str] = Counter()
        self.closing = False
        self._failures: dict[str, deque[ApiError]] = defaultdict(deque)
        self._new_update = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---- server ---------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        self.closing = True
        self._new_update.set()  # end pending long polls now, not after their timeout
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- driver API -----------------------------------------------------------------------
    def fail_next(self, method: str, status: int, description: str, **parameters: Any) -> None:
        """The next call of ``method`` fails with this status (queue several for several)."""
        self._failures[method.lower()].append(ApiError(status, description, **parameters))

    def push_message(
        self, chat_id: int, text: str, *, user_id: int | None = None, chat_type: str = "private",
        reply_to_bot: bool = False, language_code: str = "en", first_name: str = "Ann",
    ) -> dict[str, Any]:
        msg = self._message(chat_id, user_id, chat_type, language_code, first_name)
        msg["text"] = text
        entities = _entities(text)
        if entities:
            msg["entities"] = entities
        if reply_to_bot:
            msg["reply_to_message"] = {
                "message_id": 1, "date": int(time.time()), "chat": msg["chat"],
                "from": self.me(), "text": "earlier answer",
            }
        return self._push({"message": msg})

    def push_edit(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        msg = self._message(chat_id, None, "private", "en", "Ann")
        msg.update(message_id=message_id, text=text, edit_date=int(time.time()))
        return self._push({"edited_message": msg})

    def push_photo(self, chat_id: int, caption: str | None = None, **kw: Any) -> dict[str, Any]:
        msg = self._message(chat_id, None, kw.get("chat_type", "private"), "en", "Ann")
        msg["photo"] = [
            {"file_id": "AgAD-small", "file_unique_id": "s1", "width": 90, "height": 90,
             "file_size": 1200},
            {"file_id": "AgAD-large", "file_unique_id": "l1", "width": 1280, "height": 960,
             "file_size": 98765},
        ]
        if caption:
            msg["caption"] = caption
        return self._push({"message": msg})

    def push_document(self, chat_id: int, name: str = "invoice.pdf") -> dict[str, Any]:
        msg = self._message(chat_id, None, "private", "en", "Ann")
        msg["document"] = {"file_id": "BQAD-doc", "file_unique_id": "d1", "file_name": name,
                           "mime_type": "application/pdf", "file_size": 4242}
        return self._push({"message": msg})

    def push_callback(
        self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None
    ) -> dict[str, Any]:
        original = self.messages[chat_id].get(message_id) or {
            "message_id": message_id, "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"}, "from": self.me(), "text": "?",
        }
        query = {
            "id": f"cbq{next(self.update_ids)}", "chat_instance": f"ci{chat_id}",
            "from": _user(user_id or chat_id, "en", "Ann"), "message": original, "data": data,
        }
        return self._push({"callback_query": query})

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        return [m for m in self.bot_messages if chat_id is None or m["chat"]["id"] == chat_id]

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [m["text"] for m in self.sent(chat_id)]

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    def me(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Shop", "username": BOT_USERNAME,
                "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def deliver_webhook(
        self, url: str, secret: str | None, update: dict[str, Any] | None = None
    ) -> int:
        """POST one update (default: the oldest pending) as Telegram does; drop it on 2xx."""
        update = update or self.updates[0]
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        async with aiohttp.ClientSession() as session, session.post(
            url, data=json.dumps(update), headers=headers
        ) as resp:
            status = resp.status
        if 200 <= status < 300 and update in self.updates:
            self.updates.remove(update)
        return status

    # ---- internals --------------------------------------------------------------------------
    def _message(self, chat_id: int, user_id: int | None, chat_type: str, lang: str,
                 first_name: str) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = f"Group {chat_id}"
        return {"message_id": next(self.message_ids), "date": int(time.time()), "chat": chat,
                "from": _user(user_id or abs(chat_id), lang, first_name)}

    def _push(self, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self.update_ids), **body}
        self.updates.append(update)
        self._new_update.set()
        return update

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: _loads(v) for k, v in request.query.items()}
        if request.content_type == "application/json":
            body = await request.read()
            if body:
                params.update({k: _loads(v) if isinstance(v, str) and v[:1] in "[{" else v
                               for k, v in json.loads(body).items()})
        elif request.body_exists:
            for key, value in (await request.post()).items():
                params[key] = ("<file>", value.filename) if isinstance(
                    value, web.FileField) else _loads(value)
        return params

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=b"fake file bytes")

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(ApiError(401, "Unauthorized"))
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        self.call_times.append(time.monotonic())
        try:
            if await self._inject(method, request):
                return web.Response(status=504)  # nobody is listening any more
            failures = self._failures.get(method.lower())
            if failures:
                raise failures.popleft()
            handler = getattr(self, "_m_" + method.lower(), None)
            if handler is None:
                raise ApiError(404, "Not Found")
            result = await handler(params)
        except ApiError as exc:
            return _error(exc)
        return web.json_response({"ok": True, "result": result})

    async def _inject(self, method: str, request: web.Request) -> bool:
        """Apply ``chaos``; True when a hung call's client is gone (the call is dropped)."""
        fault = self.chaos(method) if self.chaos else None
        if fault is None:
            return False
        self.faults[fault] += 1
        if fault == "5xx":
            raise ApiError(502, "Bad Gateway")
        if fault == "429":
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        gone = await client_gone(request, self.hang_seconds)
        self.faults["dropped" if gone else "late"] += 1
        return gone

    async def _m_getme(self, params: dict[str, Any]) -> Any:
        return self.me()

    async def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        if not params.get("url"):
            self.webhook = None
            return True
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token"),
                        "allowed_updates": params.get("allowed_updates")}
        return True

    async def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return True

    async def _m_getwebhookinfo(self, params: dict[str, Any]) -> Any:
        return {"url": (self.webhook or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            self.confirmed = max(self.confirmed, offset - 1)
        timeout = float(params.get("timeout") or 0)
        if not self.updates and timeout and not self.closing:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout)
        allowed = params.get("allowed_updates")
        batch = [u for u in self.updates if not allowed or any(k in u for k in allowed)]
        return batch[: int(params.get("limit") or 100)]

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        chat_id = int(params.get("chat_id", 0))
        if not chat_id:
            raise ApiError(400, "Bad Request: chat_id is empty")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        self._check_rate()
        text = _visible_text(str(params.get("text", "")), params.get("parse_mode"))
        _check_markup(params.get("reply_markup"))
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "group"}
        msg = {"message_id": next(self.message_ids), "date": int(time.time()), "chat": chat,
               "from": self.me(), "text": text}
        if params.get("reply_markup"):
            msg["reply_markup"] = params["reply_markup"]
        self.messages[chat_id][msg["message_id"]] = msg
        self.bot_messages.append(msg)
        self.sent_times.append(time.time())
        return msg

    def _check_rate(self) -> None:
        if not self.global_rate:
            return
        now = time.monotonic()
        while self._accepted and self._accepted[0] <= now - (1.0 - self.rate_grace):
            self._accepted.popleft()
        if len(self._accepted) >= self.global_rate:
            self.rate_limited += 1
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        self._accepted.append(now)

    async def _m_editmessagetext(self, params: dict[str, Any]) -> Any:
        chat_id, message_id = int(params.get("chat_id", 0)), int(params.get("message_id", 0))
        msg = self.messages[chat_id].get(message_id)
        if msg is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        text = _visible_text(str(params.get("text", "")), params.get("parse_mode"))
        if text == msg["text"] and params.get("reply_markup") == msg.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        msg.update(text=text, edit_date=int(time.time()))
        return msg

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> Any:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired")
        return True


def _user(user_id: int, lang: str, first_name: str) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": lang}


def _entities(text: str) -> list[dict[str, Any]]:
    found = []
    if text.startswith("/"):
        found.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
    for match in re.finditer(r"@\w+", text):
        if match.start() == 0 or not text.startswith("/"):
            found.append({"type": "mention", "offset": len(text[: match.start()]
                          .encode("utf-16-le")) // 2, "length": len(match.group())})
    return found


def _loads(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _visible_text(text: str, parse_mode: Any) -> str:
    """What the user would see; raises Telegram's errors for bad HTML or length."""
    if parse_mode == "HTML":
        for tag in re.findall(r"<\s*/?\s*([A-Za-z-]*)", text):
            if tag.lower() not in ALLOWED_TAGS:
                raise ApiError(400, "Bad Request: can't parse entities: unsupported start tag "
                                    f"\"{tag}\"")
        for amp in re.finditer(r"&([^;\s]*;?)", text):
            if not re.fullmatch(r"(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);", amp.group(1)):
                raise ApiError(400, "Bad Request: can't parse entities: unsupported entity")
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    if not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text.encode("utf-16-le")) // 2 > MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")
    return text


def _check_markup(markup: Any) -> None:
    if not markup:
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _error(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.status,
                            "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.status)

