"""The schema check every process makes before it touches the database.

Its own module so that the CLI's database commands (``kb list``, ``token``, ...) need not
import the whole core (the matcher, scipy, the processor): ~0.3 s of every such command.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import ConfigError
from storage.db import is_sqlite
from storage.migrate import current_heads, upgrade


async def ensure_schema(engine: AsyncEngine) -> None:
    """SQLite upgrades itself; a PostgreSQL that is behind is a clear start-up error."""
    if is_sqlite(engine):
        await upgrade(engine)
        return
    db_heads, code_heads = await current_heads(engine)
    if db_heads != code_heads:
        raise ConfigError(
            f"database schema is at {sorted(db_heads) or 'nothing'}, this version needs "
            f"{sorted(code_heads)}: run `crmbot db upgrade` first"
        )
