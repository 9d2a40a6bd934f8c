"""The knowledge base as the running process sees it: entries plus a matcher built over them.

The matcher is rebuilt when the database's KB revision moves, so an admin's edit takes effect
in every process within one check, without a restart. Building happens off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import heap, metrics
from knowledge import store
from knowledge.entries import KBEntry
from knowledge.matcher import FUSED_KINDS, Matcher, MatchResult, build_matcher
from knowledge.store import is_stored, load_or_build
from storage import kb as kb_repo

log = logging.getLogger("crmbot.kb")


#: How long the message pipeline waits for a knowledge-base rebuild before it goes on with
#: the matcher it has. An edit is usually live well within it (0.4 s for 10,000 wordings with
#: the default tier, ~1.5 s with the fused one); a long build (a first build or an import of a
#: large KB: minutes for a fused one) finishes in the background, and a later batch picks it up.
REBUILD_WAIT = 3.0
#: A first load (nothing served yet) of a KB of more wordings than this whose fused matcher is
#: not on disk yet serves the default tier at once and the fused one when its build is done:
#: that build embeds every wording (~8 ms each on one core: ~8 s at 1,000 wordings, ~40 s at
#: the 5,000 the fused tier takes), and until the first load the server answers nothing.
STAGED_ABOVE = 1000


class KnowledgeService:
    """Entries by (id, locale) and the current matcher, refreshed by KB revision."""

    def __init__(
        self,
        default_locale: str,
        *,
        threshold: float | None = None,
        kind: str = "default",
        check_interval: float = 1.0,
        wrong_cost: float = 4.0,
        cache_dir: Path | None = None,
    ) -> None:
        self.default_locale = default_locale
        self._threshold = threshold
        self._kind = kind
        self._wrong_cost = wrong_cost
        self._check_interval = check_interval
        #: Built matchers on disk (knowledge/store.py): a restart loads instead of building.
        self._cache_dir = cache_dir
        self._revision = -1
        self._checked_at = 0.0
        self._entries: dict[tuple[str, str], KBEntry] = {}
        self._matcher: Matcher = build_matcher([], default_locale, threshold, kind)
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self._upgrade: asyncio.Task[None] | None = None

    @property
    def revision(self) -> int:
        return self._revision

    async def refresh(self, session: AsyncSession, *, force: bool = False) -> None:
        """Reload when the stored revision differs from ours (checked at most once a second)."""
        now = time.monotonic()
        if not force and now - self._checked_at < self._check_interval:
            return
        async with self._lock:
            self._checked_at = now
            revision = await kb_repo.current_revision(session)
            if revision == self._revision and not force:
                return
            # Plain columns, turned into entries in a worker thread: as ORM rows a KB of
            # 3,000 entries held the event loop ~50-90 ms at every edit, in every process.
            rows = await kb_repo.plain_rows(session, None)
            entries = await asyncio.to_thread(kb_repo.entries_from, rows)
            await self._load(entries, revision)

    async def refresh_from(
        self, sessions: async_sessionmaker[AsyncSession], *, force: bool = True
    ) -> None:
        """Refresh in a short session of its own (never inside a caller's transaction)."""
        async with sessions() as session:
            await self.refresh(session, force=force)

    async def refresh_soon(
        self, sessions: async_sessionmaker[AsyncSession], wait: float = REBUILD_WAIT
    ) -> None:
        """For the message pipeline, before a batch: pick up an edit, but wait for its rebuild
        at most ``wait`` seconds; past that the batch goes on with the current matcher (every
        conversation waits on the batch, and a large KB can take minutes to build). A failed
        refresh keeps the current matcher too (answers go on)."""
        task = self._background
        if task is None or task.done():
            if time.monotonic() - self._checked_at < self._check_interval:
                return  # checked within the interval: no task for every batch
            task = self._background = asyncio.create_task(
                self._refresh_logged(sessions), name="crmbot-kb-refresh")
        await asyncio.wait({task}, timeout=wait)

    async def _refresh_logged(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        try:
            await self.refresh_from(sessions, force=False)
        except store.BuildStopped:
            pass  # shutting down
        except Exception:
            log.exception("knowledge base refresh failed; answering from revision %s",
                          self._revision)

    async def stop_background(self) -> None:
        """Stop waiting for a background rebuild (at shutdown; a build already running in a
        worker thread ends on its own, a child build is terminated)."""
        store.stop_children()
        for task in (self._background, self._upgrade):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._background = self._upgrade = None

    async def _load(self, entries: Sequence[KBEntry], revision: int) -> None:
        staged = self._staged(entries)
        started = time.perf_counter()
        matcher = await self._build(entries, "default" if staged else self._kind)
        self._entries = {e.key: e for e in entries}
        self._matcher, self._revision = matcher, revision
        metrics.KB_REVISION.set(revision)
        heap.swapped()
        log.info(
            "knowledge base revision %s loaded: %d entries in %.0f ms%s",
            revision, len(entries), (time.perf_counter() - started) * 1000,
            f" (the {self._kind} matcher follows when built)" if staged else "",
        )
        if staged:
            self._upgrade = asyncio.create_task(self._upgrade_later(entries, revision),
                                                name="crmbot-kb-upgrade")

    def _staged(self, entries: Sequence[KBEntry]) -> bool:
        """Whether this load serves the default tier first (see :data:`STAGED_ABOVE`)."""
        if self._revision >= 0 or self._kind not in FUSED_KINDS:
            return False
        if sum(len(e.texts()) for e in entries if e.enabled) <= STAGED_ABOVE:
            return False
        build = (entries, self.default_locale, self._threshold, self._kind, self._wrong_cost)
        return not is_stored(build, self._cache_dir)

    async def _build(self, entries: Sequence[KBEntry], kind: str) -> Matcher:
        """``kind``'s matcher; with a fused kind configured, every build (the staged default
        one too) runs in a child process, so its peak never stays in the server."""
        return await asyncio.to_thread(
            load_or_build, entries, self.default_locale, self._threshold, kind,
            self._wrong_cost, self._cache_dir, isolated=self._kind in FUSED_KINDS,
        )

    async def _upgrade_later(self, entries: Sequence[KBEntry], revision: int) -> None:
        """Build the configured tier for ``revision`` and serve it, unless a later revision
        was loaded meanwhile (that load built the configured tier itself)."""
        started = time.perf_counter()
        try:
            matcher = await self._build(entries, self._kind)
        except store.BuildStopped:
            return  # shutting down
        except Exception:
            log.exception("building the %s matcher failed; the default one stays", self._kind)
            return
        async with self._lock:
            if self._revision == revision:
                self._matcher = matcher
                log.info("knowledge base revision %s: the %s matcher is live after %.0f s",
                         revision, self._kind, time.perf_counter() - started)
        del matcher
        heap.swapped()
        # The default tier's matcher is garbage now: give its pages back to the system.
        await asyncio.to_thread(store.release_memory)

    def entries(self) -> list[KBEntry]:
        """Every entry of the loaded revision (the help center builds its pages from these)."""
        return list(self._entries.values())

    def match(self, text: str, locale: str, limit: int = 3) -> MatchResult:
        return self._matcher.match(text, locale, limit)

    async def amatch(self, text: str, locale: str, limit: int = 3) -> MatchResult:
        """:meth:`match` for async code: in a worker thread when the matcher runs a sentence
        encoder per query (``CRMBOT_MATCHER=fused``: 10-20 ms), else directly (~1 ms)."""
        if getattr(self._matcher, "embeds", False):
            return await asyncio.to_thread(self.match, text, locale, limit)
        return self.match(text, locale, limit)

    def entry(self, entry_id: str, locale: str) -> KBEntry | None:
        """The entry in the wanted locale, else in the default locale, else any locale."""
        found = self._entries.get((entry_id, locale)) or self._entries.get(
            (entry_id, self.default_locale)
        )
        if found is not None:
            return found
        return next((e for (i, _), e in self._entries.items() if i == entry_id), None)
