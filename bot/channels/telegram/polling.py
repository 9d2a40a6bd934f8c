"""Long polling that never loses an update: store first, confirm after.

PTB's ``Updater`` confirms an update (the next ``getUpdates`` offset) as soon as it has been
fetched, before handlers run, so a crash loses it. Here the loop calls ``getUpdates`` itself
and moves the offset past an update only after ``Core.ingest`` has committed it. A crash
between the commit and the next ``getUpdates`` makes Telegram deliver the update again; the
inbox recognises the ``update_id`` and stores nothing twice. So the offset needs no table of
its own: Telegram keeps it, the inbox deduplicates.

Several processes on one PostgreSQL: only one may call ``getUpdates`` (Telegram answers 409 to
concurrent pollers). The poller first takes a session-level ``pg_try_advisory_lock`` on a
dedicated connection and holds it for as long as it polls; the others wait and take over when
that connection dies. On SQLite (one process) there is no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from telegram import Bot
from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError

from bot.channels.telegram.inbound import ALLOWED_UPDATES
from bot.channels.telegram.ingest import MalformedUpdate, UpdateSink

log = logging.getLogger("crmbot.telegram")

LOCK_NAMESPACE = 7302
MAX_BACKOFF = 30.0


class Poller:
    """The getUpdates loop of one bot."""

    def __init__(self, bot: Bot, sink: UpdateSink, *, timeout: int = 25, limit: int = 100):
        self._bot = bot
        self._sink = sink
        self._timeout = timeout
        self._limit = limit
        self.offset: int | None = None
        self.stored = 0

    async def run(self) -> None:
        """Poll forever; transient errors back off, nothing ever skips an unstored update."""
        failures = 0
        while True:
            try:
                await self.poll_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(MAX_BACKOFF, 0.5 * 2 ** min(failures, 6))
                _log_failure(exc, delay)
                await asyncio.sleep(delay)

    async def poll_once(self) -> int:
        """Fetch one batch and store it in order; returns how many updates were consumed."""
        updates = await self._bot.get_updates(
            offset=self.offset, timeout=self._timeout, limit=self._limit,
            allowed_updates=list(ALLOWED_UPDATES),
        )
        for update in updates:
            try:
                if await self._sink.store(update.to_dict()):
                    self.stored += 1
            except MalformedUpdate as exc:  # unreadable for ever: log it and move on
                log.error("telegram: skipping unreadable update %s: %s", update.update_id, exc)
            self.offset = update.update_id + 1  # consumed: only now may Telegram forget it
        return len(updates)


def _log_failure(exc: Exception, delay: float) -> None:
    if isinstance(exc, Conflict):
        log.error("telegram: getUpdates conflict (%s): a webhook is set or another poller "
                  "runs with this token; retrying in %.0fs", exc, delay)
    elif isinstance(exc, InvalidToken):
        log.error("telegram: token rejected by the Bot API; retrying in %.0fs", delay)
    elif isinstance(exc, NetworkError | TelegramError):
        log.warning("telegram: getUpdates failed (%s); retrying in %.1fs", exc, delay)
    else:
        log.exception("telegram: storing updates failed; retrying in %.1fs", delay)


@contextlib.asynccontextmanager
async def leadership(engine: AsyncEngine, bot_id: int) -> AsyncIterator[asyncio.Event]:
    """Hold the poller lock for this bot while the block runs; the event says "lost it".

    On SQLite the block simply runs (one process). On PostgreSQL this waits for the lock;
    a background check notices when the connection (and so the lock) is gone.
    """
    lost = asyncio.Event()
    if engine.dialect.name != "postgresql":
        yield lost
        return
    key = zlib.crc32(str(bot_id).encode()) & 0x7FFFFFFF
    async with engine.connect() as conn:
        await _acquire(conn, key)
        watch = asyncio.create_task(_watch(conn, lost))
        try:
            yield lost
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch
            with contextlib.suppress(Exception):
                await conn.execute(text("SELECT pg_advisory_unlock(:ns, :k)"),
                                   {"ns": LOCK_NAMESPACE, "k": key})
                await conn.commit()


async def _acquire(conn: AsyncConnection, key: int, interval: float = 2.0) -> None:
    announced = False
    while True:
        got = await conn.scalar(text("SELECT pg_try_advisory_lock(:ns, :k)"),
                                {"ns": LOCK_NAMESPACE, "k": key})
        await conn.commit()  # never sit "idle in transaction" while holding the lock
        if got:
            log.info("telegram: this process is the poller")
            return
        if not announced:
            log.info("telegram: another process polls this bot; standing by")
            announced = True
        await asyncio.sleep(interval)


async def _watch(conn: AsyncConnection, lost: asyncio.Event, interval: float = 5.0) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await conn.execute(text("SELECT 1"))
            await conn.commit()
        except Exception:
            log.error("telegram: lost the database connection holding the poller lock")
            lost.set()
            return


async def run_as_leader(engine: AsyncEngine, bot_id: int, poller: Poller) -> None:
    """Poll while holding leadership; on losing it, stop polling and compete again."""
    while True:
        try:
            async with leadership(engine, bot_id) as lost:
                poll = asyncio.create_task(poller.run())
                lose = asyncio.create_task(lost.wait())
                try:
                    await asyncio.wait({poll, lose}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (poll, lose):
                        task.cancel()
                    await asyncio.gather(poll, lose, return_exceptions=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("telegram: poller leadership failed; retrying")
        await asyncio.sleep(1.0)
