"""Schema upgrades through Alembic, callable from the running event loop.

``crmbot run`` upgrades the embedded SQLite database by itself; production runs
``crmbot db upgrade`` explicitly before starting new code.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@lru_cache(maxsize=1)
def code_heads() -> frozenset[str]:
    """The head revisions of the migration scripts, read without importing Alembic.

    Alembic (with Mako and Pygments) costs ~0.1 s to import; every start of ``crmbot chat`` or
    ``crmbot kb list`` checks the schema, and it is nearly always current. The scripts'
    ``revision``/``down_revision`` are read with :mod:`ast`; a test compares the result with
    Alembic's own ``ScriptDirectory.get_heads()``.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        values = _assignments(path, ("revision", "down_revision"))
        revisions.add(str(values["revision"]))
        down = values.get("down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple):
            parents.update(str(d) for d in down)
    return frozenset(revisions - parents)


def _assignments(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """Module-level ``name = literal`` / ``name: type = literal`` values of a script."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text("utf-8")).body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            found[target.id] = ast.literal_eval(value)
    return found


async def database_heads(engine: AsyncEngine) -> frozenset[str]:
    """The revisions recorded in the database (empty for a new one)."""
    def _read(connection: Connection) -> frozenset[str]:
        if not inspect(connection).has_table("alembic_version"):
            return frozenset()
        rows = connection.execute(text("SELECT version_num FROM alembic_version"))
        return frozenset(str(row[0]) for row in rows)

    async with engine.connect() as conn:
        return await conn.run_sync(_read)


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> None:
    """Bring the database to ``revision`` on a connection of ``engine``.

    A database already at the heads is left alone without importing Alembic.
    """
    if revision == "heads" and await database_heads(engine) == code_heads():
        return
    from alembic import command

    cfg = alembic_config()

    def _run(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)


async def current_heads(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    """(revisions the database is at, revisions the code expects)."""
    return set(await database_heads(engine)), set(code_heads())
