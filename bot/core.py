"""The platform-neutral core of one crmbot process, wired from settings.

Channel adapters get :meth:`Core.ingest` to store what customers send, and register
themselves in :attr:`Core.registry` to deliver what the outbox holds. Everything long-lived is
created here and owned by whoever calls :meth:`Core.background` (the aiohttp app's cleanup
context, or the terminal chat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import language, metrics
from bot.config import ConfigError, Settings
from bot.context import Services
from bot.desk import SupportDesk
from bot.messages import InboundMessage
from bot.outbox import OutboxDispatcher
from bot.ports import ChannelRegistry
from bot.processor import Processor
from bot.schema import ensure_schema
from knowledge import lemmatizer
from knowledge.formats import load_file
from storage import kb as kb_repo
from storage import outbox as outbox_repo
from storage import tickets as tickets_repo
from storage.db import is_sqlite
from storage.inbox import InboxWriter, IngestResult
from storage.sql import advisory_xact_wait

log = logging.getLogger("crmbot.core")


class UnknownTicket(LookupError):
    """A desk's staff action names a ticket that does not exist (or has no conversation)."""

SEED_LOCK = 7310  # advisory lock namespace for the first-start KB seed


@dataclass
class Core:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    services: Services
    processor: Processor
    outbox: OutboxDispatcher
    registry: ChannelRegistry
    inbox: InboxWriter = field(init=False)

    def __post_init__(self) -> None:
        self.inbox = InboxWriter(self.sessions)

    async def ingest(self, message: InboundMessage) -> IngestResult:
        """Store one inbound event durably; only after this returns may a channel ack it.

        The one way in for every channel. A desk's staff action (``message.staff``) goes to
        its ticket's conversation; :class:`UnknownTicket` if there is none."""
        message = message.sanitized()
        if message.staff is not None:
            staff = await tickets_repo.ingest_staff(self.sessions, message)
            if staff is None:
                raise UnknownTicket(message.staff.ticket)
            result = staff
        else:
            result = await self.inbox.store(message)
        if result.duplicate:
            metrics.INBOUND_DUPLICATES.labels(message.channel).inc()
        else:
            metrics.INBOUND.labels(message.channel).inc()
            self.processor.notify(result.conversation_id)
        return result

    async def prepare(self, *, warm_up: bool = True) -> None:
        """Schema check/upgrade, first-start KB seed, first KB load.

        ``warm_up=False`` leaves loading the language models (~0.5 s) to the first message, or
        to a thread of the caller's: ``crmbot chat`` prompts at once and loads them while the
        user types.
        """
        await ensure_schema(self.engine)
        if is_sqlite(self.engine):
            await release_orphaned_claims(self.sessions)
        await seed_kb(self.sessions, self.settings.kb_seed)
        await asyncio.to_thread(lemmatizer.use_tries, self.settings.cache_path)
        await self.services.kb.refresh_from(self.sessions)
        if warm_up:
            await asyncio.to_thread(language.warm_up)

    @contextlib.asynccontextmanager
    async def background(self) -> AsyncIterator[None]:
        """Run the processor and the outbox dispatcher for the duration of the block."""
        tasks = [
            asyncio.create_task(self.processor.run(), name="crmbot-processor"),
            asyncio.create_task(self.outbox.run(), name="crmbot-outbox"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.services.kb.stop_background()

    def set_desk(self, desk: SupportDesk) -> None:
        self.services.desk = desk

    async def close(self) -> None:
        await self.engine.dispose()


async def release_orphaned_claims(sessions: async_sessionmaker[AsyncSession]) -> None:
    """SQLite has one process: items it had claimed when it died are free again now, without
    waiting for their leases (they may have been sent: the documented window)."""
    async with sessions.begin() as session:
        released = await outbox_repo.release_all_claims(session)
    if released:
        metrics.OUTBOX_LEASE_EXPIRED.inc(released)
        log.warning("%d outbox item(s) were being sent when the last process stopped", released)


async def seed_kb(sessions: async_sessionmaker[AsyncSession], seed: Path | None) -> None:
    """Import the seed KB into an empty knowledge base (first start only)."""
    if seed is None or not str(seed):
        return
    async with sessions.begin() as session:
        # Several workers start at once on PostgreSQL: one seeds, the others then see entries.
        await advisory_xact_wait(session, SEED_LOCK, 0)
        if await kb_repo.count(session) > 0:
            return
        try:
            entries = await asyncio.to_thread(load_file, Path(seed))
        except FileNotFoundError:
            raise ConfigError(f"CRMBOT_KB_SEED: file {seed} does not exist") from None
        stats = await kb_repo.import_entries(session, entries, actor="seed")
    log.info("knowledge base seeded from %s: %s", seed, stats)
