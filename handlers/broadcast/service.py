"""Broadcast operations shared by the CLI and the REST API (one place for the rules)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from bot.config import Settings
from handlers.broadcast import store
from handlers.broadcast.segments import Preview, preview
from handlers.broadcast.spec import BroadcastSpec, parse


async def create(
    sessions: async_sessionmaker[AsyncSession], spec: BroadcastSpec, actor: str | None
) -> dict[str, Any]:
    async with sessions.begin() as session:
        row = await store.create(session, spec, actor)
        return store.as_json(row)


async def preview_spec(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, spec: BroadcastSpec
) -> Preview:
    async with sessions() as session:
        return await preview(session, spec.segment, settings.default_locale)


async def preview_id(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, broadcast_id: int
) -> Preview:
    async with sessions() as session:
        row = await store.get(session, broadcast_id)
        if row is None:
            raise LookupError(f"broadcast {broadcast_id} does not exist")
        spec = parse(row.spec)
        return await preview(session, spec.segment, settings.default_locale)


async def act(
    sessions: async_sessionmaker[AsyncSession], broadcast_id: int, action: str,
    *, send_at: datetime | None = None,
) -> dict[str, Any]:
    """send / pause / resume / cancel (LookupError, TransitionError for the caller to show)."""
    async with sessions.begin() as session:
        row = await store.transition(session, broadcast_id, action, send_at=send_at)
        return store.as_json(row)


async def status(
    sessions: async_sessionmaker[AsyncSession], broadcast_id: int
) -> dict[str, Any]:
    async with sessions() as session:
        row = await store.get(session, broadcast_id)
        if row is None:
            raise LookupError(f"broadcast {broadcast_id} does not exist")
        counts = await store.progress(session, broadcast_id)
        data = store.as_json(row, counts)
    for state, n in counts.items():
        metrics.BROADCAST_RECIPIENTS.labels(str(broadcast_id), state).set(n)
    return data


async def listing(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    async with sessions() as session:
        return [store.as_json(r) for r in await store.listing(session)]
