"""Putting a survey to a customer: render a question, create the run, queue the first message.

The first question goes through the outbox in the caller's transaction, with ``not_before``
when it is delayed (CRMBOT_CSAT_DELAY_MINUTES, quiet hours), so a scheduled survey survives a
restart. A due-now question is queued behind the conversation's other replies (order key
``conv:<id>``); a delayed one gets its own order key (``survey:<run id>``) because a future
item at the head of ``conv:<id>`` would hold back every reply to that customer until it is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.i18n import Translator, normalise_locale
from bot.messages import Button, OutboundMessage
from handlers.surveys import store
from handlers.surveys.definitions import Question, Survey, pick
from handlers.surveys.schedule import parse_quiet_hours, send_time, zone
from storage import outbox
from storage.models import Conversation, Customer, Message
from storage.models_surveys import SurveyRun

Buttons = tuple[tuple[Button, ...], ...]


def callback(run_id: int, question: str, value: str | int) -> str:
    """Button data ``sv:<run id>:<question>:<value>`` (stable: it lives in chat history)."""
    return f"sv:{run_id}:{question}:{value}"


def render(
    survey: Survey, question: Question, run_id: int, locale: str, translator: Translator,
    *, first: bool = False, resume: bool = False,
) -> tuple[str, Buttons]:
    """The question's text in ``locale`` with a typing hint, and its inline buttons."""
    lines: list[str] = []
    if resume:
        lines.append(translator.t("survey_resume", locale))
    if first and survey.intro:
        lines.append(pick(survey.intro, locale))
    lines.append(pick(question.text, locale))
    buttons: Buttons = ()
    if question.kind == "scale":
        lines.append(translator.t("survey_scale_hint", locale, min=question.min, max=question.max))
        values = list(range(question.min, question.max + 1))
        half = len(values) // 2
        rows = [values] if len(values) <= 6 else [values[:half], values[half:]]
        buttons = tuple(
            tuple(Button(str(v), data=callback(run_id, question.id, v)) for v in row)
            for row in rows
        )
    elif question.kind == "choice":
        for i, option in enumerate(question.options, 1):
            lines.append(f"{i}. {pick(option.text, locale)}")
        lines.append(translator.t("survey_choice_hint", locale))
        buttons = tuple(
            (Button(pick(o.text, locale), data=callback(run_id, question.id, o.id)),)
            for o in question.options
        )
    else:
        lines.append(translator.t("survey_text_hint", locale))
    return "\n".join(lines), buttons


def customer_zone(customer: Customer, settings: Settings) -> ZoneInfo:
    default = zone(settings.default_timezone, None) or ZoneInfo("UTC")
    return zone(customer.timezone, default) or default


def customer_locale(customer: Customer, settings: Settings) -> str:
    return normalise_locale(customer.locale) or settings.default_locale


async def launch(
    session: AsyncSession,
    settings: Settings,
    translator: Translator,
    survey: Survey,
    conversation: Conversation,
    customer: Customer,
    *,
    subject: str,
    now: datetime,
    delay: timedelta = timedelta(0),
    ticket_id: int | None = None,
    agent: str | None = None,
    campaign: str | None = None,
) -> SurveyRun | None:
    """Create the run (once per survey and subject) and queue its first question.

    Returns None when a run for this subject already exists: nothing is queued twice.
    """
    first = survey.next_question(None, {})
    if first is None:
        return None
    due = send_time(now, delay, parse_quiet_hours(settings.quiet_hours),
                    customer_zone(customer, settings))
    locale = customer_locale(customer, settings)
    run = await store.create_run(session, {
        "survey_id": survey.id, "subject": subject[:200], "campaign": campaign,
        "conversation_id": conversation.id, "customer_id": customer.id, "ticket_id": ticket_id,
        "channel": conversation.channel, "locale": locale, "agent": agent,
        "question": first.id, "due_at": due,
        "expires_at": due + timedelta(hours=settings.survey_expire_hours),
    })
    if run is None:
        return None
    text, buttons = render(survey, first, run.id, locale, translator, first=True)
    session.add(Message(conversation_id=conversation.id, direction="out", sender="bot",
                        text=text, kind="survey", created_at=due))
    delayed = due > now
    outbox.enqueue(
        session,
        OutboundMessage(channel=conversation.channel, chat_id=conversation.chat_id, text=text,
                        buttons=buttons, locale=locale, meta={"survey_run": run.id}),
        order_key=f"survey:{run.id}" if delayed else f"conv:{conversation.id}",
        conversation_id=conversation.id,
        not_before=due if delayed else None,
    )
    return run
