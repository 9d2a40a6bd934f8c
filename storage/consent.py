"""Consent to announcements, stored on the customer (the surveys' contract, extended).

``Customer.attributes["consent"]`` is either ``false`` (nothing beyond the support conversation)
or a mapping of purposes to booleans (handlers/surveys/campaign.py reads ``"surveys"``). This module
owns the purpose ``"announcements"``: unlike surveys it is **opt-in**, so only an explicit
``true`` allows an announcement. Every change is appended to
``Customer.attributes["consent_history"]`` as ``{"purpose", "value", "source", "at"}`` (the
newest :data:`HISTORY_LIMIT` entries), which is the record of when and how consent was given.

Opting out takes effect at once for a broadcast in progress: the outbox asks
:func:`has_consent` again right before each announcement is sent (handlers/broadcast/guard.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import ChannelIdentity, Customer, utcnow
from storage.sql import is_postgres

PURPOSE = "announcements"
HISTORY_LIMIT = 50
SOURCES = ("telegram", "slack", "web", "widget", "intake", "terminal", "admin", "api", "import")


def has_consent(attributes: dict[str, Any] | None, purpose: str = PURPOSE) -> bool:
    """True only when the customer explicitly opted in to ``purpose``."""
    consent = (attributes or {}).get("consent")
    return isinstance(consent, dict) and consent.get(purpose) is True


def with_consent(
    attributes: dict[str, Any] | None, allowed: bool, source: str, at: datetime,
    purpose: str = PURPOSE,
) -> dict[str, Any]:
    """A new attributes dict with the purpose set and the change appended to the history.

    A blanket ``consent: false`` becomes ``{"surveys": false, ...}`` so that opting in to
    announcements does not silently re-enable surveys.
    """
    attrs = dict(attributes or {})
    current = attrs.get("consent")
    consent: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
    if current is False:
        consent["surveys"] = False
    consent[purpose] = allowed
    attrs["consent"] = consent
    history = list(attrs.get("consent_history") or [])
    history.append({"purpose": purpose, "value": allowed, "source": source[:40],
                    "at": at.isoformat()})
    attrs["consent_history"] = history[-HISTORY_LIMIT:]
    return attrs


async def set_consent(
    session: AsyncSession, customer_id: int, allowed: bool, source: str,
    *, now: datetime | None = None,
) -> bool:
    """Record the customer's choice in the caller's transaction; True when it changed."""
    stmt = select(Customer).where(Customer.id == customer_id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    customer = await session.scalar(stmt)
    if customer is None:
        raise ValueError(f"customer {customer_id} does not exist")
    changed = has_consent(customer.attributes) != allowed
    customer.attributes = with_consent(customer.attributes, allowed, source, now or utcnow())
    return changed


async def set_consent_for_identity(
    sessions: async_sessionmaker[AsyncSession], channel: str, external_id: str, allowed: bool,
    *, source: str | None = None,
) -> bool:
    """For channels (e.g. the web widget's toggle): set consent of whoever this identity is.

    Returns True when it changed; raises ValueError for an identity the bot has never seen.
    """
    async with sessions.begin() as session:
        customer_id = await session.scalar(
            select(ChannelIdentity.customer_id).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        )
        if customer_id is None:
            raise ValueError(f"no {channel} identity {external_id!r}")
        return await set_consent(session, int(customer_id), allowed, source or channel)


async def consent_of_identity(
    sessions: async_sessionmaker[AsyncSession], channel: str, external_id: str
) -> bool:
    """The widget's toggle state: has this identity's customer opted in?"""
    async with sessions() as session:
        attrs = await session.scalar(
            select(Customer.attributes)
            .join(ChannelIdentity, ChannelIdentity.customer_id == Customer.id)
            .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
        )
    return has_consent(attrs)
