"""One customer as an agent needs to see them: every identity and conversation on every
channel, their messages across channels in one timeline, tickets, surveys answered, consent,
time zone, language and merges. Read by the REST API (``GET /api/v1/customers/{id}``), the admin
UI's customer page and the Slack desk (``/crmbot customer N``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.consent import has_consent
from storage.models import (
    ChannelIdentity,
    Conversation,
    Customer,
    Message,
    OutboxItem,
    Ticket,
)
from storage.models_identity import CustomerMerge
from storage.models_surveys import SurveyAnswer, SurveyRun

TIMELINE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One message of a customer's cross-channel history."""

    at: datetime
    channel: str
    conversation_id: int
    direction: str
    sender: str
    kind: str
    text: str
    #: For messages sent to the customer: what the platform reported (sent, delivered, read,
    #: failed) where it reports anything (WhatsApp), else None.
    delivery: str | None = None


async def customer_history(
    session: AsyncSession, customer_id: int, limit: int = 50
) -> list[HistoryEntry]:
    """The customer's last ``limit`` messages across all their conversations, oldest first.

    After channels are linked (or customers merged) this is the whole story for the agent: the
    desk can quote it in a ticket thread.
    """
    rows = (await session.execute(
        select(Message, Conversation.channel, OutboxItem.receipt, OutboxItem.status)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(OutboxItem, OutboxItem.message_id == Message.id)
        .where(Conversation.customer_id == customer_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(max(limit, 0))
    )).all()
    return [
        HistoryEntry(m.created_at, str(channel), m.conversation_id, m.direction, m.sender,
                     m.kind, m.text, receipt or ("failed" if status == "failed" else None))
        for m, channel, receipt, status in reversed(rows)
    ]


@dataclass
class CustomerView:
    customer: Customer
    identities: list[ChannelIdentity]
    conversations: list[Conversation]
    tickets: list[Ticket]
    timeline: list[HistoryEntry]
    surveys: list[dict[str, Any]]
    merges: list[CustomerMerge]

    @property
    def merged_into(self) -> int | None:
        value = (self.customer.attributes or {}).get("merged_into")
        return int(value) if isinstance(value, int) else None

    @property
    def announcements(self) -> bool:
        return has_consent(self.customer.attributes)


async def customer_view(
    session: AsyncSession, customer_id: int, limit: int = TIMELINE_LIMIT
) -> CustomerView | None:
    """Everything about one customer in a handful of queries; None if there is no such one."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return None

    async def rows(stmt: Any) -> list[Any]:
        return list((await session.scalars(stmt)).all())

    return CustomerView(
        customer=customer,
        identities=await rows(select(ChannelIdentity).where(
            ChannelIdentity.customer_id == customer_id).order_by(ChannelIdentity.id)),
        conversations=await rows(select(Conversation).where(
            Conversation.customer_id == customer_id).order_by(Conversation.id)),
        tickets=await rows(select(Ticket).where(
            Ticket.customer_id == customer_id).order_by(Ticket.id.desc())),
        timeline=await customer_history(session, customer_id, limit),
        surveys=await _surveys(session, customer_id),
        merges=await rows(select(CustomerMerge).where(or_(
            CustomerMerge.target_id == customer_id, CustomerMerge.source_id == customer_id))
            .order_by(CustomerMerge.id)),
    )


async def _surveys(session: AsyncSession, customer_id: int) -> list[dict[str, Any]]:
    """Answered survey questions, newest run first: survey, question, score, comment."""
    found = await session.execute(
        select(SurveyRun.id, SurveyRun.survey_id, SurveyRun.status, SurveyRun.ticket_id,
               SurveyAnswer.question, SurveyAnswer.value, SurveyAnswer.text)
        .join(SurveyAnswer, SurveyAnswer.run_id == SurveyRun.id)
        .where(SurveyRun.customer_id == customer_id)
        .order_by(SurveyRun.id.desc(), SurveyAnswer.id)
    )
    return [{"run_id": r[0], "survey_id": r[1], "status": r[2], "ticket_id": r[3],
             "question": r[4], "value": r[5], "text": r[6]} for r in found.all()]
