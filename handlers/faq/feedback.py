"""Button presses on bot answers: "did this help?", suggestion picks, "talk to a person".

A suggestion pick is also noted on the question it answered (storage/unanswered.py), so the
admin's *Add as a phrasing of* is filled in with the customer's own choice.

Callback data formats (stable, they live in customers' chat history):
``fb:<entry id>:y|n``, ``faq:<entry id>``, ``human``.
"""

from __future__ import annotations

from bot.context import Context
from bot.dispatcher import Router
from bot.messages import Button
from handlers.faq import router as faq
from handlers.tickets import escalation
from storage import unanswered
from storage.models import Message, utcnow

router = Router("feedback", priority=15)


def _record(ctx: Context, kind: str, entry_id: str) -> None:
    ctx.session.add(
        Message(
            conversation_id=ctx.conversation.id,
            direction="in",
            sender="customer",
            text=kind,
            kind="feedback",
            kb_entry_id=entry_id,
            created_at=utcnow(),
        )
    )


@router.handler
async def helpful(ctx: Context) -> bool:
    data = ctx.inbound.callback_data or ""
    if ctx.inbound.kind != "callback" or not data.startswith("fb:"):
        return False
    _, entry_id, verdict = [*data.split(":", 2), "", ""][:3]
    if verdict == "y":
        _record(ctx, "helpful", entry_id)
        ctx.reply(ctx.t("helpful_thanks"))
        return True
    _record(ctx, "not_helpful", entry_id)
    ctx.state["rejected_answer"] = entry_id
    ctx.save_state()
    if escalation.note_abstain(ctx):
        await escalation.escalate(ctx, reason="not_helpful")
        return True
    ctx.reply(ctx.t("not_helpful"), ((Button(ctx.t("button_human"), data="human"),),))
    return True


@router.handler
async def suggestion(ctx: Context) -> bool:
    data = ctx.inbound.callback_data or ""
    if ctx.inbound.kind != "callback" or not data.startswith("faq:"):
        return False
    await unanswered.note_pick(ctx.session, ctx.conversation.id, data[4:])
    if not faq.answer_entry(ctx, data[4:], None):
        ctx.reply(ctx.t("fallback"))
    return True


@router.handler
async def human_button(ctx: Context) -> bool:
    if ctx.inbound.kind != "callback" or ctx.inbound.callback_data != "human":
        return False
    await escalation.escalate(ctx, reason="customer_request")
    return True
