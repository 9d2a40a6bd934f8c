"""Telling the ticket's Slack thread that a message never reached the customer.

The outbox gives up on a message for good when the platform refuses it (WhatsApp's or
Messenger's 24-hour window closed with no template, a customer who blocked the bot, an
undeliverable number) or after its last retry. When that message belongs to a conversation
with an open ticket that has a thread, staff would otherwise believe their reply was read;
this posts the reason into the thread, in the same transaction that marks the item failed.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from bot.messages import OutboundMessage
from bot.ports import SendResult
from storage import outbox
from storage import slack_threads as threads
from storage.models import OutboxItem

CHANNEL = "slack"


class FailureNotice:
    def __init__(self, translator: Translator, locale: str) -> None:
        self._translator = translator
        self._locale = locale

    async def __call__(self, session: AsyncSession, item: OutboxItem,
                       result: SendResult) -> None:
        if item.channel == CHANNEL or item.conversation_id is None:
            return
        found = await threads.open_thread_of_conversation(session, item.conversation_id)
        if found is None:
            return
        ticket, channel = found
        sent = str((item.payload or {}).get("text", ""))
        text = self._translator.t("desk_delivery_failed", self._locale, channel=item.channel,
                                  text=sent[:80] + ("…" if len(sent) > 80 else ""),
                                  reason=result.error[:300])
        outbox.enqueue(session, OutboundMessage(
            channel=CHANNEL, chat_id=channel, text=text,
            meta={"slack_op": "thread", "thread_ticket": ticket.id},
        ), order_key=f"ticket:{ticket.id}")
