"""Handing a conversation to human staff, and giving it back to the bot.

Triggers: the customer asks for a person (/human or in words, en/sv/lv), the bot could not
answer twice in a row, a word from CRMBOT_ESCALATION_KEYWORDS, or another feature calling
:func:`escalate` (negative review, low survey score). An escalation opens a ticket (its id is
the case number staff quote), switches the conversation to human mode and tells the customer
what to expect.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from bot import desk_notify
from bot.context import Context
from bot.dispatcher import Router
from handlers.identity import service as identity
from storage.models import Ticket, utcnow
from storage.ticket_states import OPEN, OPEN_STATUSES

#: Raised after a ticket is resolved; the subject is the :class:`Ticket`.
TICKET_RESOLVED = "ticket_resolved"
#: Raised after a new ticket was opened and the desk told; the subject is the :class:`Ticket`.
TICKET_OPENED = "ticket_opened"

router = Router("escalation", priority=40)

PRIORITIES = ("low", "normal", "high", "urgent")
HUMAN_PHRASES = re.compile(
    r"\b(talk|speak|chat)\s+(to|with)\s+(a\s+)?(human|person|agent|someone|operator)\b"
    r"|\b(real|live)\s+(person|human|agent)\b"
    r"|\bprata\s+med\s+(en\s+)?(människa|person|handläggare|någon)\b"
    r"|\b(runāt|sarunāties|sazināties)\s+ar\s+(cilvēku|operatoru|darbinieku)\b",
    re.IGNORECASE,
)


async def open_ticket(ctx: Context) -> Ticket | None:
    """This conversation's open ticket, else the customer's open ticket from a linked channel
    (handlers/identity/): one customer, one case, whichever channel they write on."""
    ticket = await ctx.session.scalar(
        select(Ticket)
        .where(Ticket.conversation_id == ctx.conversation.id, Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    if ticket is None:
        ticket = await identity.customer_open_ticket(ctx.session, ctx.customer.id)
    return ticket


async def escalate(ctx: Context, reason: str, priority: str = "normal") -> Ticket:
    """Open (or reuse) the conversation's ticket and put a human in charge.

    Other features call this too: e.g. a negative review or a low survey score as
    ``escalate(ctx, reason="negative_review", priority="high")``. ``reason`` is a short code
    (at most 64 characters) shown to staff; ``priority`` is one of PRIORITIES.
    """
    ticket = await open_ticket(ctx)
    if ticket is not None:
        reopened = ctx.conversation.mode != "human"
        ctx.conversation.mode = "human"
        ctx.reply(ctx.t("human_already", ticket=ticket.id))
        if reopened:  # the customer had gone back to the bot: tell staff they want a person
            await desk_notify.tell(ctx, "escalated", ticket, again=True)
        return ticket
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {PRIORITIES}, not {priority!r}")
    ticket = Ticket(
        conversation_id=ctx.conversation.id,
        customer_id=ctx.customer.id,
        channel=ctx.conversation.channel,
        status=OPEN,
        priority=priority,
        reason=reason,
        subject=_subject(ctx),
        created_at=utcnow(),
    )
    ctx.session.add(ticket)
    await ctx.session.flush()
    ctx.conversation.mode = "human"
    ctx.state.pop("abstains", None)
    ctx.save_state()
    ctx.reply(ctx.t("human_requested", ticket=ticket.id, wait=identity.wait_text(ctx)))
    await desk_notify.tell(ctx, "escalated", ticket)
    await ctx.routing.emit(TICKET_OPENED, ctx, ticket)
    return ticket


async def return_to_bot(ctx: Context, by: str) -> None:
    """Back to the bot: the ticket stays open for staff unless they resolved it."""
    ctx.conversation.mode = "bot"
    ctx.reply(ctx.t("human_back_to_bot"))
    ticket = await open_ticket(ctx)
    if ticket is not None:
        await desk_notify.tell(ctx, "returned_to_bot", ticket, by=by)


def _subject(ctx: Context) -> str:
    text = ctx.text if not ctx.text.startswith("/") else ""
    return (text or str(ctx.state.get("last_question", "")))[:200]


@router.handler
async def asked_for_human(ctx: Context) -> bool:
    if ctx.inbound.kind != "text" or not HUMAN_PHRASES.search(ctx.text):
        return False
    await escalate(ctx, reason="customer_request")
    return True


@router.handler
async def keyword(ctx: Context) -> bool:
    """Admin-configured words (CRMBOT_ESCALATION_KEYWORDS, e.g. "cancel,complaint")."""
    if ctx.inbound.kind not in ("text", "edited"):
        return False
    found = matched_keyword(ctx.text, ctx.services.settings.escalation_keyword_list)
    if found is None:
        return False
    await escalate(ctx, reason=f"keyword:{found}"[:64])
    return True


def matched_keyword(text: str, keywords: tuple[str, ...]) -> str | None:
    """The first keyword found as a whole word (or phrase), case-insensitively."""
    folded = text.casefold()
    for word in keywords:
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", folded):
            return word
    return None


async def on_resolved(ctx: Context, ticket: Ticket) -> None:
    """A ticket was resolved by staff: tell the customer, then raise "ticket_resolved".

    Listeners (the CSAT survey, handlers/surveys/router.py) run inside the same transaction as
    the resolution, so a survey question is queued exactly when the ticket is committed as
    resolved."""
    ctx.reply(ctx.t("ticket_resolved", ticket=ticket.id))
    await ctx.routing.emit(TICKET_RESOLVED, ctx, ticket)


def note_abstain(ctx: Context) -> bool:
    """Count consecutive unanswered questions (reset by any answer); True when that many
    should reach a person (CRMBOT_HANDOVER_AFTER_UNANSWERED; 0 never hands over)."""
    count = int(ctx.state.get("abstains", 0)) + 1
    ctx.state["abstains"] = count
    ctx.save_state()
    limit = ctx.services.settings.handover_after_unanswered
    return limit > 0 and count >= limit


def reset_abstains(ctx: Context) -> None:
    if ctx.state.pop("abstains", None) is not None:
        ctx.save_state()
