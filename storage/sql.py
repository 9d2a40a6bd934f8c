"""Small dialect helpers shared by the repositories (SQLite and PostgreSQL only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_name(session: AsyncSession) -> str:
    bind = session.get_bind()
    return bind.dialect.name


def is_postgres(session: AsyncSession) -> bool:
    return dialect_name(session) == "postgresql"


def dialect_insert(session: AsyncSession) -> Any:
    """The dialect's own ``insert`` construct (it has ``on_conflict_do_nothing``)."""
    return postgresql.insert if is_postgres(session) else sqlite.insert


async def insert_ignore(
    session: AsyncSession, table: Table, values: dict[str, Any], conflict: list[str]
) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new id, or None for a duplicate.

    Race-free on both backends, unlike SELECT-then-INSERT.
    """
    stmt = (
        dialect_insert(session)(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict)
        .returning(table.c.id)
    )
    result = await session.execute(stmt)
    row = result.first()
    return None if row is None else int(row[0])


async def advisory_xact_lock(session: AsyncSession, namespace: int, key: int) -> bool:
    """Try a PostgreSQL transaction-scoped advisory lock; always True on SQLite (one process)."""
    return bool(await advisory_xact_locks(session, namespace, [key]))


async def advisory_xact_wait(session: AsyncSession, namespace: int, key: int) -> None:
    """Wait for a PostgreSQL transaction-scoped advisory lock; a no-op on SQLite (one process,
    and BEGIN IMMEDIATE already serialises writers)."""
    if is_postgres(session):
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": namespace, "key": key}
        )


async def advisory_xact_locks(session: AsyncSession, namespace: int, keys: list[int]) -> list[int]:
    """Try the transaction-scoped advisory lock of each key in one round trip; the keys whose
    lock this transaction now holds (all of them on SQLite, which has one process)."""
    if not is_postgres(session) or not keys:
        return list(keys)
    result = await session.execute(
        text(
            "SELECT k FROM unnest(CAST(:keys AS integer[])) AS k "
            "WHERE pg_try_advisory_xact_lock(:ns, k)"
        ),
        {"ns": namespace, "keys": list(keys)},
    )
    return [int(k) for k in result.scalars()]
