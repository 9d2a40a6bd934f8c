"""A minimal, fast fake Telegram Bot API (and WhatsApp Cloud API send endpoint) for the load
benchmark (not the test fakes).

It answers what a webhook bot needs (getMe, setWebhook, deleteWebhook, sendMessage,
answerCallbackQuery) in Telegram's envelope, and ``POST /v21.0/{phone}/messages`` like the
Graph API, and tells the load generator when a reply to a chat arrives.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from typing import Any

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}


class FakeBotApi:
    def __init__(self) -> None:
        self.webhook: dict[str, Any] | None = None
        self.webhook_set = asyncio.Event()
        self.sent = 0
        self.waiters: dict[int, deque[asyncio.Future[float]]] = defaultdict(deque)
        self._message_id = 0

    def expect_reply(self, chat_id: int) -> asyncio.Future[float]:
        """A future resolved with the arrival time of the next reply to ``chat_id``."""
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[chat_id].append(fut)
        return fut

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        if method == "getMe":
            return _ok(BOT_USER)
        if method == "setWebhook":
            self.webhook = params
            self.webhook_set.set()
            return _ok(True)
        if method in ("deleteWebhook", "answerCallbackQuery", "setMyCommands"):
            return _ok(True)
        if method == "sendMessage":
            return _ok(self._send(params))
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    def _arrived(self, chat_id: int) -> None:
        now = time.perf_counter()
        self.sent += 1
        self._message_id += 1
        queue = self.waiters.get(chat_id)
        while queue:
            fut = queue.popleft()
            if not fut.done():
                fut.set_result(now)
                break

    async def graph(self, request: web.Request) -> web.Response:
        body = await request.json()
        to = str(body.get("to", ""))
        self._arrived(int(to))
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": to, "wa_id": to}],
                                  "messages": [{"id": f"wamid.bench{self._message_id}"}]})

    def _send(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        self._arrived(chat_id)
        return {
            "message_id": self._message_id, "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER,
            "text": str(params.get("text", "")),
        }

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self.handle)
        app.router.add_post("/v21.0/{phone}/messages", self.graph)
        return app


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        data = await request.json()
        return dict(data) if isinstance(data, dict) else {}
    form = await request.post()
    out: dict[str, Any] = {}
    for key, value in form.items():
        try:
            out[key] = json.loads(str(value))
        except ValueError:
            out[key] = str(value)
    return out


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})
