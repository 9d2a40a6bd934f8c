"""Answering from the knowledge base, suggesting when unsure, and the polite fallback."""

from __future__ import annotations

from bot.context import Context
from bot.dispatcher import Router
from bot.messages import Button
from handlers.tickets import escalation
from knowledge.matcher import MAX_SUGGESTIONS, Candidate
from storage import unanswered

router = Router("faq", priority=50)
fallback_router = Router("fallback", priority=90)



def answer_entry(ctx: Context, entry_id: str, confidence: float | None) -> bool:
    """Send an entry's answer with "did this help?" buttons; False if the entry is gone.

    One message, not two: on Telegram a second message to the same chat waits a second
    (1 msg/s per chat), and the buttons belong to the answer they rate.
    """
    entry = ctx.services.kb.entry(entry_id, ctx.locale)
    if entry is None:
        return False
    text = entry.answer
    if entry.locale != ctx.locale:
        text = f"{text}\n\n{ctx.t('answer_other_language')}"
    buttons = ((
        Button(ctx.t("button_yes"), data=f"fb:{entry.id}:y"),
        Button(ctx.t("button_no"), data=f"fb:{entry.id}:n"),
    ),)
    ctx.reply(f"{text}\n\n{ctx.t('did_it_help')}", buttons, kb_entry_id=entry.id,
              confidence=confidence)
    ctx.state["last_answer"] = entry.id
    ctx.save_state()
    escalation.reset_abstains(ctx)
    return True


def _suggest(ctx: Context, candidates: tuple[Candidate, ...]) -> None:
    rows = []
    for cand in candidates:
        entry = ctx.services.kb.entry(cand.entry_id, ctx.locale)
        if entry is not None:
            rows.append((Button(entry.question[:60], data=f"faq:{entry.id}"),))
    rows.append((Button(ctx.t("button_human"), data="human"),))
    ctx.reply(ctx.t("suggestions_intro"), tuple(rows))


@router.handler
async def answer(ctx: Context) -> bool:
    if ctx.inbound.kind not in ("text", "edited") or not ctx.text:
        return False
    ctx.state["last_question"] = ctx.text[:500]
    ctx.save_state()
    result = await ctx.services.kb.amatch(ctx.text, ctx.locale, limit=MAX_SUGGESTIONS)
    best = result.best
    if best is not None and best.entry_id == ctx.state.pop("rejected_answer", None):
        ctx.save_state()  # they said it did not help, and ask again: a person should answer
        await escalation.escalate(ctx, reason="not_helpful_repeat")
        return True
    if result.confident and best is not None and answer_entry(ctx, best.entry_id, best.score):
        return True
    suggestions = result.suggestions()
    if not suggestions:
        return False
    unanswered.record(ctx.session, ctx.conversation.id, ctx.text, ctx.locale, "suggested",
                      suggestions[0].entry_id, suggestions[0].score)
    if escalation.note_abstain(ctx):
        await escalation.escalate(ctx, reason="bot_unsure")
        return True
    _suggest(ctx, suggestions)
    return True


def _not_a_question(ctx: Context) -> bool:
    """A command nobody knows ("/frobnicate") or a bare number with no button behind it is a
    slip, not a question the KB failed: say what works, and neither record it as unanswered
    nor count it towards a hand-over."""
    text = ctx.text
    if ctx.inbound.kind == "command" or text.startswith("/"):
        ctx.reply(ctx.t("unknown_command"))
        return True
    if text.isdigit() and len(text) <= 2:
        ctx.reply(ctx.t("not_a_choice", number=text))
        return True
    return False


@fallback_router.handler
async def fallback(ctx: Context) -> bool:
    if ctx.inbound.kind not in ("text", "edited", "command"):
        return False
    if _not_a_question(ctx):
        return True
    if ctx.inbound.kind != "command" and ctx.text:
        unanswered.record(ctx.session, ctx.conversation.id, ctx.text, ctx.locale, "fallback")
    if escalation.note_abstain(ctx):
        await escalation.escalate(ctx, reason="bot_unsure")
        return True
    ctx.reply(ctx.t("fallback"), ((Button(ctx.t("button_human"), data="human"),),))
    return True
