"""The message pipeline never waits long for a knowledge-base rebuild (bot/kb.py).

A first build or an import of a large KB takes minutes with the fused tier; every conversation
waits on the batch that refreshes the KB, so past REBUILD_WAIT the batch goes on with the
matcher it has, and the new revision is served once its build is done.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core import Core
from bot.kb import KnowledgeService
from knowledge.entries import KBEntry
from knowledge.formats import load_file
from knowledge.fusion import FusedMatcher
from knowledge.matcher import LexicalMatcher
from storage import kb as kb_repo
from storage.db import session_factory
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def check_every_time(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service looks for a new revision at most once a second; these tests edit at once."""
    monkeypatch.setattr(core.services.kb, "_check_interval", 0.0)


async def _edit(core: Core, answer: str) -> int:
    async with core.sessions.begin() as session:
        await kb_repo.upsert(
            session, KBEntry(id="slow_edit", locale="en", question="Do you gift wrap parcels?",
                             answer=answer), "test")
    async with core.sessions() as session:
        return await kb_repo.current_revision(session)


async def test_a_slow_rebuild_goes_on_in_the_background(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = core.services.kb
    before = kb.revision
    release = threading.Event()
    import bot.kb as kb_module

    real = kb_module.load_or_build

    def slow(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)  # a build that takes as long as the test wants
        return real(*args, **kwargs)

    monkeypatch.setattr(kb_module, "load_or_build", slow)
    revision = await _edit(core, "Yes, for 2 EUR.")
    started = time.perf_counter()
    await kb.refresh_soon(core.sessions, wait=0.2)
    assert time.perf_counter() - started < 5
    assert kb.revision == before, "the batch went on with the matcher it had"
    assert kb.match("where is my order", "en").best is not None, "and it still answers"
    await kb.refresh_soon(core.sessions, wait=0.2)  # a second batch does not start another
    release.set()
    assert await eventually(lambda: kb.revision == revision), "the slow build went live"
    assert kb.entry("slow_edit", "en") is not None
    await kb.stop_background()


async def test_a_quick_rebuild_is_live_for_the_same_batch(core: Core) -> None:
    revision = await _edit(core, "Yes, for free.")
    await core.services.kb.refresh_soon(core.sessions, wait=60)  # a loaded CI machine
    assert core.services.kb.revision == revision
    found = core.services.kb.entry("slow_edit", "en")
    assert found is not None and found.answer == "Yes, for free."


async def test_a_failed_refresh_keeps_the_current_matcher(
    core: Core, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    kb = core.services.kb
    before = kb.revision
    import bot.kb as kb_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(kb_module, "load_or_build", broken)
    await _edit(core, "Yes.")
    await kb.refresh_soon(core.sessions)
    assert kb.revision == before
    assert "refresh failed" in caplog.text
    assert kb.match("where is my order", "en").best is not None


async def test_an_edit_is_read_into_entries_off_the_event_loop(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As ORM rows a 3,000-entry KB held the event loop ~50-90 ms at every edit, in every
    process; the rows are now plain columns made into entries in a worker thread."""
    threads: list[int] = []
    real = kb_repo.entries_from

    def recorded(rows: Any) -> list[KBEntry]:
        threads.append(threading.get_ident())
        return real(rows)

    monkeypatch.setattr(kb_repo, "entries_from", recorded)
    kb = core.services.kb
    revision = await _edit(core, "Tomorrow, most likely.")
    await kb.refresh_from(core.sessions)
    assert kb.revision == revision and threads
    assert threading.get_ident() not in threads, "converted on the event loop"
    async with core.sessions() as session:
        assert sorted(kb.entries(), key=lambda e: e.key) == await kb_repo.list_entries(session)


async def test_a_large_kb_serves_the_default_tier_until_its_fused_matcher_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First start with nothing on disk: answers at once from the default tier, the fused
    matcher follows; a restart loads the stored fused matcher directly."""
    import bot.kb as kb_module

    monkeypatch.setattr(kb_module, "STAGED_ABOVE", 10)
    entries = load_file(ROOT / "tests" / "data" / "bank_k6.jsonl")
    first = KnowledgeService("en", kind="auto", cache_dir=tmp_path)
    await first._load(entries, 1)
    assert type(first._matcher) is LexicalMatcher
    assert first.match("I lost my card", "en").confident
    assert first._upgrade is not None
    await first._upgrade
    assert isinstance(first._matcher, FusedMatcher) and first.revision == 1
    again = KnowledgeService("en", kind="auto", cache_dir=tmp_path)
    await again._load(entries, 1)
    assert isinstance(again._matcher, FusedMatcher) and again._upgrade is None
    small = KnowledgeService("en", kind="auto", cache_dir=tmp_path / "other")
    monkeypatch.setattr(kb_module, "STAGED_ABOVE", 1000)
    await small._load(entries, 1)
    assert isinstance(small._matcher, FusedMatcher)


async def test_an_upgrade_for_an_older_revision_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.kb as kb_module

    monkeypatch.setattr(kb_module, "STAGED_ABOVE", 10)
    entries = load_file(ROOT / "tests" / "data" / "bank_k6.jsonl")
    service = KnowledgeService("en", kind="auto", cache_dir=tmp_path)
    await service._load(entries, 1)
    upgrade = service._upgrade
    await service._load(entries[:-1], 2)  # an edit lands before the upgrade is done
    assert upgrade is not None
    await upgrade
    assert service.revision == 2 and service.entry("transfer_failed", "en") is None
    assert isinstance(service._matcher, FusedMatcher)
    assert len(service._matcher.fusion["en"].index.centroids_t.T) == len(entries) - 1
    await service.stop_background()


async def test_a_large_import_lets_other_work_run_while_it_stages_rows(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Comparing and staging ~0.1 ms an entry without an await held the event loop ~0.2 s
    for 3,000 entries: the import now yields every YIELD_EVERY entries."""
    monkeypatch.setattr(kb_repo, "YIELD_EVERY", 10)
    ticks = 0
    seen: list[int] = []
    real = kb_repo._apply

    def staged(*args: Any) -> Any:
        seen.append(ticks)
        return real(*args)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    monkeypatch.setattr(kb_repo, "_apply", staged)
    task = asyncio.create_task(ticker())
    entries = [KBEntry(id=f"bulk_{n:03}", locale="en", question=f"Question {n}?",
                       answer=f"Answer {n}.") for n in range(50)]
    try:
        async with session_factory(engine).begin() as session:
            stats = await kb_repo.import_entries(session, entries, "test")
    finally:
        task.cancel()
    assert stats["created"] == 50 and len(seen) == 50
    assert len(set(seen)) >= 5, "other tasks ran between the chunks"
