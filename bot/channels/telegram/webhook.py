"""``POST /telegram/webhook``: authenticate, store, and only then answer 200.

Telegram sends ``X-Telegram-Bot-Api-Secret-Token`` with every delivery when the webhook was
registered with a ``secret_token``; it is compared in constant time and anything else gets 401
with nothing stored. The 200 goes out only after the update is committed: on a 5xx Telegram
delivers again, and the inbox drops the repeat by ``update_id``.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.channels.telegram.ingest import UpdateSink
from storage.clean import BadInput, loads, same_secret

log = logging.getLogger("crmbot.telegram")

PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookEndpoint:
    """The aiohttp handler; ``sink`` is set once the bot has started (503 until then)."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self.sink: UpdateSink | None = None

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not same_secret(given, self._secret):
            log.warning("telegram webhook: wrong or missing secret token from %s",
                        request.remote)
            return _error(401, "wrong or missing secret token")
        if self.sink is None:
            return _error(503, "starting")
        update = await _parse(request)
        if update is None:
            return _error(400, "body must be a Telegram Update (JSON object with update_id)")
        try:
            await self.sink.store(update)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("telegram webhook: malformed update %s: %s", update.get("update_id"), exc)
            return _error(400, f"malformed update: {exc}")
        except Exception:
            log.exception("telegram webhook: could not store update %s", update.get("update_id"))
            return _error(500, "not stored; deliver again")
        return web.json_response({"ok": True})


async def _parse(request: web.Request) -> dict[str, Any] | None:
    try:
        data = loads(await request.read())
    except BadInput as exc:
        log.warning("telegram webhook: body refused: %s", exc)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        log.warning("telegram webhook: JSON without an integer update_id")
        return None
    return data


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=status)
