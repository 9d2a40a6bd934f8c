"""A small, fully known data set for the report tests (values worked out by hand).

Period: local days 2026-03-23 (Mon) .. 2026-03-29 (Sun) in Europe/Stockholm, which contains
the switch to summer time (29 March 01:00 UTC). Some messages sit on purpose where UTC and
local days differ: 28 March 23:30 UTC is 29 March locally; 29 March 22:30 UTC is already
30 March (outside the period) in summer time but would be inside with a fixed +1 offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ChannelIdentity,
    Conversation,
    Customer,
    Message,
    OutboxItem,
    Ticket,
)
from storage.models_admin import UnansweredQuestion
from storage.models_broadcast import Broadcast, BroadcastRecipient
from storage.models_feedback import Feedback
from storage.models_surveys import SurveyAnswer, SurveyRun

NOW = datetime(2026, 4, 5, 12, 0, tzinfo=UTC)


def t(day: int, hh: int, mm: int = 0, ss: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hh, mm, ss, tzinfo=UTC)


# conversation key -> (customer locale, channel)
CONVS = {1: ("en", "telegram"), 2: ("sv", "web"), 3: (None, "telegram"), 4: ("en", "web"),
         5: ("lv", "telegram")}

# (conv, time, direction, sender, kind, text, kb entry)
MESSAGES: list[tuple[int, datetime, str, str, str, str, str | None]] = [
    (1, t(23, 10), "in", "customer", "text", "when does my card come", None),
    (1, t(23, 10, 0, 5), "out", "bot", "text", "answer", "card_arrival"),
    (1, t(23, 10, 1), "in", "customer", "callback", "fb:card_arrival:y", None),
    (1, t(23, 10, 1), "in", "customer", "feedback", "helpful", "card_arrival"),
    (1, t(23, 10, 1, 1), "out", "bot", "text", "thanks", None),
    (1, t(25, 8), "in", "customer", "text", "card again", None),
    (1, t(25, 8, 0, 5), "out", "bot", "text", "answer", "card_arrival"),
    (2, t(24, 12), "in", "customer", "text", "avgifter?", None),
    (2, t(24, 12, 0, 5), "out", "bot", "text", "svar", "fees"),
    (2, t(24, 12, 30), "in", "customer", "text", "men varför", None),
    (2, t(26, 9), "in", "customer", "text", "avgifter igen", None),
    (2, t(26, 9, 0, 5), "out", "bot", "text", "svar", "fees"),
    (2, t(26, 9, 30), "out", "agent", "text", "hej från anna", None),
    (3, t(27, 15), "in", "customer", "text", "card?", None),
    (3, t(27, 15, 0, 5), "out", "bot", "text", "answer", "card_arrival"),
    (3, t(28, 10), "in", "customer", "text", "something odd", None),
    (3, t(28, 10, 0, 5), "out", "bot", "text", "fallback", None),
    (3, t(28, 23, 30), "in", "customer", "text", "card late night", None),
    (3, t(28, 23, 30, 5), "out", "bot", "text", "answer", "card_arrival"),
    (4, t(22, 22, 30), "in", "customer", "text", "fees previous week", None),
    (4, t(22, 22, 30, 5), "out", "bot", "text", "answer", "fees"),
    (4, t(23, 10), "in", "customer", "text", "close my account", None),
    (4, t(23, 10, 0, 5), "out", "bot", "text", "fallback", None),
    (5, t(24, 10), "in", "customer", "text", "komisija", None),
    (5, t(24, 10, 0, 5), "out", "bot", "text", "atbilde", "fees"),
    (5, t(24, 10, 1), "in", "customer", "callback", "fb:fees:n", None),
    (5, t(24, 10, 1), "in", "customer", "feedback", "not_helpful", "fees"),
    (5, t(24, 10, 1, 1), "out", "bot", "text", "sorry", None),
    (5, t(29, 21, 30), "in", "customer", "text", "komisija vēlreiz", None),
    (5, t(29, 21, 30, 5), "out", "bot", "text", "atbilde", "fees"),
    (5, t(29, 22, 30), "in", "customer", "text", "paldies, bet", None),
]

# key -> (conv, customer conv, channel, reason, assignee, created, first response, resolved)
TICKETS: dict[str, tuple[int | None, int, str, str, str | None, datetime,
                         datetime | None, datetime | None]] = {
    "T1": (2, 2, "web", "customer_request", "anna", t(26, 9, 5), t(26, 9, 30), t(26, 11, 5)),
    "T2": (5, 5, "telegram", "not_helpful", "bob", t(20, 14, 50), t(23, 8, 10), t(24, 9)),
    "T3": (3, 3, "telegram", "keyword", "anna", t(27, 15, 30), t(29, 10), None),
    "T4": (None, 4, "intake", "intake", None, t(23, 7), t(23, 8), t(23, 8, 30)),
    "T5": (2, 2, "web", "customer_request", None, t(10, 10), None, None),
    "T6": (2, 2, "web", "customer_request", None, t(29, 12), None, None),
}

# (survey, ticket key, channel, locale, agent, due, score)
SURVEYS: list[tuple[str, str | None, str, str, str | None, datetime, int | None]] = [
    ("csat", "T1", "web", "sv", "anna", t(26, 12), 5),
    ("csat", "T2", "telegram", "lv", "bob", t(24, 10), 2),
    ("csat", "T4", "intake", "en", None, t(23, 10), None),
    ("csat", None, "web", "en", None, t(22, 22, 30), 4),  # local 22 March: previous period
    ("nps", None, "telegram", "en", None, t(25, 9), 10),
    ("nps", None, "telegram", "en", None, t(25, 9), 7),
    ("nps", None, "web", "sv", None, t(26, 9), 3),
    ("nps", None, "web", "sv", None, t(27, 9), None),
    ("nps", None, "telegram", "lv", None, t(28, 9), 9),
]

UNANSWERED = [
    ("how do I close my account", "en", t(23, 10)),
    ("close my account please", "en", t(24, 10)),
    ("I want to close my account", "en", t(25, 10)),
    ("can I pay with bitcoin", "en", t(26, 10)),
    ("hur stänger jag mitt konto", "sv", t(27, 10)),
    ("old question", "en", t(18, 10)),
]

FEEDBACK = [(5, t(24, 10)), (2, t(25, 10)), (None, t(26, 10)), (1, t(18, 10))]


async def load(session: AsyncSession) -> dict[str, Any]:
    """Insert everything; returns ids by key for tests that need them."""
    convs: dict[int, Conversation] = {}
    for key, (locale, channel) in CONVS.items():
        consent: dict[str, Any] = {}
        if key == 1:
            consent = {"consent_history": [
                {"purpose": "announcements", "value": False, "source": "web",
                 "at": t(26, 10).isoformat()},
                {"purpose": "announcements", "value": False, "source": "web",
                 "at": t(18, 10).isoformat()},
                {"purpose": "announcements", "value": True, "source": "web",
                 "at": t(25, 10).isoformat()}]}
        customer = Customer(display_name=f"c{key}", locale=locale, attributes=consent,
                            created_at=t(1, 0))
        session.add(customer)
        await session.flush()
        ident = ChannelIdentity(customer_id=customer.id, channel=channel,
                                external_id=f"x{key}", created_at=t(1, 0))
        session.add(ident)
        await session.flush()
        conv = Conversation(customer_id=customer.id, identity_id=ident.id, channel=channel,
                            chat_id=f"x{key}", state={}, created_at=t(1, 0))
        session.add(conv)
        await session.flush()
        convs[key] = conv
    for conv_key, at, direction, sender, kind, text, kb in MESSAGES:
        session.add(Message(conversation_id=convs[conv_key].id, direction=direction,
                            sender=sender, kind=kind, text=text, kb_entry_id=kb,
                            created_at=at))
    tickets: dict[str, Ticket] = {}
    for key, (conv, cust, channel, reason, assignee, created, frt, resolved) in TICKETS.items():
        ticket = Ticket(conversation_id=convs[conv].id if conv else None,
                        customer_id=convs[cust].customer_id, channel=channel,
                        status="resolved" if resolved else "open", reason=reason,
                        assignee=assignee, created_at=created, first_response_at=frt,
                        resolved_at=resolved)
        session.add(ticket)
        await session.flush()
        tickets[key] = ticket
    for i, (survey, tkey, channel, locale, agent, due, score) in enumerate(SURVEYS):
        run = SurveyRun(survey_id=survey, subject=f"s{i}", conversation_id=convs[1].id,
                        customer_id=convs[1].customer_id,
                        ticket_id=tickets[tkey].id if tkey else None, channel=channel,
                        locale=locale, agent=agent, status="done", due_at=due,
                        expires_at=due + timedelta(days=3), created_at=due)
        session.add(run)
        await session.flush()
        if score is not None:
            session.add(SurveyAnswer(run_id=run.id, survey_id=survey, question="score",
                                     value=score, created_at=due))
    for text, locale, at in UNANSWERED:
        session.add(UnansweredQuestion(text=text, locale=locale, outcome="fallback",
                                       created_at=at))
    for i, (rating, at) in enumerate(FEEDBACK):  # explicit columns: also loaded at schema 0011
        await session.execute(insert(Feedback.__table__).values(
            source="widget", external_id=f"f{i}", rating=rating, text="", sentiment="neutral",
            created_at=at))
    await _broadcast(session, convs)
    return {"convs": convs, "tickets": tickets}


async def _broadcast(session: AsyncSession, convs: dict[int, Conversation]) -> None:
    b = Broadcast(name="spring", status="done", spec={}, created_at=t(25, 8),
                  started_at=t(25, 9))
    session.add(b)
    await session.flush()
    for key, status in ((1, "sent"), (2, "sent"), (3, "failed")):
        # Only these columns: the roll-up migration test loads this at schema 0011, before
        # later migrations added columns to the outbox.
        table = OutboxItem.__table__
        item_id = (await session.execute(insert(table).values(
            order_key=f"b:{key}", channel=CONVS[key][1], payload={}, status=status,
            created_at=t(25, 9), next_attempt_at=t(25, 9)).returning(table.c.id))).scalar_one()
        session.add(BroadcastRecipient(broadcast_id=b.id, customer_id=convs[key].customer_id,
                                       conversation_id=convs[key].id, channel=CONVS[key][1],
                                       locale="en", status="enqueued",
                                       outbox_item_id=item_id, due_at=t(25, 9)))
