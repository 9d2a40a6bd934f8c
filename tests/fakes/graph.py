"""A fake Meta Graph API (aiohttp, 127.0.0.1 port 0) for WhatsApp and the Messenger Send API.

``POST /v21.0/{phone_number_id}/messages`` answers like the WhatsApp Cloud API
(``{"messaging_product", "contacts", "messages": [{"id": "wamid..."}]}``) and
``POST /v21.0/me/messages`` like the Send API (``{"recipient_id", "message_id"}``);
``Authorization: Bearer`` is checked (error 190 otherwise). Errors come in Graph's one shape
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``.

Test driver API: ``fail_next(code, status=400, message=...)`` queues one failure; ``calls``
logs ``(path, json body)``; ``bodies(path_end)`` the bodies sent to one endpoint.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

from aiohttp import web

VERSION = "v21.0"


class FakeGraph:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._failures: deque[tuple[int, int, str]] = deque()
        self._ids = itertools.count(1)
        self.base = ""
        self._runner: web.AppRunner | None = None

    def fail_next(self, code: int, status: int = 400, message: str = "failed") -> None:
        self._failures.append((code, status, message))

    def bodies(self, path_end: str) -> list[dict[str, Any]]:
        return [body for path, body in self.calls if path.endswith(path_end)]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post(f"/{VERSION}/{{node}}/messages", self._messages)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}/{VERSION}"
        return self.base

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _messages(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, 190, "Error validating access token")
        body = await request.json()
        self.calls.append((request.path, body))
        if self._failures:
            code, status, message = self._failures.popleft()
            return _error(status, code, message)
        n = next(self._ids)
        if request.match_info["node"] == "me":
            return web.json_response({"recipient_id": body["recipient"]["id"],
                                      "message_id": f"m_OUT{n}"})
        return web.json_response({
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": f"wamid.OUT{n}"}],
        })


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "OAuthException",
                                        "code": code, "fbtrace_id": "AbCdEf"}}, status=status)
