"""storage.db.uncancelled: a transaction outlives its caller's cancellation, on both backends.

Why it matters: cancelled mid-statement, a SQLite connection is hard-closed as a zombie that
keeps the write lock (the app's shutdown hit it: "database is locked" 30 s later).
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import session_factory, uncancelled
from storage.models import KBState


async def test_cancelled_caller_still_gets_a_whole_transaction(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    inside = asyncio.Event()
    release = asyncio.Event()

    async def transaction() -> str:
        async with sessions.begin() as session:
            await session.execute(text("UPDATE kb_state SET revision = revision + 41"))
            inside.set()
            await release.wait()  # the caller is cancelled while we are here
            await session.execute(text("UPDATE kb_state SET revision = revision + 1"))
        return "committed"

    async with sessions.begin() as session:
        session.add(KBState(id=1, revision=0))
    caller = asyncio.create_task(uncancelled(transaction()))
    await inside.wait()
    caller.cancel()
    await asyncio.sleep(0)
    assert not caller.done(), "the caller waits for the transaction to end"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    async with sessions.begin() as session:  # the write lock is free again
        assert await session.scalar(select(KBState.revision)) == 42
