"""Surveys in the conversation: the pending answer first, CSAT after a resolved ticket.

Priority 20: a customer's answer to a pending survey question is taken before FAQ matching.
What counts as an answer: a tap on a survey button (``sv:<run id>:<question>:<value>``), or
typed text that reads as one (a number in digits or words in en/sv/lv for a scale, an option
number or text for a choice, anything for a free-text question). Anything else is an unrelated
message: it is answered by the routers after this one (FAQ, escalation, ...) and then the
pending question is asked again. ``/survey`` repeats the question, ``/skip`` (or "skip",
"hoppa över", "izlaist") ends the survey. A run expires after CRMBOT_SURVEY_EXPIRE_HOURS.

A second tap on a button of an already answered question changes nothing (the answer row is
unique per run and question). A low score (the definition's ``alert``) reopens the CSAT's
ticket, or opens one, with reason ``low_score`` and priority ``high``, so it reaches the desk.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot import desk_notify
from bot.context import Context
from bot.dispatcher import Router
from bot.messages import parse_command
from handlers.surveys import answers, store
from handlers.surveys.definitions import Question, Survey, pick
from handlers.surveys.delivery import launch, render
from handlers.tickets import escalation
from storage import ticket_states as states
from storage.models import Ticket
from storage.models_surveys import SurveyRun

router = Router("surveys", priority=20)
log = logging.getLogger("crmbot.surveys")

Answer = tuple[int | None, str | None]


@router.on(escalation.TICKET_RESOLVED)
async def on_ticket_resolved(ctx: Context, ticket: Ticket) -> None:
    await start_csat(ctx, ticket)


async def start_csat(ctx: Context, ticket: Ticket) -> SurveyRun | None:
    """Queue the CSAT survey for a just-resolved ticket (on escalation's "ticket_resolved").

    Once per ticket (unique run per survey and ``ticket:<id>``), after CRMBOT_CSAT_DELAY_MINUTES
    and outside the customer's quiet hours, on the ticket's own conversation.
    """
    settings = ctx.services.settings
    if not settings.csat_survey:
        return None
    survey = await store.get_definition(ctx.session, settings.csat_survey)
    if survey is None:
        log.warning("CRMBOT_CSAT_SURVEY=%r does not exist; no CSAT sent", settings.csat_survey)
        return None
    return await launch(
        ctx.session, settings, ctx.services.translator, survey, ctx.conversation, ctx.customer,
        subject=f"ticket:{ticket.id}", now=ctx.now,
        delay=timedelta(minutes=settings.csat_delay_minutes),
        ticket_id=ticket.id, agent=ticket.assignee,
    )


async def _pending(ctx: Context) -> SurveyRun | None:
    """The conversation's pending run; an expired one is closed on the way."""
    run = await ctx.reads.pending_run(ctx.session, ctx.conversation.id, ctx.now)
    if run is not None and run.expires_at <= ctx.now:
        await store.close_run(ctx.session, run, "expired", ctx.now)
        return None
    return run


@router.handler
async def survey_button(ctx: Context) -> bool:
    data = ctx.inbound.callback_data or ""
    if ctx.inbound.kind != "callback" or not data.startswith("sv:"):
        return False
    parts = data.split(":", 3)
    run = None
    if len(parts) == 4 and parts[1].isdigit():
        run = await ctx.session.get(SurveyRun, int(parts[1]))
    if run is None or run.conversation_id != ctx.conversation.id:
        ctx.reply(ctx.t("survey_closed"))
        return True
    _, _, question_id, raw = parts
    if question_id in await store.answers_of(ctx.session, run.id):
        return True  # a second tap (or a redelivered one): counted once, nothing to say
    if run.status != store.ACTIVE or run.expires_at <= ctx.now or run.question != question_id:
        if run.status == store.ACTIVE and run.expires_at <= ctx.now:
            await store.close_run(ctx.session, run, "expired", ctx.now)
        ctx.reply(ctx.t("survey_closed"))
        return True
    survey, question = await _current(ctx, run)
    if survey is None or question is None:
        return True
    answer = _button_value(question, raw)
    if answer is None:
        ctx.reply(ctx.t("survey_closed"))
        return True
    await _accept(ctx, run, survey, question, answer)
    return True


@router.handler
async def survey_text(ctx: Context) -> bool:
    if ctx.inbound.kind not in ("text", "command"):
        return False
    command = parse_command(ctx.text)
    name = command[0] if command else None
    run = await _pending(ctx)
    if name in ("survey", "skip") and run is None:
        ctx.reply(ctx.t("survey_none"))
        return True
    if run is None or (command is not None and name not in ("survey", "skip")):
        return False
    survey, question = await _current(ctx, run)
    if survey is None or question is None:
        return False
    if name == "survey":
        _ask(ctx, survey, question, run)
        return True
    if name == "skip" or answers.is_skip(ctx.text):
        await _finish(ctx, run, survey, "skipped")
        return True
    answer = _typed_value(question, ctx.text)
    if answer is None:
        return await _interrupted(ctx, run, survey, question)
    await _accept(ctx, run, survey, question, answer)
    return True


async def _current(ctx: Context, run: SurveyRun) -> tuple[Survey | None, Question | None]:
    """The run's definition and pending question; a vanished one closes the run."""
    survey = await store.get_definition(ctx.session, run.survey_id)
    question = survey.question(run.question) if survey is not None else None
    if survey is None or question is None:
        log.warning("survey run %s: question %r of %r no longer exists; closed",
                    run.id, run.question, run.survey_id)
        await store.close_run(ctx.session, run, "completed", ctx.now)
        return None, None
    return survey, question


def _button_value(question: Question, raw: str) -> Answer | None:
    if question.kind == "scale":
        value = int(raw) if raw.isdigit() else None
        ok = value is not None and question.min <= value <= question.max
        return (value, None) if ok else None
    if question.kind == "choice":
        return (None, raw) if question.option(raw) is not None else None
    return None


def _typed_value(question: Question, text: str) -> Answer | None:
    if question.kind == "scale":
        value = answers.scale_value(question, text)
        return None if value is None else (value, None)
    if question.kind == "choice":
        option = answers.choice_value(question, text)
        return None if option is None else (None, option)
    return (None, text[:4000]) if text and not text.startswith("/") else None


def _ask(ctx: Context, survey: Survey, question: Question, run: SurveyRun,
         *, resume: bool = False) -> None:
    text, buttons = render(survey, question, run.id, ctx.locale, ctx.services.translator,
                           resume=resume)
    ctx.reply(text, buttons, meta={"survey_run": run.id})


async def _accept(ctx: Context, run: SurveyRun, survey: Survey, question: Question,
                  answer: Answer) -> None:
    if not await store.record_answer(ctx.session, run, question.id, *answer, ctx.now):
        return
    given = await store.answers_of(ctx.session, run.id)
    await _relay_comment(ctx, run, question, answer)
    following = survey.next_question(question.id, given)
    if following is None:
        await _finish(ctx, run, survey, "completed", given)
        return
    run.question = following.id
    _ask(ctx, survey, following, run)
    await _alert_if_low(ctx, run, survey, given)


async def _finish(ctx: Context, run: SurveyRun, survey: Survey, status: str,
                  given: dict[str, Answer] | None = None) -> None:
    await store.close_run(ctx.session, run, status, ctx.now)
    if status == "completed":
        ctx.reply(pick(survey.thanks, ctx.locale) if survey.thanks else ctx.t("survey_thanks"))
    else:
        ctx.reply(ctx.t("survey_skipped"))
    await _alert_if_low(ctx, run, survey, given or await store.answers_of(ctx.session, run.id))


async def _interrupted(ctx: Context, run: SurveyRun, survey: Survey, question: Question) -> bool:
    """Something unrelated mid-survey: let the later routers answer, then ask again."""
    await ctx.routing.dispatch_after(ctx, router.priority)
    if run.status == store.ACTIVE and ctx.conversation.mode == "bot":
        _ask(ctx, survey, question, run, resume=True)
    return True  # the later routers already ran: the dispatcher must not run them again


async def _relay_comment(ctx: Context, run: SurveyRun, question: Question,
                         answer: Answer) -> None:
    """A comment written while staff own the (re)opened ticket reaches them too."""
    if question.kind != "text" or run.alerted_at is None or ctx.conversation.mode != "human":
        return
    ticket = await escalation.open_ticket(ctx)
    if ticket is not None:
        await desk_notify.tell(ctx, "customer_wrote", ticket)


async def _alert_if_low(ctx: Context, run: SurveyRun, survey: Survey,
                        given: dict[str, Answer]) -> None:
    """Once per run: a score at or below the alert threshold opens or reopens a ticket."""
    alert = survey.alert
    if alert is None or run.alerted_at is not None:
        return
    score = given.get(alert.question, (None, None))[0]
    if score is None or score > alert.at_most:
        return
    if alert.with_comment and not _has_comment(survey, given):
        return
    run.alerted_at = ctx.now
    await raise_low_score(ctx, run)


def _has_comment(survey: Survey, given: dict[str, Answer]) -> bool:
    text_ids = {q.id for q in survey.questions if q.kind == "text"}
    return any(q in text_ids and t for q, (_, t) in given.items())


async def raise_low_score(ctx: Context, run: SurveyRun) -> Ticket:
    """Reopen the surveyed ticket if it was resolved (its agent keeps it), else escalate
    (reason low_score)."""
    ticket = await ctx.session.get(Ticket, run.ticket_id) if run.ticket_id else None
    mine = ticket is not None and ticket.conversation_id == ctx.conversation.id
    if ticket is None or not mine or not states.allowed(ticket, "reopen"):
        return await escalation.escalate(ctx, reason="low_score", priority="high")
    if await escalation.open_ticket(ctx) is not None:  # another case is open: use that one
        return await escalation.escalate(ctx, reason="low_score", priority="high")
    states.move(ticket, "reopen", ctx.now)  # whoever had the case keeps it
    ticket.priority = "high"
    ticket.reason = "low_score"
    ctx.conversation.mode = "human"
    ctx.reply(ctx.t("survey_low_score", ticket=ticket.id))
    await desk_notify.tell(ctx, "escalated", ticket, again=True)
    return ticket
