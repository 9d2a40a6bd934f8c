"""The Alembic migrations produce exactly the schema the models describe, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.migrate import current_heads
from storage.models import Base


async def test_migrations_match_models(engine: AsyncEngine) -> None:
    def _diff(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        return list(compare_metadata(ctx, Base.metadata))

    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []
    db_heads, code_heads = await current_heads(engine)
    assert db_heads == code_heads


def test_heads_read_without_alembic_are_alembics() -> None:
    """code_heads() parses the scripts itself (start-up skips importing Alembic)."""
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config, code_heads

    script = ScriptDirectory.from_config(alembic_config())
    assert code_heads() == frozenset(script.get_heads())
    assert len({rev.revision for rev in script.walk_revisions()}) >= 20


async def test_a_database_at_the_heads_is_left_alone_and_one_behind_upgraded(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command
    from sqlalchemy import text

    from storage.migrate import code_heads, database_heads, upgrade

    calls: list[str] = []
    monkeypatch.setattr(command, "upgrade", lambda cfg, revision: calls.append(revision))
    assert await database_heads(engine) == code_heads()
    await upgrade(engine)
    assert calls == []
    behind = ("UPDATE alembic_version SET version_num = :to WHERE version_num = :at")
    async with engine.begin() as conn:  # as if the last migration had not run yet
        await conn.execute(text(behind), {"to": "0020sla", "at": "0021replies"})
    try:
        assert await database_heads(engine) != code_heads()
        await upgrade(engine)
        assert calls == ["heads"]
    finally:  # the database is shared with the next tests: put the real version back
        async with engine.begin() as conn:
            await conn.execute(text(behind), {"to": "0021replies", "at": "0020sla"})
