"""Feedback: the widget's rating form and intake items (reviews, forum posts, mail bridges).

Runs right after staff actions (priority 2) because intake items are not chats: for channel
``intake`` this router only stores and escalates, and always claims the event, so no later router
tries to answer a review site. Every item becomes a :class:`~storage.models_feedback.Feedback`
row in the same transaction that marks its inbox event processed (stored exactly once).
Negative items (rating 1–2, or negative wording: :mod:`handlers.intake.sentiment`) open a ticket
so staff see them in Slack; for intake items the ticket carries a suggested public reply drawn
from the knowledge base.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from bot import desk_notify
from bot.context import Context
from bot.dispatcher import Router
from bot.i18n import normalise_locale
from handlers.intake import sentiment
from handlers.tickets import escalation
from storage.models import Ticket, utcnow
from storage.models_feedback import Feedback
from storage.ticket_states import OPEN

router = Router("intake", priority=2)

LOW_RATING = 2
# A draft for staff, never sent by itself: a weaker match than the 0.7 needed to answer a
# customer is still worth showing. Long, angry reviews score low even when on topic (sample KB,
# default matcher: "My parcel never arrived and nobody answers." 0.10 for "where is my order");
# off-topic complaints score <= 0.01, loosely related ones ("The delivery guy was rude.") ~0.07.
SUGGEST_MIN = 0.09
SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")


def _row(ctx: Context, item: dict[str, Any], verdict: str, language: str | None) -> Feedback:
    row = Feedback(
        source=str(item.get("source") or ctx.conversation.channel),
        external_id=str(item.get("external_id") or ctx.inbound.event_id),
        author=item.get("author"),
        url=item.get("url"),
        rating=item.get("rating"),
        text=str(item.get("text") or ""),
        language=language,
        email=item.get("email"),
        sentiment=verdict,
        conversation_id=ctx.conversation.id,
        created_at=utcnow(),
    )
    ctx.session.add(row)
    return row


async def _suggestion(
    ctx: Context, text: str, locale: str
) -> tuple[str | None, str | None]:
    """The best KB answer to the complaint, as a draft for staff (None when nothing fits).

    Reviews are long and mix venting with the actual problem, which dilutes a match over the
    whole text; each sentence is matched too and the best score wins."""
    pieces = [text, *(part for part in SENTENCES.split(text) if part.strip())]
    found = [(await ctx.services.kb.amatch(part, locale, limit=1)).best for part in pieces[:6]]
    scored = [c for c in found if c is not None]
    best = max(scored, key=lambda c: c.score, default=None)
    if best is None or best.score < SUGGEST_MIN:
        return None, None
    entry = ctx.services.kb.entry(best.entry_id, locale)
    return (entry.answer, entry.id) if entry is not None else (None, None)


@router.handler
async def intake_item(ctx: Context) -> bool:
    """A review or post from the intake API: store it; open a ticket when it is negative."""
    if ctx.inbound.channel != "intake":
        return False
    item = ctx.inbound.feedback
    if not isinstance(item, dict):
        return True  # nothing to file; never answer on the intake channel
    locale = normalise_locale(item.get("language")) or ctx.locale
    # the review model may run (~10-20 ms): off the event loop
    verdict = await asyncio.to_thread(
        sentiment.classify, str(item.get("text") or ""), item.get("rating"))
    row = _row(ctx, item, verdict, item.get("language") or ctx.locale)
    if verdict != "negative":
        return True
    row.suggested_reply, row.suggested_entry_id = await _suggestion(ctx, row.text, locale)
    ticket = Ticket(
        conversation_id=ctx.conversation.id,
        customer_id=ctx.customer.id,
        channel="intake",
        status=OPEN,
        priority="high" if item.get("rating") == 1 else "normal",
        reason="negative_feedback",
        subject=f"{row.source}: {row.text}"[:200],
        created_at=utcnow(),
    )
    ctx.session.add(ticket)
    await ctx.session.flush()
    row.ticket_id = ticket.id
    ctx.state.update({"feedback_id": row.id, "feedback_url": row.url,
                      "suggested_reply": row.suggested_reply})
    ctx.save_state()
    ctx.conversation.mode = "human"
    await desk_notify.tell(ctx, "escalated", ticket)
    await ctx.routing.emit(escalation.TICKET_OPENED, ctx, ticket)
    return True


@router.handler
async def feedback_form(ctx: Context) -> bool:
    """The widget's rating form: thank the customer; a low rating goes to a person."""
    if (ctx.inbound.channel != "web" or ctx.inbound.kind != "callback"
            or ctx.inbound.callback_data != "feedback_form"):
        return False
    item = ctx.inbound.feedback
    if not isinstance(item, dict):
        return False
    rating = item.get("rating")
    low = isinstance(rating, int) and rating <= LOW_RATING
    verdict = await asyncio.to_thread(sentiment.classify, str(item.get("text") or ""), rating)
    row = _row(ctx, item, verdict, ctx.locale)
    if not low:
        ctx.reply(ctx.t("feedback_thanks"))
        return True
    ctx.reply(ctx.t("feedback_sorry"))
    ticket = await escalation.escalate(ctx, reason="low_rating", priority="high")
    await ctx.session.flush()
    row.ticket_id = ticket.id
    return True
