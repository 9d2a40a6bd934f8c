"""Delivering outbox items to Messenger and Instagram Direct (Send API, ``/me/messages``).

Both allow free-form messages within 24 hours of the customer's last message (the standard
messaging window). After that, a staff reply may go with the ``HUMAN_AGENT`` tag for up to 7
days when the page has that permission (CRMBOT_MESSENGER_HUMAN_AGENT=true); anything else, and
every announcement outside the window, fails with a reason that says so instead of being
refused by Meta after a round trip. crmbot's buttons become quick replies (at most 13, titles of
at most 20 characters); link buttons and choices that do not fit are written into the text.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.channels.meta.graph import GraphClient
from bot.channels.meta.window import WINDOW, LastSeen, purpose
from bot.messages import OutboundMessage
from bot.ports import RateLimit, SendResult
from storage.models import utcnow

HUMAN_AGENT_WINDOW = timedelta(days=7)
MAX_TEXT = 2000
MAX_QUICK_REPLIES, MAX_TITLE, MAX_PAYLOAD = 13, 20, 1000


def message_body(message: OutboundMessage) -> dict[str, Any]:
    buttons = [b for row in message.buttons for b in row]
    quick = [b for b in buttons if b.data and len(b.data) <= MAX_PAYLOAD]
    fits = len(quick) == len(buttons) and len(quick) <= MAX_QUICK_REPLIES
    text = message.text or "…"
    if buttons and not fits:
        text = "\n".join([text, *(f"• {b.label}" + (f": {b.url}" if b.url else "")
                                 for b in buttons)])
    body: dict[str, Any] = {"text": text[:MAX_TEXT]}
    if buttons and fits:
        body["quick_replies"] = [{"content_type": "text", "title": b.label[:MAX_TITLE],
                                  "payload": b.data} for b in quick]
    return body


class MetaMessagingChannel:
    """One adapter per channel name (``messenger``, ``instagram``), sharing one Graph client."""

    def __init__(self, name: str, client: GraphClient, last_seen: LastSeen,
                 human_agent: bool = False) -> None:
        self.name = name
        self._client = client
        self._last_seen = last_seen
        self._human_agent = human_agent

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return (RateLimit("global", 250, 1),)

    def is_group(self, chat_id: str) -> bool:
        return False

    async def send(self, message: OutboundMessage) -> SendResult:
        envelope = await self._envelope(message)
        if isinstance(envelope, SendResult):
            return envelope
        data, failed = await self._client.post("me/messages", {
            "recipient": {"id": message.chat_id}, **envelope,
            "message": message_body(message),
        })
        if failed is not None:
            return failed
        return SendResult.sent(str((data or {}).get("message_id") or "") or None)

    async def _envelope(self, message: OutboundMessage) -> dict[str, str] | SendResult:
        seen = await self._last_seen(message.chat_id)
        age = utcnow() - seen if seen is not None else None
        if age is not None and age < WINDOW:
            return {"messaging_type": "RESPONSE"}
        reply = purpose(message) == "reply"
        if reply and self._human_agent and age is not None and age < HUMAN_AGENT_WINDOW:
            return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        return SendResult.failed(
            f"{self.name}: the customer's 24-hour window is closed"
            + ("" if self._human_agent or not reply else
               " (staff replies for 7 days need CRMBOT_MESSENGER_HUMAN_AGENT=true and the "
               "page's human_agent permission)"))
