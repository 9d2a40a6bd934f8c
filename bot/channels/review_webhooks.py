"""Public replies to reviews and forum posts, delivered to the site through a webhook.

A review reaches crmbot through the intake API (bot/channels/intake.py) with a ``source``
("trustpilot", "forum", ...). When staff answer it (the Approve button on the suggested reply,
or ``!reply`` in its thread) the reply is an ordinary outbox item on the ``intake`` channel;
this adapter POSTs it to the source's webhook from CRMBOT_REVIEW_WEBHOOKS, which publishes it
where the review was written (the operator's small connector to the site's API)::

    CRMBOT_REVIEW_WEBHOOKS={"trustpilot": {"url": "https://connector.example/reply",
                                           "secret": "at-least-16-characters"}}

The request is JSON ``{"source", "external_id", "reply", "sent_at"}`` signed like Slack's:
``X-Crmbot-Timestamp: <unix seconds>`` and ``X-Crmbot-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<body>" with the secret>``; the receiver checks both (docs/desk.md has an example).
2xx is delivered; 5xx, 429 and network errors are retried by the outbox with backoff; any other
answer, or a source without a webhook, fails for good (and the ticket's thread is told).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import aiohttp

from bot.messages import OutboundMessage
from bot.ports import RateLimit, SendResult
from storage.models import utcnow

TIMEOUT = aiohttp.ClientTimeout(total=15)


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str


def parse(raw: str) -> dict[str, Webhook]:
    """CRMBOT_REVIEW_WEBHOOKS; ValueError says what is wrong."""
    if not raw.strip():
        return {}
    example = '{"trustpilot": {"url": "https://…", "secret": "16+ characters"}}'
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"CRMBOT_REVIEW_WEBHOOKS is not JSON ({exc}); e.g. {example}") from None
    if not isinstance(data, dict):
        raise ValueError(f"CRMBOT_REVIEW_WEBHOOKS must map sources to webhooks; e.g. {example}")
    hooks: dict[str, Webhook] = {}
    for source, value in data.items():
        given = value if isinstance(value, dict) else {}
        url, secret = given.get("url"), given.get("secret")
        if not (isinstance(url, str) and url.startswith(("https://", "http://"))
                and isinstance(secret, str) and len(secret) >= 16):
            raise ValueError(f"CRMBOT_REVIEW_WEBHOOKS.{source}: needs an http(s) url and a "
                             f"secret of at least 16 characters; e.g. {example}")
        hooks[str(source)] = Webhook(url, secret)
    return hooks


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class IntakeChannel:
    """The ``intake`` adapter: a reply goes to its source's webhook, or fails for good."""

    name = "intake"

    def __init__(self, hooks: dict[str, Webhook] | None = None) -> None:
        self.hooks = hooks or {}
        self.session: aiohttp.ClientSession | None = None

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return ()

    def is_group(self, chat_id: str) -> bool:
        return False

    async def send(self, message: OutboundMessage) -> SendResult:
        source, _, external_id = message.chat_id.partition(":")
        hook = self.hooks.get(source)
        if hook is None or self.session is None:
            return SendResult.failed(
                f"no CRMBOT_REVIEW_WEBHOOKS entry for source {source!r}: answer on the site "
                "where the item was published")
        body = json.dumps({"source": source, "external_id": external_id,
                           "reply": message.text, "sent_at": utcnow().isoformat()},
                          ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Crmbot-Timestamp": stamp,
                   "X-Crmbot-Signature": sign(hook.secret, stamp, body)}
        try:
            async with self.session.post(hook.url, data=body, headers=headers,
                                         timeout=TIMEOUT) as response:
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult.retry(f"review webhook {source}: {type(exc).__name__}: {exc}")
        if 200 <= status < 300:
            return SendResult.sent(None)
        if status >= 500 or status == 429:
            return SendResult.retry(f"review webhook {source}: HTTP {status}")
        return SendResult.failed(f"review webhook {source} refused the reply: HTTP {status}")
