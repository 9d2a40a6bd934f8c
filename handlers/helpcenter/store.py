"""What help-center visitors read, voted and did not find (storage/models_help.py).

Views are counted in memory and written in one statement per article every few seconds
(:class:`ViewCounter`): a page view must not wait for a database write, and a busy article
must not make every view contend for one row. Votes and searches are written at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import background
from storage.models import utcnow
from storage.models_help import HelpArticleStat, HelpSearch, HelpVote
from storage.sql import dialect_insert

log = logging.getLogger("crmbot.help")

FLUSH_SECONDS = 5.0
MAX_COMMENT = 2000


async def _stat(session: AsyncSession, entry_id: str, locale: str) -> None:
    """Make sure the article's counter row exists (several processes may race to create it)."""
    await session.execute(
        dialect_insert(session)(HelpArticleStat.__table__)
        .values(entry_id=entry_id, locale=locale, views=0, helpful=0, unhelpful=0)
        .on_conflict_do_nothing(index_elements=["entry_id", "locale"]))


async def vote(session: AsyncSession, entry_id: str, locale: str, helpful: bool,
               comment: str) -> None:
    await _stat(session, entry_id, locale)
    column = HelpArticleStat.helpful if helpful else HelpArticleStat.unhelpful
    await session.execute(update(HelpArticleStat).where(
        HelpArticleStat.entry_id == entry_id, HelpArticleStat.locale == locale,
    ).values({column.key: column + 1}))
    session.add(HelpVote(entry_id=entry_id, locale=locale, helpful=helpful,
                         comment=comment.strip()[:MAX_COMMENT], created_at=utcnow()))


async def unmatched_search(session: AsyncSession, locale: str, query: str,
                           best: tuple[str, float] | None) -> None:
    session.add(HelpSearch(locale=locale, query=query[:500], created_at=utcnow(),
                           best_entry_id=best[0] if best else None,
                           best_score=round(best[1], 4) if best else None))


async def most_read(session: AsyncSession, locale: str, limit: int = 5) -> list[str]:
    rows = await session.scalars(
        select(HelpArticleStat.entry_id).where(HelpArticleStat.locale == locale,
                                               HelpArticleStat.views > 0)
        .order_by(HelpArticleStat.views.desc(), HelpArticleStat.entry_id).limit(limit))
    return list(rows.all())


class ViewCounter:
    """Article views counted in memory, added to the table every FLUSH_SECONDS."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._pending: Counter[tuple[str, str]] = Counter()

    def seen(self, entry_id: str, locale: str) -> None:
        self._pending[(entry_id, locale)] += 1

    async def flush(self) -> None:
        pending, self._pending = self._pending, Counter()
        if not pending:
            return
        try:
            async with self._sessions.begin() as session:
                for (entry_id, locale), n in sorted(pending.items()):
                    await _stat(session, entry_id, locale)
                    await session.execute(update(HelpArticleStat).where(
                        HelpArticleStat.entry_id == entry_id, HelpArticleStat.locale == locale,
                    ).values(views=HelpArticleStat.views + n))
        except Exception:
            log.exception("help center: %d view counts not written; kept for the next try",
                          sum(pending.values()))
            self._pending.update(pending)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(FLUSH_SECONDS)
                await self.flush()

        try:
            async with background.running(loop(), "crmbot-help-views"):
                yield
        finally:
            await self.flush()
