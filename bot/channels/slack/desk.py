"""The Slack support desk: one thread per ticket in CRMBOT_SLACK_SUPPORT_CHANNEL.

Every event becomes posts with ``order_key f"ticket:{id}"`` that the core queues in the outbox
of the handler's transaction (bot/desk_notify.py): they are committed with the state change
that caused them and delivered in order by the outbox (bot/channels/slack/adapter.py), so a
Slack outage delays the desk but loses nothing and never blocks the customer's own replies. The
one exception is the ✅ confirmation of a relayed staff reply: it is queued behind the
customer's message (``conv:<id>``), so it appears only once that message has actually left.

Staff texts come from the catalogs (``desk_*`` keys) in CRMBOT_DEFAULT_LOCALE.
"""

from __future__ import annotations

from typing import Any

from bot.channels.slack.text import escape
from bot.config import Settings
from bot.desk import DeskEvent, DeskPost, TicketView
from bot.i18n import Translator
from bot.messages import OutboundMessage
from storage.ticket_states import RESOLVED

NAME = "slack"
SNIPPET = 300
ACTION_IDS = {"claim": "ticket_claim", "resolve": "ticket_resolve", "bot": "ticket_bot",
              "called": "ticket_called", "review": "ticket_review_approve",
              "review_edit": "ticket_review_edit"}


class SlackDesk:
    """:class:`bot.desk.SupportDesk` for Slack: renders each event as Slack posts."""

    wants_history = True

    def __init__(self, settings: Settings, translator: Translator) -> None:
        self._channel = settings.slack_support_channel or ""
        self._locale = settings.default_locale
        self._translator = translator

    def t(self, key: str, **values: Any) -> str:
        return self._translator.t(key, self._locale, **values)

    def handle(self, event: DeskEvent) -> list[DeskPost]:
        posts: list[DeskPost] = []
        getattr(self, f"_{event.kind}")(event, posts)
        return posts

    # -- one method per event kind -------------------------------------------------------

    def _escalated(self, event: DeskEvent, posts: list[DeskPost]) -> None:
        """The ticket's root post (its ``ts`` becomes the ticket's thread). Asked for again:
        a line in the thread and a fresh root, or a root if the ticket never reached Slack
        (the adapter finds the thread, or not, at send time)."""
        ticket = _ticket(event)
        text, blocks = self._root(event, ticket)
        again = self.t("desk_reopened") if event.again else False
        self._enqueue(posts, ticket, "root", text, blocks=blocks, again=again)

    def _customer_wrote(self, event: DeskEvent, posts: list[DeskPost]) -> None:
        name = escape(self._customer_name(event))
        if event.message_kind in ("text", "command", "edited", "callback") and event.text:
            text = self.t("desk_customer_wrote", name=name, text=escape(event.text))
        else:
            text = self.t("desk_customer_sent_other", name=name, kind=event.message_kind)
        self._thread(posts, _ticket(event), text)

    def _returned_to_bot(self, event: DeskEvent, posts: list[DeskPost]) -> None:
        ticket = _ticket(event)
        if event.by.startswith("agent:"):
            self._thread(posts, ticket, self.t("desk_back_agent", who=self._who(event.by)))
        else:
            self._thread(posts, ticket, self.t("desk_back_customer"))
        self._update_root(event, posts, event.by)

    def _claimed(self, event: DeskEvent, posts: list[DeskPost]) -> None:
        self._thread(posts, _ticket(event), self.t("desk_claimed", who=mention(event.by)))
        self._update_root(event, posts)

    def _resolved(self, event: DeskEvent, posts: list[DeskPost]) -> None:
        self._thread(posts, _ticket(event), self.t("desk_resolved", who=mention(event.by)))
        self._update_root(event, posts, event.by)

    def _relayed(self, event: DeskEvent, posts: list[DeskPost]) -> None:
        """✅ on the staff message, queued behind the customer's copy (same order key); a
        review's root then shows the public reply instead of the suggestion."""
        ticket = _ticket(event)
        if event.case.channel == "intake":
            self._update_root(event, posts)
        staff = event.staff
        if staff is None or not staff.where or not staff.ts:
            return
        posts.append(DeskPost(
            OutboundMessage(
                channel=NAME, chat_id=staff.where, text="white_check_mark",
                meta={"slack_op": "react", "ts": staff.ts, "name": "white_check_mark",
                      "thread_ticket": ticket.id},
            ),
            order_key=f"conv:{event.case.conversation_id}",
        ))

    def _refused(self, event: DeskEvent, posts: list[DeskPost]) -> None:
        """Tell only the staff member who tried (an ephemeral message in the thread)."""
        ticket, staff = _ticket(event), event.staff
        texts = {
            "resolved": self.t("desk_refused_resolved", ticket=ticket.id),
            "empty": self.t("desk_refused_empty"),
            "taken": self.t("desk_refused_taken", ticket=ticket.id,
                            who=mention(ticket.assignee) if ticket.assignee else "?"),
            "priority": self.t("desk_refused_priority"),
            "no_saved_reply": self.t("desk_refused_saved_reply"),
            "no_team": self.t("desk_refused_no_team",
                              team=escape(staff.team if staff else "")),
        }
        if staff is None or not staff.user or event.source != NAME:
            return  # only a Slack user can see an ephemeral
        self._enqueue(posts, ticket, "ephemeral", texts.get(event.why, event.why),
                      user=staff.user, chat_id=staff.where or self._channel)

    def _reopened(self, event: DeskEvent, posts: list[DeskPost]) -> None:
        ticket = _ticket(event)
        who = mention(event.by) if event.source == NAME else escape(event.by)
        self._thread(posts, ticket, self.t("desk_reopened_by", who=who), optional=True)
        self._update_root(event, posts, optional=True)

    def _noted(self, event: DeskEvent, posts: list[DeskPost]) -> None:
        """A note written elsewhere (admin UI, API) shows in the thread; one written in the
        thread is there already."""
        if event.source == NAME:
            return
        self._thread(posts, _ticket(event),
                     self.t("desk_note", who=escape(event.by), text=escape(event.text)),
                     optional=True)

    def _dead_letter(self, event: DeskEvent, posts: list[DeskPost]) -> None:
        """In the case's thread when it has one, else in the support channel."""
        text = self.t("desk_dead_letter", event=event.event_id,
                      conversation=event.case.conversation_id, channel=event.case.channel)
        if event.ticket is not None:
            self._enqueue(posts, event.ticket, "thread", text, or_channel=True)
            return
        posts.append(DeskPost(
            OutboundMessage(channel=NAME, chat_id=self._channel, text=text,
                            meta={"slack_op": "post"}),
            order_key=f"conv:{event.case.conversation_id}",
        ))

    # -- rendering -----------------------------------------------------------------------

    def _root(
        self, event: DeskEvent, ticket: TicketView, by: str | None = None
    ) -> tuple[str, list[dict[str, Any]]]:
        """The root message: who, where, what was said before, status and the buttons."""
        title = self.t("desk_root_title", ticket=ticket.id, priority=ticket.priority,
                       reason=escape(ticket.reason))
        who = self.t("desk_root_customer", name=escape(self._customer_name(event)),
                     channel=event.case.channel, language=event.case.locale)
        status = self._status(event, ticket, by)
        review = self._review(event)
        blocks: list[dict[str, Any]] = [
            _section(f"{title}\n{who}"),
            _section(review[0] if review else
                     f"{self.t('desk_root_last')}\n{self._history(event)}"),
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": status},
                {"type": "mrkdwn", "text": self.t("desk_how_to")},
            ]},
        ]
        if ticket.status != RESOLVED:
            blocks.append(self._buttons(ticket, approvable=bool(review and review[1])))
        return f"{title} {status}", blocks

    def _review(self, event: DeskEvent) -> tuple[str, bool] | None:
        """For a review or forum post: where, the rating, the link, the text and the suggested
        public reply; and whether that reply can still be approved."""
        item = event.review
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

    def _buttons(self, ticket: TicketView, approvable: bool = False) -> dict[str, Any]:
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

    def _status(self, event: DeskEvent, ticket: TicketView, by: str | None) -> str:
        if ticket.status == RESOLVED:
            return self.t("desk_status_resolved", who=mention(by or ticket.assignee or ""))
        if event.case.mode != "human":
            return self.t("desk_status_bot", who=self._who(by or "customer"))
        if ticket.assignee:
            return self.t("desk_status_claimed", who=mention(ticket.assignee))
        return self.t("desk_status_open")

    def _history(self, event: DeskEvent) -> str:
        """The last messages before the escalation, oldest first, quoted and escaped."""
        if not event.history:
            return self.t("desk_root_none")
        labels = {"customer": "desk_who_customer", "bot": "desk_who_bot", "agent": "desk_who_agent"}
        lines = []
        for sender, body in event.history:
            label = self.t(labels.get(sender, "desk_who_bot"))
            snippet = " ".join(body.split())[:SNIPPET]
            lines.append(f"> _{label}:_ {escape(snippet)}")
        return "\n".join(lines)

    def _customer_name(self, event: DeskEvent) -> str:
        return event.case.customer_name or self.t("desk_unknown_customer")

    def _who(self, by: str) -> str:
        return mention(by) if by.startswith("agent:") else self.t("desk_who_customer")

    # -- enqueueing ----------------------------------------------------------------------

    def _update_root(self, event: DeskEvent, posts: list[DeskPost], by: str | None = None,
                     optional: bool = False) -> None:
        ticket = _ticket(event)
        text, blocks = self._root(event, ticket, by)
        self._enqueue(posts, ticket, "update_root", text, blocks=blocks, optional=optional)

    def _thread(self, posts: list[DeskPost], ticket: TicketView, text: str,
                optional: bool = False) -> None:
        self._enqueue(posts, ticket, "thread", text, optional=optional)

    def _enqueue(self, posts: list[DeskPost], ticket: TicketView, op: str, text: str,
                 chat_id: str | None = None, order_key: str | None = None,
                 **meta: Any) -> None:
        """``optional``: skipped when the ticket has no thread (it never reached Slack);
        ``or_channel``: posted in the channel instead. The adapter decides at send time."""
        meta = {k: v for k, v in meta.items() if v is not False}
        posts.append(DeskPost(
            OutboundMessage(
                channel=NAME, chat_id=chat_id or self._channel,
                text=text, meta={"slack_op": op, "thread_ticket": ticket.id, **meta},
            ),
            order_key=order_key or f"ticket:{ticket.id}",
        ))


def _ticket(event: DeskEvent) -> TicketView:
    """Every event but a dead letter is about a ticket."""
    if event.ticket is None:
        raise ValueError(f"desk event {event.kind} without a ticket")
    return event.ticket


def mention(by: str) -> str:
    """'agent:U123' or 'U123' -> '<@U123>' (Slack renders the person's name)."""
    user = by.removeprefix("agent:")
    return f"<@{user}>" if user else "?"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
