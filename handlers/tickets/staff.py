"""Staff actions on a ticket, processed in the customer's conversation like any other event.

A desk (the Slack desk, bot/channels/slack/; the REST API) hands each staff action to
``Core.ingest``, which files it as an inbox event of the ticket's conversation: a reply to
relay, Claim, Resolve, Back to bot. This router runs first (priority 1) so that such an event
is never seen by the customer-facing routers, and it always claims the event, even a stale or
invalid one.
Being ordinary inbox events, staff actions get the core's guarantees: stored once per desk
event id, processed once, in order with the customer's own messages, and every effect (ticket
change, the customer's reply, the Slack confirmation) is committed in one transaction.

A staff event is recognised by two things a customer cannot produce: the event's channel
differs from the conversation's channel (customers' events always carry their own), and the
message carries a ``staff`` action, which only a desk adapter writes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot import desk_notify
from bot.context import Context
from bot.dispatcher import Router
from bot.messages import StaffAction
from handlers.identity import service as identity
from handlers.tickets import escalation
from handlers.tickets.assignment import pick, rules_of
from handlers.tickets.assignment_rules import team_agents
from storage import feedback as feedback_repo
from storage import saved_replies
from storage import ticket_states as states
from storage import tickets as repo
from storage.clean import BIGINT_MAX
from storage.models import Ticket, TicketNote
from storage.models_feedback import Feedback

router = Router("tickets", priority=1)
log = logging.getLogger("crmbot.tickets")

Action = Callable[[Context, Ticket, StaffAction], Awaitable[None]]


def staff_event(ctx: Context) -> StaffAction | None:
    """The desk's description of the staff action, or None for a customer's event."""
    if ctx.inbound.channel == ctx.conversation.channel:
        return None
    return ctx.inbound.staff


@router.handler
async def staff_action(ctx: Context) -> bool:
    data = staff_event(ctx)
    if data is None:
        return False
    ticket = await _ticket(ctx, data)
    action = ACTIONS.get(data.action)
    if ticket is None or action is None:
        log.warning("staff event %s ignored: %r", ctx.inbound.event_id, data)
        return True
    await action(ctx, ticket, data)
    return True


async def _ticket(ctx: Context, data: StaffAction) -> Ticket | None:
    if not 0 < data.ticket <= BIGINT_MAX:
        return None
    ticket = await ctx.session.get(Ticket, data.ticket)
    if ticket is None or ticket.conversation_id != ctx.conversation.id:
        return None
    return ticket


async def reply(ctx: Context, ticket: Ticket, data: StaffAction) -> None:
    """Relay a staff reply to the customer; the first reply also claims an unowned ticket."""
    text = ctx.inbound.text.strip()
    if ticket.status not in states.OPEN_STATUSES:
        await desk_notify.tell(ctx, "refused", ticket, staff=data, why="resolved")
        return
    if not text:
        await desk_notify.tell(ctx, "refused", ticket, staff=data, why="empty")
        return
    if text.startswith(SAVED_MARK):
        expanded = await _saved_reply(ctx, ticket, text[len(SAVED_MARK):].strip())
        if expanded is None:
            await desk_notify.tell(ctx, "refused", ticket, staff=data, why="no_saved_reply")
            return
        text = expanded
    await _send(ctx, ticket, data, text)


async def _send(ctx: Context, ticket: Ticket, data: StaffAction, text: str) -> None:
    """The reply goes out on the customer's channel (for a review: back to its site through
    the intake adapter's webhook) and is recorded."""
    user = data.user
    if ticket.assignee is None and await _claim(ctx, ticket, user):
        await desk_notify.tell(ctx, "claimed", ticket, by=user)
    ctx.reply(text, sender="agent")
    if ticket.first_response_at is None:
        ticket.first_response_at = ctx.now
    feedback = await _feedback(ctx, ticket)
    if feedback is not None:
        feedback.reply_text, feedback.replied_by, feedback.replied_at = text, user, ctx.now
    await desk_notify.tell(ctx, "relayed", ticket, staff=data)


async def _feedback(ctx: Context, ticket: Ticket) -> Feedback | None:
    if ctx.conversation.channel != "intake":
        return None
    return await feedback_repo.of_ticket(ctx.session, ticket.id)


async def approve_review(ctx: Context, ticket: Ticket, data: StaffAction) -> None:
    """Staff approved the suggested public reply to a review: send it as it stands."""
    feedback = await _feedback(ctx, ticket)
    if ticket.status not in states.OPEN_STATUSES:
        await desk_notify.tell(ctx, "refused", ticket, staff=data, why="resolved")
        return
    if feedback is None or not (feedback.suggested_reply or "").strip():
        await desk_notify.tell(ctx, "refused", ticket, staff=data, why="empty")
        return
    await _send(ctx, ticket, data, feedback.suggested_reply or "")


SAVED_MARK = ":"


async def _saved_reply(ctx: Context, ticket: Ticket, name: str) -> str | None:
    """``:name`` -> that saved reply in the customer's language, placeholders filled."""
    if not saved_replies.NAME_RE.match(name):
        return None
    found = await saved_replies.find(ctx.session, name, ctx.locale,
                                     ctx.services.settings.default_locale)
    if found is None:
        return None
    return saved_replies.fill(found.text, {
        "name": ctx.customer.display_name or "", "ticket": str(ticket.id),
        "hours": identity.wait_text(ctx)})


async def claim(ctx: Context, ticket: Ticket, data: StaffAction) -> None:
    user = data.user
    if ticket.assignee == user:
        return
    if not states.allowed(ticket, "claim") or not await _claim(ctx, ticket, user):
        await desk_notify.tell(ctx, "refused", ticket, staff=data, why="taken")
        return
    await desk_notify.tell(ctx, "claimed", ticket, by=user)


async def _claim(ctx: Context, ticket: Ticket, user: str) -> bool:
    """Conditional UPDATE … WHERE assignee IS NULL, then bring the ORM object up to date."""
    won = await repo.claim(ctx.session, ticket.id, user, ctx.now)
    await ctx.session.refresh(ticket)
    return won


async def resolve(ctx: Context, ticket: Ticket, data: StaffAction) -> None:
    """Close the ticket, hand the conversation back to the bot, tell the customer."""
    if not states.allowed(ticket, "resolve"):
        return
    user = data.user
    states.move(ticket, "resolve", ctx.now, user)
    ctx.conversation.mode = "bot"
    await escalation.on_resolved(ctx, ticket)
    await desk_notify.tell(ctx, "resolved", ticket, by=user)


async def back_to_bot(ctx: Context, ticket: Ticket, data: StaffAction) -> None:
    """The bot answers again; the ticket stays open for staff (as when the customer types /bot)."""
    by = f"agent:{data.user}"
    if ctx.conversation.mode == "human":
        await escalation.return_to_bot(ctx, by=by)
    else:
        await desk_notify.tell(ctx, "returned_to_bot", ticket, by=by)


PRIORITIES = ("low", "normal", "high", "urgent")


async def note(ctx: Context, ticket: Ticket, data: StaffAction) -> None:
    """An internal note: stored on the ticket, never sent to the customer."""
    text = ctx.inbound.text.strip()
    if not text:  # a thread message with only a file or an emoji: nothing to keep
        return
    author = data.user
    ctx.session.add(TicketNote(ticket_id=ticket.id, author=author, source=ctx.inbound.channel,
                               text=text, created_at=ctx.now))
    await desk_notify.tell(ctx, "noted", ticket, by=author, text=text)


async def assign(ctx: Context, ticket: Ticket, data: StaffAction) -> None:
    """Give the ticket to ``assignee`` (a transfer when someone has it already), or to the
    least-loaded agent of ``team`` (the agents of the assignment rules with that team)."""
    assignee = data.assignee.strip()
    team = data.team.strip()
    if not assignee and team:
        settings = ctx.services.settings
        members = team_agents(rules_of(settings.assign_rules), team)
        if not members:
            await desk_notify.tell(ctx, "refused", ticket, staff=data, why="no_team")
            return
        assignee = await pick(ctx, members, settings.assign_mode)
    if not assignee or not states.allowed(ticket, "assign"):
        await desk_notify.tell(ctx, "refused", ticket, staff=data,
                               why="resolved" if assignee else "empty")
        return
    if ticket.assignee == assignee:
        return
    states.move(ticket, "assign", ctx.now, assignee)
    await desk_notify.tell(ctx, "claimed", ticket, by=assignee)


async def reopen(ctx: Context, ticket: Ticket, data: StaffAction) -> None:
    """A resolved ticket is open again; whoever had it keeps it."""
    if not states.allowed(ticket, "reopen"):
        return
    states.move(ticket, "reopen", ctx.now)
    await desk_notify.tell(ctx, "reopened", ticket, by=data.user)


async def set_priority(ctx: Context, ticket: Ticket, data: StaffAction) -> None:
    priority = data.priority
    if priority not in PRIORITIES:
        await desk_notify.tell(ctx, "refused", ticket, staff=data, why="priority")
        return
    ticket.priority = priority


ACTIONS: dict[str, Action] = {
    "reply": reply,
    "claim": claim,
    "resolve": resolve,
    "bot": back_to_bot,
    "note": note,
    "assign": assign,
    "reopen": reopen,
    "priority": set_priority,
    "review_reply": approve_review,
}


def first_response_seconds(ticket: Ticket) -> float | None:
    if ticket.first_response_at is None:
        return None
    return (ticket.first_response_at - ticket.created_at).total_seconds()


def resolution_seconds(ticket: Ticket) -> float | None:
    if ticket.resolved_at is None:
        return None
    return (ticket.resolved_at - ticket.created_at).total_seconds()

