"""Database access for one-shot CLI commands: an engine for the command's lifetime, the schema
checked first (so a CLI never writes to a database the running code would refuse)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from storage.clean import BadInput, db_id

T = TypeVar("T")


@asynccontextmanager
async def tool_sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    from bot.schema import ensure_schema
    from storage.db import create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        await ensure_schema(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction (all or nothing)."""
    async with tool_sessions(settings) as sessions, sessions.begin() as session:
        return await work(session)


def cli_id(text: str) -> int:
    """argparse ``type=`` for database ids: a clear usage error instead of an overflow."""
    try:
        return db_id(text)
    except BadInput as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
