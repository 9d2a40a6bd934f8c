"""Meta's webhook contract, for ``/whatsapp/webhook`` and ``/messenger/webhook``.

- ``GET`` is the subscription handshake: Meta sends ``hub.mode=subscribe``,
  ``hub.verify_token`` (what the operator typed in the app dashboard) and ``hub.challenge``,
  and wants the challenge echoed as plain text. A wrong token gets 403.
- ``POST`` deliveries carry ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the raw
  body with the app secret. A missing, malformed or wrong signature is refused (401) before the
  body is parsed. The 200 goes out only after every message of the delivery is committed to
  the inbox; on a 5xx Meta delivers again and the inbox drops the repeats by message id.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from storage.clean import BadInput, loads, same_secret

log = logging.getLogger("crmbot.meta")

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE = re.compile(r"sha256=([0-9a-f]{64})")

#: Stores one parsed delivery; raises when it could not be stored (Meta must deliver again).
Sink = Callable[[dict[str, Any]], Awaitable[None]]


MAX_ID = 200  # the inbox's event and chat id columns


def platform_id(value: Any, what: str) -> str:
    """A message, sender or status id as text; anything else is a malformed delivery."""
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise ValueError(f"{what} must be a non-empty string")
    text = str(value)
    if len(text) > MAX_ID:
        raise ValueError(f"{what} is longer than {MAX_ID} characters")
    return text


def signature_ok(body: bytes, header: str, app_secret: str) -> bool:
    """Constant-time check of ``sha256=<hex>`` against the body's HMAC with the app secret."""
    found = _SIGNATURE.fullmatch(header.strip().lower())
    if found is None:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(found.group(1), expected)


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta would send for ``body`` (used by tests and the docs' example)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


class MetaWebhook:
    """The aiohttp handlers of one Meta webhook; ``sink`` stores a verified delivery."""

    def __init__(self, name: str, verify_token: str, app_secret: str, objects: frozenset[str],
                 sink: Sink) -> None:
        self._name = name
        self._verify_token = verify_token
        self._app_secret = app_secret
        self._objects = objects
        self._sink = sink

    async def handshake(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("hub.mode") != "subscribe" or "hub.challenge" not in query:
            return _error(400, "expected hub.mode=subscribe with hub.challenge")
        if not same_secret(query.get("hub.verify_token", ""), self._verify_token):
            log.warning("%s webhook: handshake with a wrong verify token from %s",
                        self._name, request.remote)
            return _error(403, "wrong hub.verify_token")
        return web.Response(text=query["hub.challenge"], content_type="text/plain")

    async def deliver(self, request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not header or not signature_ok(body, header, self._app_secret):
            log.warning("%s webhook: missing or wrong %s from %s", self._name,
                        SIGNATURE_HEADER, request.remote)
            return _error(401, f"missing or wrong {SIGNATURE_HEADER}")
        try:
            payload = loads(body)
        except BadInput as exc:
            return _error(400, str(exc))
        kind = payload.get("object") if isinstance(payload, dict) else None
        if not isinstance(kind, str) or kind not in self._objects:
            return _error(400, f"expected a JSON object with object in {sorted(self._objects)}")
        try:
            await self._sink(payload)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("%s webhook: malformed delivery: %s", self._name, exc)
            return _error(400, f"malformed delivery: {exc}")
        except Exception:
            log.exception("%s webhook: delivery not stored; Meta will deliver again", self._name)
            return _error(500, "not stored; deliver again")
        return web.json_response({"ok": True})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": "webhook_refused", "message": message}},
                             status=status)
