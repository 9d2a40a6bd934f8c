"""Delivering outbox items through the WhatsApp Cloud API, within WhatsApp's rules.

WhatsApp allows free-form messages only within 24 hours of the customer's last message (the
customer-service window). Outside it, and for every announcement, only an approved template
may be sent: CRMBOT_WHATSAPP_TEMPLATES maps a purpose (reply, survey, announcement) and a
locale to a template name whose one body variable carries crmbot's text. With no template for
the case the item fails with a reason that says so (staff see it in the outbox and the
transcript), instead of being refused by WhatsApp (error 131047) after a round trip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.channels.meta.graph import GraphClient
from bot.channels.meta.window import WINDOW, LastSeen, purpose
from bot.channels.whatsapp import outbound
from bot.channels.whatsapp.inbound import CHANNEL
from bot.messages import OutboundMessage
from bot.ports import RateLimit, SendResult
from storage.models import utcnow

log = logging.getLogger("crmbot.whatsapp")

#: Cloud API default throughput is 80 messages per second per phone number
#: (CRMBOT_WHATSAPP_RATE; 0 switches the limit off, for a benchmark).
THROUGHPUT = 80

#: purpose -> locale -> approved template name
Templates = dict[str, dict[str, str]]


class WhatsAppChannel:
    name = CHANNEL

    def __init__(self, client: GraphClient, phone_number_id: str, last_seen: LastSeen,
                 templates: Templates | None = None,
                 list_label: Callable[[str], str] = lambda locale: "Options",
                 rate: int = THROUGHPUT) -> None:
        self._client = client
        self._phone = phone_number_id
        self._last_seen = last_seen
        self._templates = templates or {}
        self._list_label = list_label
        self._rate = rate

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return (RateLimit("global", self._rate, 1),) if self._rate else ()

    def is_group(self, chat_id: str) -> bool:
        return False

    async def send(self, message: OutboundMessage) -> SendResult:
        content = await self._content(message)
        if isinstance(content, SendResult):
            return content
        data, failed = await self._client.post(f"{self._phone}/messages", {
            "messaging_product": "whatsapp", "recipient_type": "individual",
            "to": message.chat_id, **content,
        })
        if failed is not None:
            return failed
        sent = (data or {}).get("messages") or [{}]
        return SendResult.sent(str(sent[0].get("id") or "") or None)

    async def _content(self, message: OutboundMessage) -> dict[str, object] | SendResult:
        why = purpose(message)
        if why != "announcement" and await self._in_window(message.chat_id):
            return outbound.body(message, self._list_label(message.locale))
        name = self._template(why, message.locale)
        if name is None:
            reason = ("announcements go only as approved templates" if why == "announcement"
                      else "the customer's 24-hour window is closed")
            return SendResult.failed(f"whatsapp: {reason} and CRMBOT_WHATSAPP_TEMPLATES has no "
                                     f"{why!r} template for {message.locale!r}")
        return outbound.template(name, message.locale, message.text)

    async def _in_window(self, chat_id: str) -> bool:
        seen = await self._last_seen(chat_id)
        return seen is not None and utcnow() - seen < WINDOW

    def _template(self, why: str, locale: str) -> str | None:
        by_locale = self._templates.get(why) or {}
        return by_locale.get(locale) or by_locale.get(locale.split("-")[0])
