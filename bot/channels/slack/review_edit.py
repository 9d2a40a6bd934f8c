"""The "Edit reply" button of a review's root: a modal with the suggested public reply.

Submitting it is a staff ``reply`` on the ticket with the edited text, stored through the inbox
like any thread reply and sent back to the review's site by the intake adapter's webhook
(bot/channels/review_webhooks.py). Slack allows 3,000 characters in a multi-line input.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core import Core
from bot.messages import InboundMessage, StaffAction
from storage import feedback
from storage.clean import BadInput, db_id

log = logging.getLogger("crmbot.slack")

CALLBACK_ID = "review_reply"
ACTION_ID = "ticket_review_edit"
BLOCK, INPUT = "reply", "text"
MAX_TEXT = 3000

Ack = Callable[..., Awaitable[Any]]
Ingest = Callable[[InboundMessage], Awaitable[None]]


def modal(ticket_id: int, channel: str, text: str, t: Callable[..., str]) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": CALLBACK_ID,
        "private_metadata": json.dumps({"ticket": ticket_id, "channel": channel}),
        "title": {"type": "plain_text", "text": t("desk_review_edit_title")[:24]},
        "submit": {"type": "plain_text", "text": t("desk_review_edit_send")[:24]},
        "blocks": [{"type": "input", "block_id": BLOCK, "label": {
            "type": "plain_text", "text": t("desk_review_edit_label")[:2000]},
            "element": {"type": "plain_text_input", "action_id": INPUT, "multiline": True,
                        "max_length": MAX_TEXT, "initial_value": text[:MAX_TEXT]}}],
    }


def submitted_text(view: dict[str, Any]) -> str:
    values = ((view.get("state") or {}).get("values") or {}).get(BLOCK) or {}
    return str((values.get(INPUT) or {}).get("value") or "").strip()


class ReviewEdit:
    def __init__(self, core: Core, t: Callable[..., str], ingest: Ingest) -> None:
        self._core = core
        self.t = t
        self._ingest = ingest

    async def on_edit(self, ack: Ack, body: dict[str, Any], action: dict[str, Any],
                      client: AsyncWebClient) -> None:
        """Open the modal with the suggestion as it stands."""
        await ack()
        try:
            ticket_id = db_id(action.get("value", ""), "ticket")
        except BadInput:
            return
        async with self._core.sessions() as session:
            item = await feedback.of_ticket(session, ticket_id)
        suggested = item.suggested_reply if item is not None else None
        channel = str((body.get("channel") or {}).get("id") or "")
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id") or ""),
                                    view=modal(ticket_id, channel, suggested or "", self.t))
        except SlackApiError as exc:
            log.warning("slack: views.open (review reply) failed: %s",
                        exc.response.get("error"))

    async def on_submit(self, ack: Ack, body: dict[str, Any]) -> None:
        """The edited reply goes out as the agent's reply on the ticket."""
        view = body.get("view") or {}
        text = submitted_text(view)
        if not text:
            await ack(response_action="errors", errors={BLOCK: self.t("desk_review_edit_empty")})
            return
        try:
            meta = json.loads(str(view.get("private_metadata") or "{}"))
            ticket_id = db_id(str(meta.get("ticket", "")), "ticket")
        except (ValueError, BadInput, AttributeError):
            await ack(response_action="errors", errors={BLOCK: "ticket unknown"})
            return
        user = str((body.get("user") or {}).get("id") or "")
        staff = StaffAction(action="reply", ticket=ticket_id, user=user)
        await self._ingest(staff.inbound(
            "slack", f"view:{view.get('id') or view.get('hash')}:{user}",
            str(meta.get("channel") or ""), text))
        await ack()
