"""The Slack support desk: one thread per ticket in CRMBOT_SLACK_SUPPORT_CHANNEL.

Every method only *enqueues* Slack posts through ``ctx.notify`` with ``order_key
f"ticket:{id}"``: they are committed with the state change that caused them and delivered in
order by the outbox (bot/channels/slack/adapter.py), so a Slack outage delays the desk but
loses nothing and never blocks the customer's own replies. The one exception is the ✅
confirmation of a relayed staff reply: it is queued behind the customer's message
(``conv:<id>``), so it appears only once that message has actually left.

Staff texts come from the catalogs (``desk_*`` keys) in CRMBOT_DEFAULT_LOCALE.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.channels.slack.text import escape
from bot.config import Settings
from bot.context import Context
from bot.i18n import Translator
from bot.messages import OutboundMessage
from storage import feedback
from storage.models import Message, Ticket
from storage.ticket_states import RESOLVED

NAME = "slack"
LAST_MESSAGES = 6
SNIPPET = 300
ACTION_IDS = {"claim": "ticket_claim", "resolve": "ticket_resolve", "bot": "ticket_bot",
              "called": "ticket_called", "review": "ticket_review_approve",
              "review_edit": "ticket_review_edit"}


class SlackDesk:
    """:class:`bot.desk.SupportDesk` for Slack."""

    def __init__(self, settings: Settings, translator: Translator) -> None:
        self._channel = settings.slack_support_channel or ""
        self._locale = settings.default_locale
        self._translator = translator

    def t(self, key: str, **values: Any) -> str:
        return self._translator.t(key, self._locale, **values)

    # -- SupportDesk ---------------------------------------------------------------------

    async def escalated(self, ctx: Context, ticket: Ticket) -> None:
        if ticket.slack_channel:  # already has a thread: the customer asked again
            self._thread(ctx, ticket, self.t("desk_reopened"))
            await self._update_root(ctx, ticket)
            return
        ticket.slack_channel = self._channel
        text, blocks = await self._root(ctx, ticket)
        self._enqueue(ctx, ticket, "root", text, blocks=blocks)

    async def customer_wrote(self, ctx: Context, ticket: Ticket) -> None:
        name = escape(self._customer_name(ctx))
        inbound = ctx.inbound
        if inbound.kind in ("text", "command", "edited", "callback") and ctx.text:
            text = self.t("desk_customer_wrote", name=name, text=escape(ctx.text))
        else:
            text = self.t("desk_customer_sent_other", name=name, kind=inbound.kind)
        self._thread(ctx, ticket, text)

    async def returned_to_bot(self, ctx: Context, ticket: Ticket, by: str) -> None:
        if by.startswith("agent:"):
            self._thread(ctx, ticket, self.t("desk_back_agent", who=self._who(by)))
        else:
            self._thread(ctx, ticket, self.t("desk_back_customer"))
        await self._update_root(ctx, ticket, by)

    async def claimed(self, ctx: Context, ticket: Ticket, by: str) -> None:
        self._thread(ctx, ticket, self.t("desk_claimed", who=mention(by)))
        await self._update_root(ctx, ticket)

    async def resolved(self, ctx: Context, ticket: Ticket, by: str) -> None:
        self._thread(ctx, ticket, self.t("desk_resolved", who=mention(by)))
        await self._update_root(ctx, ticket, by)

    async def relayed(self, ctx: Context, ticket: Ticket, ref: dict[str, Any]) -> None:
        """✅ on the staff message, queued behind the customer's copy (same order key); a
        review's root then shows the public reply instead of the suggestion."""
        if ctx.conversation.channel == "intake":
            await self._update_root(ctx, ticket)
        if not ref.get("channel") or not ref.get("ts"):
            return
        ctx.notify(
            OutboundMessage(
                channel=NAME, chat_id=str(ref["channel"]), text="white_check_mark",
                meta={"slack_op": "react", "ts": str(ref["ts"]), "name": "white_check_mark",
                      "thread_ticket": ticket.id},
            ),
            order_key=f"conv:{ctx.conversation.id}",
        )

    async def refused(self, ctx: Context, ticket: Ticket, ref: dict[str, Any], why: str) -> None:
        """Tell only the staff member who tried (an ephemeral message in the thread)."""
        texts = {
            "resolved": self.t("desk_refused_resolved", ticket=ticket.id),
            "empty": self.t("desk_refused_empty"),
            "taken": self.t("desk_refused_taken", ticket=ticket.id,
                            who=mention(ticket.assignee) if ticket.assignee else "?"),
            "priority": self.t("desk_refused_priority"),
            "no_saved_reply": self.t("desk_refused_saved_reply"),
            "no_team": self.t("desk_refused_no_team", team=escape(str(ref.get("team", "")))),
        }
        user = str(ref.get("user") or "")
        if not user or ctx.inbound.channel != NAME:  # only a Slack user can see an ephemeral
            return
        self._enqueue(ctx, ticket, "ephemeral", texts.get(why, why), user=user,
                      chat_id=str(ref.get("channel") or ticket.slack_channel or self._channel))

    async def reopened(self, ctx: Context, ticket: Ticket, by: str) -> None:
        if not ticket.slack_channel:
            return
        who = mention(by) if ctx.inbound.channel == NAME else escape(by)
        self._thread(ctx, ticket, self.t("desk_reopened_by", who=who))
        await self._update_root(ctx, ticket)

    async def noted(self, ctx: Context, ticket: Ticket, by: str, text: str) -> None:
        """A note written elsewhere (admin UI, API) shows in the thread; one written in the
        thread is there already."""
        if ctx.inbound.channel == NAME or not ticket.slack_channel:
            return
        self._thread(ctx, ticket, self.t("desk_note", who=escape(by), text=escape(text)))

    async def dead_letter(self, ctx: Context, ticket: Ticket | None, event_id: int) -> None:
        """In the case's thread when it has one, else in the support channel."""
        text = self.t("desk_dead_letter", event=event_id, conversation=ctx.conversation.id,
                      channel=ctx.conversation.channel)
        if ticket is not None and ticket.slack_channel:
            self._thread(ctx, ticket, text)
            return
        ctx.notify(
            OutboundMessage(channel=NAME, chat_id=self._channel, text=text,
                            meta={"slack_op": "post"}),
            order_key=f"conv:{ctx.conversation.id}",
        )

    # -- rendering -----------------------------------------------------------------------

    async def _root(
        self, ctx: Context, ticket: Ticket, by: str | None = None
    ) -> tuple[str, list[dict[str, Any]]]:
        """The root message: who, where, what was said before, status and the buttons."""
        title = self.t("desk_root_title", ticket=ticket.id, priority=ticket.priority,
                       reason=escape(ticket.reason))
        who = self.t("desk_root_customer", name=escape(self._customer_name(ctx)),
                     channel=ctx.conversation.channel, language=ctx.locale)
        history = await self._history(ctx, ticket)
        status = self._status(ctx, ticket, by)
        review = await self._review(ctx, ticket)
        blocks: list[dict[str, Any]] = [
            _section(f"{title}\n{who}"),
            _section(review[0] if review else f"{self.t('desk_root_last')}\n{history}"),
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": status},
                {"type": "mrkdwn", "text": self.t("desk_how_to")},
            ]},
        ]
        if ticket.status != RESOLVED:
            blocks.append(self._buttons(ticket, approvable=bool(review and review[1])))
        return f"{title} {status}", blocks

    async def _review(self, ctx: Context, ticket: Ticket) -> tuple[str, bool] | None:
        """For a review or forum post: where, the rating, the link, the text and the suggested
        public reply; and whether that reply can still be approved."""
        if ctx.conversation.channel != "intake":
            return None
        item = await feedback.of_ticket(ctx.session, ticket.id)
        if item is None:
            return None
        stars = "★" * item.rating + "☆" * (5 - item.rating) if item.rating else "–"
        link = f" <{item.url}|{self.t('desk_review_open')}>" if item.url else ""
        lines = [self.t("desk_review_title", source=escape(item.source), stars=stars) + link,
                 "> " + escape(" ".join(item.text.split())[:SNIPPET * 3])]
        if item.reply_text:
            lines += [self.t("desk_review_replied", who=mention(item.replied_by or "")),
                      "> " + escape(" ".join(item.reply_text.split())[:SNIPPET * 3])]
        elif item.suggested_reply:
            lines += [self.t("desk_review_suggested"),
                      "> " + escape(" ".join(item.suggested_reply.split())[:SNIPPET * 3])]
        return "\n".join(lines), bool(item.suggested_reply and not item.reply_text)

    def _buttons(self, ticket: Ticket, approvable: bool = False) -> dict[str, Any]:
        def button(kind: str, label: str, style: str | None = None) -> dict[str, Any]:
            element: dict[str, Any] = {
                "type": "button", "action_id": ACTION_IDS[kind], "value": str(ticket.id),
                "text": {"type": "plain_text", "text": label},
            }
            if style:
                element["style"] = style
            return element

        elements = []
        if approvable:
            elements.append(button("review", self.t("desk_button_review"), "primary"))
            elements.append(button("review_edit", self.t("desk_button_review_edit")))
        if ticket.assignee is None:
            elements.append(button("claim", self.t("desk_button_claim"), "primary"))
        if ticket.reason == "callback":  # handlers/tickets/callback.py: "Called" resolves it
            elements.append(button("called", self.t("desk_button_called"), "primary"))
        elements.append(button("resolve", self.t("desk_button_resolve")))
        elements.append(button("bot", self.t("desk_button_bot")))
        return {"type": "actions", "block_id": f"ticket:{ticket.id}", "elements": elements}

    def _status(self, ctx: Context, ticket: Ticket, by: str | None) -> str:
        if ticket.status == RESOLVED:
            return self.t("desk_status_resolved", who=mention(by or ticket.assignee or ""))
        if ctx.conversation.mode != "human":
            return self.t("desk_status_bot", who=self._who(by or "customer"))
        if ticket.assignee:
            return self.t("desk_status_claimed", who=mention(ticket.assignee))
        return self.t("desk_status_open")

    async def _history(self, ctx: Context, ticket: Ticket) -> str:
        """The last messages before the escalation, oldest first, quoted and escaped."""
        rows = (await ctx.session.scalars(
            select(Message)
            .where(Message.conversation_id == ctx.conversation.id,
                   Message.created_at <= ticket.created_at,
                   Message.kind.in_(("text", "command", "callback", "edited")))
            .order_by(Message.id.desc())
            .limit(LAST_MESSAGES)
        )).all()
        if not rows:
            return self.t("desk_root_none")
        labels = {"customer": "desk_who_customer", "bot": "desk_who_bot", "agent": "desk_who_agent"}
        lines = []
        for row in reversed(rows):
            label = self.t(labels.get(row.sender, "desk_who_bot"))
            snippet = " ".join(row.text.split())[:SNIPPET]
            lines.append(f"> _{label}:_ {escape(snippet)}")
        return "\n".join(lines)

    def _customer_name(self, ctx: Context) -> str:
        return (ctx.customer.display_name or ctx.identity.display_name
                or self.t("desk_unknown_customer"))

    def _who(self, by: str) -> str:
        return mention(by) if by.startswith("agent:") else self.t("desk_who_customer")

    # -- enqueueing ----------------------------------------------------------------------

    async def _update_root(self, ctx: Context, ticket: Ticket, by: str | None = None) -> None:
        text, blocks = await self._root(ctx, ticket, by)
        self._enqueue(ctx, ticket, "update_root", text, blocks=blocks)

    def _thread(self, ctx: Context, ticket: Ticket, text: str) -> None:
        self._enqueue(ctx, ticket, "thread", text)

    def _enqueue(self, ctx: Context, ticket: Ticket, op: str, text: str,
                 chat_id: str | None = None, **meta: Any) -> None:
        ctx.notify(
            OutboundMessage(
                channel=NAME, chat_id=chat_id or ticket.slack_channel or self._channel,
                text=text, meta={"slack_op": op, "thread_ticket": ticket.id, **meta},
            ),
            order_key=f"ticket:{ticket.id}",
        )


def mention(by: str) -> str:
    """'agent:U123' or 'U123' -> '<@U123>' (Slack renders the person's name)."""
    user = by.removeprefix("agent:")
    return f"<@{user}>" if user else "?"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
