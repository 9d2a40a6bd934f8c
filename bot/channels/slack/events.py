"""POST /slack/events: Events API, interactivity (buttons) and the /crmbot slash command.

Bolt verifies every request first (HMAC signature with the signing secret, 5-minute replay
window: a forged or replayed request gets 401 and nothing else happens) and answers
``url_verification``. The app runs with ``process_before_response=True``: a listener stores the
staff action in the inbox (storage/tickets.py, one short transaction) and only then is Slack
answered, well within its 3 seconds; the work itself (relaying, claiming, resolving) happens
afterwards in the processor. Slack redeliveries (``X-Slack-Retry-Num``) are recognised by the
inbox's unique key ``("slack", event_id)``: a middleware answers a known event at once with
``X-Slack-No-Retry: 1``, and a concurrent repeat is still stored once by the insert itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot import metrics
from bot.channels.slack import kb_form as slack_kb
from bot.channels.slack import review_edit
from bot.channels.slack.customer import customer_summary
from bot.channels.slack.kb import SlackKB
from bot.channels.slack.names import SlackNames
from bot.channels.slack.text import reply_text, to_plain
from bot.core import Core, UnknownTicket
from bot.i18n import Translator
from bot.messages import InboundMessage, StaffAction
from storage import slack_threads as threads
from storage import tickets as repo
from storage.clean import BadInput, db_id
from storage.models import Customer, Ticket

log = logging.getLogger("crmbot.slack")

NAME = "slack"
ACTIONS = {"ticket_claim": "claim", "ticket_resolve": "resolve", "ticket_bot": "bot",
           "ticket_called": "resolve",  # a call-back ticket's "Called" button resolves it
           "ticket_review_approve": "review_reply"}  # send a review's suggested reply
COMMAND = "/crmbot"
THREAD_SUBTYPES = (None, "thread_broadcast")


class SlackEvents:
    """Turns verified Slack requests into staff events in the right conversation's inbox."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._translator: Translator = core.services.translator
        self._locale = core.settings.default_locale
        self._kb = SlackKB(core, self.t)
        self._review = review_edit.ReviewEdit(core, self.t, self._ingest)
        self.names: SlackNames | None = None

    def t(self, key: str, **values: Any) -> str:
        return self._translator.t(key, self._locale, **values)

    def build(self, client: AsyncWebClient) -> AsyncApp:
        """The Bolt app; ``client`` answers ``auth.test`` once, lazily, on the first request."""
        self.names = SlackNames(client, self._core.sessions)
        app = AsyncApp(
            client=client,
            signing_secret=self._core.settings.slack_signing_secret or "",
            process_before_response=True,
            logger=log,
        )
        app.middleware(self.drop_redeliveries)
        app.event("message")(self.on_message)
        for action_id in ACTIONS:
            app.action(action_id)(self.on_action)
        app.command(COMMAND)(self.on_command)
        app.view(slack_kb.CALLBACK_ID)(self._kb.on_view)
        app.action(review_edit.ACTION_ID)(self._review.on_edit)
        app.view(review_edit.CALLBACK_ID)(self._review.on_submit)
        app.event(re.compile(".*"))(self.on_other_event)
        return app

    async def drop_redeliveries(
        self, req: Any, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """A redelivered event we already stored is answered at once and never run again."""
        body = req.body if isinstance(req.body, dict) else {}
        event_id = body.get("event_id")
        if event_id:
            async with self._core.sessions() as session:
                seen = await repo.event_seen(session, NAME, str(event_id))
            if seen:
                retry = (req.headers.get("x-slack-retry-num") or ["0"])[0]
                log.info("slack event %s redelivered (retry %s): dropped", event_id, retry)
                metrics.INBOUND_DUPLICATES.labels(NAME).inc()
                return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
        return await next()

    async def on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        """A message in a ticket thread: relayed only with the ``!reply`` marker (text.py);
        anything else is stored as the ticket's internal note."""
        if event.get("bot_id") or event.get("subtype") not in THREAD_SUBTYPES:
            return
        thread_ts, ts = event.get("thread_ts"), event.get("ts")
        if not thread_ts or thread_ts == ts or not event.get("user"):
            return
        raw_text = str(event.get("text") or "")
        text = reply_text(raw_text)
        action = "reply" if text is not None else "note"  # a note is stored, never relayed
        channel = str(event.get("channel") or "")
        async with self._core.sessions() as session:
            ticket = await threads.by_thread(session, channel, str(thread_ts))
        if ticket is None:
            return
        staff = StaffAction(action=action, ticket=ticket.id, user=str(event["user"]),
                            where=channel, ts=str(ts))
        await self._ingest(staff.inbound(
            NAME, str(body.get("event_id") or f"msg:{channel}:{ts}"), channel,
            text if text is not None else to_plain(raw_text)))

    async def on_action(
        self, ack: Callable[..., Awaitable[Any]], body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        """Claim / Resolve / Back to bot: stored first, acknowledged second."""
        user = str((body.get("user") or {}).get("id") or "")
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        try:
            ticket_id = db_id(action.get("value", ""), "ticket")
        except BadInput:
            log.warning("slack action without a ticket number: %r", action)
            await ack()
            return
        kind = ACTIONS[str(action.get("action_id"))]
        staff = StaffAction(action=kind, ticket=ticket_id, user=user, where=channel,
                            ts=str(container.get("message_ts") or ""))
        await self._ingest(staff.inbound(
            NAME, f"action:{action.get('action_ts')}:{user}:{kind}", channel))
        await ack()

    async def on_command(
        self, ack: Callable[..., Awaitable[Any]], command: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        """/crmbot list [mine] | ticket N | kb add|edit | help: answered to the caller only."""
        words = str(command.get("text") or "").split()
        user = str(command.get("user_id") or "")
        verb = words[0].lower() if words else "help"
        if verb == "kb":
            await self._kb.on_command(ack, command, client)
        elif verb == "list":
            mine = len(words) > 1 and words[1].lower() == "mine"
            await ack(text=await self._list(user if mine else None))
        elif verb == "ticket" and (ticket_id := _ticket_number(words[1:])) is not None:
            await ack(text=await self._details(ticket_id))
        elif verb == "customer" and (customer_id := _ticket_number(words[1:])) is not None:
            settings = self._core.settings
            await ack(text=await customer_summary(
                self._core.sessions, self._core.services.translator, settings.default_locale,
                settings.public_url, customer_id))
        elif verb == "help":
            await ack(text=self.t("desk_help"))
        else:
            await ack(text=self.t("desk_usage"))

    async def on_other_event(self) -> None:
        """Subscribed events we do not use are acknowledged (no 404, so Slack won't retry)."""

    async def _ingest(self, message: InboundMessage) -> None:
        """Through ``Core.ingest`` like every channel's events (it counts them, too)."""
        assert message.staff is not None
        if self.names is not None:
            self.names.learn(message.staff.user)  # in the background: the ack never waits
        try:
            await self._core.ingest(message)
        except UnknownTicket:
            log.warning("slack %s on unknown ticket %s ignored", message.staff.action,
                        message.staff.ticket)

    async def _list(self, assignee: str | None) -> str:
        async with self._core.sessions() as session:
            tickets = await repo.listing(session, assignee)
            names = await self._names(session, tickets)
        if not tickets:
            return self.t("desk_list_empty")
        key = "desk_list_mine_header" if assignee else "desk_list_header"
        lines = [self.t(key, count=len(tickets))]
        for ticket in tickets:
            lines.append(self.t(
                "desk_list_line", ticket=ticket.id, status=ticket.status,
                customer=names.get(ticket.customer_id) or self.t("desk_unknown_customer"),
                channel=ticket.channel, who=self._who(ticket.assignee),
            ))
        return "\n".join(lines)

    async def _details(self, ticket_id: int) -> str:
        async with self._core.sessions() as session:
            ticket = await session.get(Ticket, ticket_id)
            if ticket is None:
                return self.t("desk_ticket_unknown", ticket=ticket_id)
            names = await self._names(session, [ticket])
        never = self.t("desk_not_yet")
        return self.t(
            "desk_ticket_details", ticket=ticket.id, status=ticket.status,
            priority=ticket.priority, reason=ticket.reason, channel=ticket.channel,
            customer=names.get(ticket.customer_id) or self.t("desk_unknown_customer"),
            who=self._who(ticket.assignee), created=_when(ticket.created_at),
            first_response=_when(ticket.first_response_at) or never,
            resolved=_when(ticket.resolved_at) or never,
        )

    async def _names(self, session: Any, tickets: list[Ticket]) -> dict[int, str]:
        ids = {t.customer_id for t in tickets}
        if not ids:
            return {}
        rows = await session.execute(
            select(Customer.id, Customer.display_name).where(Customer.id.in_(ids))
        )
        return {int(cid): str(name) for cid, name in rows.all() if name}

    def _who(self, assignee: str | None) -> str:
        return f"<@{assignee}>" if assignee else self.t("desk_nobody")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


def _ticket_number(words: list[str]) -> int | None:
    """``N`` or ``#N`` as a ticket (or customer) id; None for anything else (a usage answer,
    not a crash)."""
    try:
        return db_id(words[0].lstrip("#"), "ticket") if words else None
    except BadInput:
        return None
