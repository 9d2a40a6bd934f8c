"""Staff actions on a ticket, processed in the customer's conversation like any other event.

A desk (the Slack desk, bot/channels/slack/) stores each staff action as an inbox event of the
ticket's conversation (storage/tickets.py, ``ingest_staff_event``): a reply to relay, Claim,
Resolve, Back to bot. This router runs first (priority 1) so that such an event is never seen
by the customer-facing routers, and it always claims the event, even a stale or invalid one.
Being ordinary inbox events, staff actions get the core's guarantees: stored once per desk
event id, processed once, in order with the customer's own messages, and every effect (ticket
change, the customer's reply, the Slack confirmation) is committed in one transaction.

A staff event is recognised by two things a customer cannot produce: the event's channel
differs from the conversation's channel (customers' events always carry their own), and the
payload has an ``agent`` section written by the desk.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.context import Context
from bot.dispatcher import Router
from handlers import identity
from handlers.tickets import escalation
from handlers.tickets.assignment import pick, rules_of
from handlers.tickets.assignment_rules import team_agents
from storage import feedback as feedback_repo
from storage import saved_replies
from storage import ticket_states as states
from storage import tickets as repo
from storage.models import Ticket, TicketNote
from storage.models_feedback import Feedback

router = Router("tickets", priority=1)
log = logging.getLogger("crmbot.tickets")

StaffAction = Callable[[Context, Ticket, dict[str, Any]], Awaitable[None]]


def staff_event(ctx: Context) -> dict[str, Any] | None:
    """The desk's description of the staff action, or None for a customer's event."""
    if ctx.inbound.channel == ctx.conversation.channel:
        return None
    agent = ctx.inbound.raw.get("agent")
    return agent if isinstance(agent, dict) else None


@router.handler
async def staff_action(ctx: Context) -> bool:
    data = staff_event(ctx)
    if data is None:
        return False
    ticket = await _ticket(ctx, data)
    action = ACTIONS.get(str(data.get("action")))
    if ticket is None or action is None:
        log.warning("staff event %s ignored: %r", ctx.inbound.event_id, data)
        return True
    await action(ctx, ticket, data)
    return True


async def _ticket(ctx: Context, data: dict[str, Any]) -> Ticket | None:
    try:
        ticket_id = int(data.get("ticket", ""))
    except (TypeError, ValueError):
        return None
    ticket = await ctx.session.get(Ticket, ticket_id)
    if ticket is None or ticket.conversation_id != ctx.conversation.id:
        return None
    return ticket


async def reply(ctx: Context, ticket: Ticket, data: dict[str, Any]) -> None:
    """Relay a staff reply to the customer; the first reply also claims an unowned ticket."""
    text = ctx.inbound.text.strip()
    if ticket.status not in states.OPEN_STATUSES:
        await ctx.services.desk.refused(ctx, ticket, data, "resolved")
        return
    if not text:
        await ctx.services.desk.refused(ctx, ticket, data, "empty")
        return
    if text.startswith(SAVED_MARK):
        expanded = await _saved_reply(ctx, ticket, text[len(SAVED_MARK):].strip())
        if expanded is None:
            await ctx.services.desk.refused(ctx, ticket, data, "no_saved_reply")
            return
        text = expanded
    await _send(ctx, ticket, data, text)


async def _send(ctx: Context, ticket: Ticket, data: dict[str, Any], text: str) -> None:
    """The reply goes out on the customer's channel (for a review: back to its site through
    the intake adapter's webhook) and is recorded."""
    user = str(data.get("user", ""))
    if ticket.assignee is None and await _claim(ctx, ticket, user):
        await ctx.services.desk.claimed(ctx, ticket, user)
    ctx.reply(text, sender="agent")
    if ticket.first_response_at is None:
        ticket.first_response_at = ctx.now
    feedback = await _feedback(ctx, ticket)
    if feedback is not None:
        feedback.reply_text, feedback.replied_by, feedback.replied_at = text, user, ctx.now
    await ctx.services.desk.relayed(ctx, ticket, data)


async def _feedback(ctx: Context, ticket: Ticket) -> Feedback | None:
    if ctx.conversation.channel != "intake":
        return None
    return await feedback_repo.of_ticket(ctx.session, ticket.id)


async def approve_review(ctx: Context, ticket: Ticket, data: dict[str, Any]) -> None:
    """Staff approved the suggested public reply to a review: send it as it stands."""
    feedback = await _feedback(ctx, ticket)
    if ticket.status not in states.OPEN_STATUSES:
        await ctx.services.desk.refused(ctx, ticket, data, "resolved")
        return
    if feedback is None or not (feedback.suggested_reply or "").strip():
        await ctx.services.desk.refused(ctx, ticket, data, "empty")
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


async def claim(ctx: Context, ticket: Ticket, data: dict[str, Any]) -> None:
    user = str(data.get("user", ""))
    if ticket.assignee == user:
        return
    if not states.allowed(ticket, "claim") or not await _claim(ctx, ticket, user):
        await ctx.services.desk.refused(ctx, ticket, data, "taken")
        return
    await ctx.services.desk.claimed(ctx, ticket, user)


async def _claim(ctx: Context, ticket: Ticket, user: str) -> bool:
    """Conditional UPDATE … WHERE assignee IS NULL, then bring the ORM object up to date."""
    won = await repo.claim(ctx.session, ticket.id, user, ctx.now)
    await ctx.session.refresh(ticket)
    return won


async def resolve(ctx: Context, ticket: Ticket, data: dict[str, Any]) -> None:
    """Close the ticket, hand the conversation back to the bot, tell the customer."""
    if not states.allowed(ticket, "resolve"):
        return
    user = str(data.get("user", ""))
    states.move(ticket, "resolve", ctx.now, user)
    ctx.conversation.mode = "bot"
    await escalation.on_resolved(ctx, ticket)
    await ctx.services.desk.resolved(ctx, ticket, user)


async def back_to_bot(ctx: Context, ticket: Ticket, data: dict[str, Any]) -> None:
    """The bot answers again; the ticket stays open for staff (as when the customer types /bot)."""
    by = f"agent:{data.get('user', '')}"
    if ctx.conversation.mode == "human":
        await escalation.return_to_bot(ctx, by=by)
    else:
        await ctx.services.desk.returned_to_bot(ctx, ticket, by)


PRIORITIES = ("low", "normal", "high", "urgent")


async def note(ctx: Context, ticket: Ticket, data: dict[str, Any]) -> None:
    """An internal note: stored on the ticket, never sent to the customer."""
    text = ctx.inbound.text.strip()
    if not text:  # a thread message with only a file or an emoji: nothing to keep
        return
    author = str(data.get("user", ""))
    ctx.session.add(TicketNote(ticket_id=ticket.id, author=author, source=ctx.inbound.channel,
                               text=text, created_at=ctx.now))
    await ctx.services.desk.noted(ctx, ticket, author, text)


async def assign(ctx: Context, ticket: Ticket, data: dict[str, Any]) -> None:
    """Give the ticket to ``assignee`` (a transfer when someone has it already), or to the
    least-loaded agent of ``team`` (the agents of the assignment rules with that team)."""
    assignee = str(data.get("assignee") or "").strip()
    team = str(data.get("team") or "").strip()
    if not assignee and team:
        settings = ctx.services.settings
        members = team_agents(rules_of(settings.assign_rules), team)
        if not members:
            await ctx.services.desk.refused(ctx, ticket, data, "no_team")
            return
        assignee = await pick(ctx, members, settings.assign_mode)
    if not assignee or not states.allowed(ticket, "assign"):
        await ctx.services.desk.refused(ctx, ticket, data, "resolved" if assignee else "empty")
        return
    if ticket.assignee == assignee:
        return
    states.move(ticket, "assign", ctx.now, assignee)
    await ctx.services.desk.claimed(ctx, ticket, assignee)


async def reopen(ctx: Context, ticket: Ticket, data: dict[str, Any]) -> None:
    """A resolved ticket is open again; whoever had it keeps it."""
    if not states.allowed(ticket, "reopen"):
        return
    states.move(ticket, "reopen", ctx.now)
    await ctx.services.desk.reopened(ctx, ticket, str(data.get("user", "")))


async def set_priority(ctx: Context, ticket: Ticket, data: dict[str, Any]) -> None:
    priority = str(data.get("priority") or "")
    if priority not in PRIORITIES:
        await ctx.services.desk.refused(ctx, ticket, data, "priority")
        return
    ticket.priority = priority


ACTIONS: dict[str, StaffAction] = {
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

