"""Agents' display names: staff appear as "Alice Berg", not as U0AGENT1.

A desk learns the names of the people who act through it (the Slack desk asks ``users.info``
when someone it has not seen for a day acts; bot/channels/slack/names.py) and stores them
here; the admin UI, the REST API and the reports read them. An agent without a stored name is
shown by id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, utcnow
from storage.sql import dialect_insert

FRESH_FOR = timedelta(days=1)


class AgentName(Base):
    __tablename__ = "agent_names"

    agent_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32))
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)


async def names(session: AsyncSession, ids: Iterable[str | None]) -> dict[str, str]:
    """Known display names of these agents (ids without one are absent)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await session.execute(
        select(AgentName.agent_id, AgentName.name).where(AgentName.agent_id.in_(wanted)))
    return {str(a): str(n) for a, n in rows.all()}


def label(agent_id: str | None, known: dict[str, str]) -> str | None:
    """"Alice Berg (U0AGENT1)" when the name is known, else the id."""
    if not agent_id:
        return None
    name = known.get(agent_id)
    return f"{name} ({agent_id})" if name else agent_id


async def is_fresh(sessions: async_sessionmaker[AsyncSession], agent_id: str,
                   now: datetime) -> bool:
    async with sessions() as session:
        fetched = await session.scalar(
            select(AgentName.fetched_at).where(AgentName.agent_id == agent_id))
    return fetched is not None and now - fetched < FRESH_FOR


async def remember(sessions: async_sessionmaker[AsyncSession], agent_id: str, name: str,
                   source: str) -> None:
    """Insert or refresh one name (concurrent writers: the last one wins)."""
    values = {"agent_id": agent_id, "name": name[:200], "source": source,
              "fetched_at": utcnow()}
    async with sessions.begin() as session:
        stmt = dialect_insert(session)(AgentName).values(**values)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={k: v for k, v in values.items() if k != "agent_id"}))
