"""The read-only SQLite engine reports use (storage.db.sqlite_reader): it reads beside the
bot's writer instead of queueing behind it, and it cannot write."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy.exc
from sqlalchemy import func, select, text

from storage.db import create_engine, session_factory, sqlite_reader
from storage.migrate import upgrade
from storage.models import Customer


async def test_a_report_reader_neither_blocks_writes_nor_writes(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/r.db")
    await upgrade(engine)
    reader = sqlite_reader(engine)
    assert reader is not None
    writes, reads = session_factory(engine), session_factory(reader)
    try:
        async with reads() as report:
            assert await report.scalar(select(func.count()).select_from(Customer)) == 0
            # The report's transaction is open; the bot's one connection still writes at once
            # (before, the report ran on that connection and the write queued behind it).
            async with writes.begin() as bot:
                bot.add(Customer(display_name="Ann", attributes={}))
            assert await report.scalar(select(func.count()).select_from(Customer)) == 0, (
                "the report reads one snapshot")
            assert await report.scalar(text("PRAGMA temp_store")) == 2, "sorts in memory"
            with pytest.raises(sqlalchemy.exc.OperationalError, match="readonly"):
                await report.execute(text("DELETE FROM customers"))
        async with reads() as later:
            assert await later.scalar(select(func.count()).select_from(Customer)) == 1
    finally:
        await reader.dispose()
        await engine.dispose()


async def test_no_reader_for_memory_databases() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    assert sqlite_reader(engine) is None
    await engine.dispose()
