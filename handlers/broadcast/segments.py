"""Who receives a broadcast: segment filters, consent and reachability, in customer-id batches.

Channel, locale, last contact and explicit ids are SQL filters; tags (``attributes["tags"]``),
other attributes and the survey score are checked per batch. A customer with several
conversations gets the announcement once, in their most recent conversation on an allowed
channel. Batches keep memory flat for any number of customers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import normalise_locale
from handlers.broadcast.spec import SegmentSpec
from storage.consent import has_consent
from storage.models import ChannelIdentity, Conversation, Customer, utcnow
from storage.models_surveys import SurveyAnswer, SurveyRun

BATCH = 1000


@dataclass(frozen=True, slots=True)
class Candidate:
    customer: Customer
    conversation_id: int
    channel: str
    locale: str


@dataclass
class Preview:
    eligible: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    by_locale: Counter[str] = field(default_factory=Counter)
    no_consent: int = 0
    unreachable: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"eligible": self.eligible, "by_channel": dict(self.by_channel),
                "by_locale": dict(self.by_locale), "excluded_no_consent": self.no_consent,
                "excluded_unreachable": self.unreachable}


def _customers(segment: SegmentSpec, default_locale: str, now: datetime) -> Select[Customer]:
    stmt = select(Customer)
    if segment.locales:
        stmt = stmt.where(func.coalesce(Customer.locale, default_locale).in_(segment.locales))
    if segment.contacted_within_days:
        stmt = stmt.where(
            Customer.last_contact_at >= now - timedelta(days=segment.contacted_within_days))
    if segment.not_contacted_within_days:
        stmt = stmt.where(
            Customer.last_contact_at < now - timedelta(days=segment.not_contacted_within_days))
    if segment.customer_ids is not None:
        stmt = stmt.where(Customer.id.in_(segment.customer_ids))
    return stmt


def _attributes_match(segment: SegmentSpec, attrs: dict[str, Any]) -> bool:
    if segment.tags:
        tags = attrs.get("tags") or []
        if not isinstance(tags, list) or not all(t in tags for t in segment.tags):
            return False
    return all(attrs.get(k) == v for k, v in (segment.attributes or {}).items())


async def _survey_ok(
    session: AsyncSession, segment: SegmentSpec, ids: list[int]
) -> set[int] | None:
    """Customers of ``ids`` whose answer to the segment's survey is in range (None = no filter).

    The score is the customer's latest numeric answer to that survey."""
    if segment.survey is None:
        return None
    rows = await session.execute(
        select(SurveyRun.customer_id, SurveyAnswer.value)
        .join(SurveyRun, SurveyRun.id == SurveyAnswer.run_id)
        .where(SurveyAnswer.survey_id == segment.survey.id, SurveyAnswer.value.is_not(None),
               SurveyRun.customer_id.in_(ids))
        .order_by(SurveyAnswer.id)
    )
    latest: dict[int, int] = {int(c): int(v) for c, v in rows.all() if v is not None}
    lo, hi = segment.survey.min, segment.survey.max
    return {c for c, v in latest.items()
            if (lo is None or v >= lo) and (hi is None or v <= hi)}


async def _conversations(
    session: AsyncSession, segment: SegmentSpec, ids: list[int]
) -> dict[int, tuple[int, str, bool]]:
    """customer id -> (latest conversation id, channel, unreachable) on an allowed channel."""
    stmt = (
        select(Conversation.customer_id, Conversation.id, Conversation.channel,
               ChannelIdentity.unreachable_reason)
        .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
        .where(Conversation.customer_id.in_(ids))
        .order_by(Conversation.id)
    )
    if segment.channels:
        stmt = stmt.where(Conversation.channel.in_(segment.channels))
    found: dict[int, tuple[int, str, bool]] = {}
    for customer_id, conv_id, channel, unreachable in (await session.execute(stmt)).all():
        found[int(customer_id)] = (int(conv_id), str(channel), unreachable is not None)
    return found


async def batches(
    session: AsyncSession, segment: SegmentSpec, default_locale: str, *,
    after_id: int = 0, batch: int = BATCH, preview: Preview | None = None,
    now: datetime | None = None,
) -> AsyncIterator[tuple[list[Candidate], int]]:
    """Yield (eligible candidates, last customer id looked at) per batch of customers."""
    base = _customers(segment, default_locale, now or utcnow())
    while True:
        customers = list((await session.scalars(
            base.where(Customer.id > after_id).order_by(Customer.id).limit(batch)
        )).all())
        if not customers:
            return
        after_id = customers[-1].id
        ids = [c.id for c in customers]
        survey_ok = await _survey_ok(session, segment, ids)
        convs = await _conversations(session, segment, ids)
        found: list[Candidate] = []
        for customer in customers:
            conv = convs.get(customer.id)
            attrs = customer.attributes or {}
            if conv is None or not _attributes_match(segment, attrs):
                continue
            if survey_ok is not None and customer.id not in survey_ok:
                continue
            if not has_consent(attrs):
                if preview:
                    preview.no_consent += 1
                continue
            if conv[2]:
                if preview:
                    preview.unreachable += 1
                continue
            locale = normalise_locale(customer.locale) or default_locale
            found.append(Candidate(customer, conv[0], conv[1], locale))
        yield found, after_id
        if len(customers) < batch:
            return


async def preview(
    session: AsyncSession, segment: SegmentSpec, default_locale: str
) -> Preview:
    """Count who would receive it now (nothing is stored)."""
    result = Preview()
    async for found, _ in batches(session, segment, default_locale, preview=result):
        result.eligible += len(found)
        result.by_channel.update(c.channel for c in found)
        result.by_locale.update(c.locale for c in found)
    return result
