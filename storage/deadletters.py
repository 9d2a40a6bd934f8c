"""Dead letters (bot/deadletter.py): list them, and reopen one after the cause is fixed."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import InboundEvent


async def listing(
    sessions: async_sessionmaker[AsyncSession], limit: int = 100
) -> list[InboundEvent]:
    """The newest dead letters first."""
    async with sessions() as session:
        rows = await session.scalars(
            select(InboundEvent).where(InboundEvent.dead_at.is_not(None))
            .order_by(InboundEvent.dead_at.desc(), InboundEvent.id.desc()).limit(limit)
        )
        return list(rows.all())


async def reopen(sessions: async_sessionmaker[AsyncSession], event_id: int) -> bool:
    """Make a dead letter pending again with fresh attempts; False when it is not one.

    It is then the oldest pending event of its conversation, so it runs next there, after
    events that came later and were processed while it was dead (say so to whoever asks)."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(InboundEvent)
            .where(InboundEvent.id == event_id, InboundEvent.dead_at.is_not(None))
            .values(dead_at=None, processed_at=None, retry_at=None, attempts=0)
        )
        return bool(getattr(result, "rowcount", 0) == 1)
