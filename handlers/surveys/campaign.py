"""Survey campaigns (e.g. NPS): put a survey to a segment of customers, resumably.

One run row per recipient, unique on ``(survey_id, "campaign:<name>:<customer id>")``: running
the same campaign again (after a crash, or to pick up new customers) never sends anyone the
survey twice. Recipients are processed in batches of one transaction each; the outbox then
delivers at the channels' rate limits.

Who is left out, and why (counted in :class:`CampaignResult`):

* ``unreachable``: the channel identity has ``unreachable_reason`` (blocked the bot, deleted).
* ``opted_out``: the consent contract. ``Customer.attributes["consent"]`` may be
  ``false`` (no messages beyond the support conversation at all) or a mapping of purposes to
  booleans, where ``{"surveys": false}`` opts out of surveys. Absent means allowed: a survey
  is a service message. The announcements work may add stricter purposes; this function
  only reads ``consent`` and ``consent["surveys"]``.
* ``busy``: a person from staff owns the conversation right now (mode ``human``); not marked,
  so a later re-run of the campaign reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.i18n import Translator
from handlers.surveys import store
from handlers.surveys.delivery import launch
from storage.models import ChannelIdentity, Conversation, Customer, utcnow


@dataclass(frozen=True, slots=True)
class Segment:
    """Which customers: all given filters must hold (None = no filter)."""

    channel: str | None = None
    locale: str | None = None
    contacted_since: datetime | None = None
    contacted_before: datetime | None = None
    customer_ids: tuple[int, ...] | None = None


@dataclass(slots=True)
class CampaignResult:
    queued: int = 0
    already: int = 0
    unreachable: int = 0
    opted_out: int = 0
    busy: int = 0
    run_ids: list[int] = field(default_factory=list)


def opted_out(customer: Customer, purpose: str = "surveys") -> bool:
    """True when the customer's consent flag forbids this kind of message (see module doc)."""
    consent: Any = (customer.attributes or {}).get("consent")
    if consent is False:
        return True
    return isinstance(consent, dict) and consent.get(purpose) is False


def _query(
    segment: Segment, default_locale: str
) -> Select[Conversation, Customer, ChannelIdentity]:
    stmt = (
        select(Conversation, Customer, ChannelIdentity)
        .join(Customer, Customer.id == Conversation.customer_id)
        .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
    )
    if segment.channel:
        stmt = stmt.where(Conversation.channel == segment.channel)
    if segment.locale:
        stmt = stmt.where(func.coalesce(Customer.locale, default_locale) == segment.locale)
    if segment.contacted_since:
        stmt = stmt.where(Customer.last_contact_at >= segment.contacted_since)
    if segment.contacted_before:
        stmt = stmt.where(Customer.last_contact_at < segment.contacted_before)
    if segment.customer_ids is not None:
        stmt = stmt.where(Customer.id.in_(segment.customer_ids))
    return stmt.order_by(Conversation.id)


async def send_campaign(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    translator: Translator,
    survey_id: str,
    campaign: str,
    segment: Segment,
    *,
    batch: int = 200,
    now: datetime | None = None,
) -> CampaignResult:
    """Queue ``survey_id`` for every customer in ``segment`` not yet reached by ``campaign``."""
    result = CampaignResult()
    async with sessions() as session:
        survey = await store.get_definition(session, survey_id)
    if survey is None:
        raise ValueError(f"unknown survey {survey_id!r}")
    last_id = 0
    while True:
        async with sessions.begin() as session:
            rows = (await session.execute(
                _query(segment, settings.default_locale)
                .where(Conversation.id > last_id).limit(batch)
            )).all()
            for conversation, customer, identity in rows:
                last_id = conversation.id
                if identity.unreachable_reason:
                    result.unreachable += 1
                elif opted_out(customer):
                    result.opted_out += 1
                elif conversation.mode == "human":
                    result.busy += 1
                else:
                    run = await launch(
                        session, settings, translator, survey, conversation, customer,
                        subject=f"campaign:{campaign}:{customer.id}", now=now or utcnow(),
                        campaign=campaign,
                    )
                    if run is None:
                        result.already += 1
                    else:
                        result.queued += 1
                        result.run_ids.append(run.id)
        if len(rows) < batch:
            return result
