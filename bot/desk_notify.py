"""Telling the desk: a handler's context -> a neutral :class:`bot.desk.DeskEvent` -> outbox.

The one place that turns what a handler knows (its context, the ticket row) into the plain
data of the desk port, and the desk's posts into outbox items of the handler's transaction.
History and the review are read here, in that transaction, and only for a desk that shows
them (the Slack desk's root message), so the desk itself never touches the database.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.context import Context
from bot.desk import CaseView, DeskEvent, DeskKind, ReviewView, TicketView
from bot.messages import StaffAction
from storage import feedback
from storage.models import Message, Ticket

HISTORY = 6  # messages before the escalation shown to staff
HISTORY_KINDS = ("text", "command", "callback", "edited")
#: the events whose post shows the ticket's summary (history, review, status)
SUMMARY_KINDS = frozenset({"escalated", "returned_to_bot", "claimed", "resolved", "relayed",
                           "reopened"})


async def tell(
    ctx: Context, kind: DeskKind, ticket: Ticket | None, *, again: bool = False, by: str = "",
    staff: StaffAction | None = None, why: str = "", text: str | None = None,
    event_id: int = 0,
) -> None:
    """Describe the event to the desk and queue what it wants posted."""
    desk = ctx.services.desk
    history: tuple[tuple[str, str], ...] = ()
    review = None
    if desk.wants_history and ticket is not None and kind in SUMMARY_KINDS:
        history = await _history(ctx, ticket)
        review = await _review(ctx, ticket)
    event = DeskEvent(
        kind=kind, case=_case(ctx), ticket=_ticket(ticket) if ticket is not None else None,
        source=ctx.inbound.channel, again=again, by=by, text=ctx.text if text is None else text,
        message_kind=ctx.inbound.kind, staff=staff, why=why, event_id=event_id,
        history=history, review=review,
    )
    for post in desk.handle(event):
        ctx.notify(post.message, order_key=post.order_key)


def _case(ctx: Context) -> CaseView:
    return CaseView(
        conversation_id=ctx.conversation.id, channel=ctx.conversation.channel,
        mode=ctx.conversation.mode,
        customer_name=ctx.customer.display_name or ctx.identity.display_name,
        locale=ctx.locale,
    )


def _ticket(ticket: Ticket) -> TicketView:
    return TicketView(id=ticket.id, status=ticket.status, priority=ticket.priority,
                      reason=ticket.reason, assignee=ticket.assignee,
                      created_at=ticket.created_at)


async def _history(ctx: Context, ticket: Ticket) -> tuple[tuple[str, str], ...]:
    """The last messages before the escalation, oldest first."""
    rows = (await ctx.session.execute(
        select(Message.sender, Message.text)
        .where(Message.conversation_id == ctx.conversation.id,
               Message.created_at <= ticket.created_at,
               Message.kind.in_(HISTORY_KINDS))
        .order_by(Message.id.desc())
        .limit(HISTORY)
    )).all()
    return tuple((str(sender), str(body)) for sender, body in reversed(rows))


async def _review(ctx: Context, ticket: Ticket) -> ReviewView | None:
    if ctx.conversation.channel != "intake":
        return None
    item = await feedback.of_ticket(ctx.session, ticket.id)
    if item is None:
        return None
    return ReviewView(source=item.source, rating=item.rating, url=item.url, text=item.text,
                      reply_text=item.reply_text, replied_by=item.replied_by,
                      suggested_reply=item.suggested_reply)
