"""Engine and session factory for SQLite (embedded default) and PostgreSQL.

SQLite needs three things the driver does not do by itself (see docs/architecture.md):
WAL, foreign keys, and BEGIN IMMEDIATE for every transaction, without which concurrent
read-modify-write transactions silently lose updates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

T = TypeVar("T")


async def uncancelled(work: Awaitable[T]) -> T:
    """Await a transaction that runs to its end even if the caller is cancelled meanwhile
    (the caller still sees the cancellation, after the transaction has ended).

    Why: a task cancelled in the middle of a statement makes SQLAlchemy hard-close its
    connection, and pysqlite closes it with the statement of a live cursor unfinalized; SQLite
    then keeps that connection as a zombie which still holds the write lock, so every later
    writer of the file waits ``busy_timeout`` and fails with "database is locked". Seen when
    the app shut down while the outbox was claiming items. Long-lived loops (processor,
    outbox) wrap their transactions in this.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(
    url: str, *, sqlite_synchronous: str = "NORMAL", echo: bool = False, **options: Any
) -> AsyncEngine:
    """Create the process's one engine; makes the SQLite file's folder when it is missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, sqlite_synchronous, echo)
    return create_async_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10, **options
    )


def _in_a_file(url: URL) -> bool:
    """A SQLite URL whose database lives in a file (not ``:memory:`` or ``mode=memory``)."""
    database = url.database
    return bool(database) and database != ":memory:" and "mode=memory" not in str(url)


def _sqlite_engine(url: str, synchronous: str, echo: bool) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if _in_a_file(make_url(url)):
        # One pooled connection. Every transaction is BEGIN IMMEDIATE, so SQLite admits one
        # at a time anyway; waiting for the pool's connection is a fair asyncio queue, while
        # waiting in SQLite's busy handler sleeps in growing steps (up to 100 ms) with the
        # lock often free again and wakes in random order: under load that gave the inbox
        # seconds-long stalls (bench/load.py p99). A nested session in one task would wait
        # for itself either way (busy_timeout before, pool_timeout now).
        options = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 30}
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, **options)
    install_sqlite_hooks(engine, synchronous)
    return engine


def install_sqlite_hooks(engine: AsyncEngine, synchronous: str = "NORMAL") -> None:
    """WAL + foreign keys + busy timeout on connect; BEGIN IMMEDIATE on every transaction."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


READER_CACHE_KB = 65_536
READER_MMAP_BYTES = 256 * 1024 * 1024


def sqlite_reader(engine: AsyncEngine) -> AsyncEngine | None:
    """A second, read-only engine on the same SQLite file, for long reads (reports); None for
    other databases and in-memory SQLite.

    Why: the main engine has one connection and begins every transaction IMMEDIATE, so a
    report of several seconds on it would hold up every write of the bot meanwhile. In WAL
    mode readers on their own connections run beside the writer, and two of them use two
    cores. Connections are not pooled: a report is rare and opens one or two.
    """
    if not is_sqlite(engine) or not _in_a_file(engine.url):
        return None
    reader = create_async_engine(engine.url, connect_args={"timeout": 30}, poolclass=NullPool)

    @event.listens_for(reader.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # A report groups and sorts a few hundred thousand rows: in memory, with a larger
        # page cache and the file mapped, not through temporary files.
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute(f"PRAGMA cache_size=-{READER_CACHE_KB}")
        cursor.execute(f"PRAGMA mmap_size={READER_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(reader.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")  # deferred: a snapshot, no write lock

    return reader


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
