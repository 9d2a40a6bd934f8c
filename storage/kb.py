"""Knowledge-base repository: current entries, revision history and the global KB revision.

Every change bumps ``kb_state.revision`` in the same transaction, which is how every running
process notices that its matcher is stale (no restart, no cross-process messaging).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Iterator

from sqlalchemy import Text, and_, cast, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.entries import KBEntry
from storage.models import KBEntryRow, KBRevision, KBState, utcnow

STATE_ID = 1
#: An import lets the event loop run other work after this many entries.
YIELD_EVERY = 200


def row_to_entry(row: KBEntryRow) -> KBEntry:
    return KBEntry(
        id=row.entry_id,
        locale=row.locale,
        question=row.question,
        phrasings=tuple(row.phrasings or ()),
        answer=row.answer,
        tags=tuple(row.tags or ()),
        enabled=row.enabled,
        public=row.public,
    )


async def current_revision(session: AsyncSession) -> int:
    value = await session.scalar(select(KBState.revision).where(KBState.id == STATE_ID))
    return int(value or 0)


async def _bump(session: AsyncSession) -> int:
    result = await session.execute(
        update(KBState)
        .where(KBState.id == STATE_ID)
        .values(revision=KBState.revision + 1)
        .returning(KBState.revision)
    )
    value = result.scalar()
    if value is None:
        session.add(KBState(id=STATE_ID, revision=1))
        await session.flush()
        return 1
    return int(value)


async def list_entries(
    session: AsyncSession, *, locale: str | None = None, after: tuple[str, str] | None = None,
    limit: int | None = None,
) -> list[KBEntry]:
    """Entries by (id, locale); ``after``/``limit`` read one page in SQL (keyset), so a page of
    a large KB does not load and convert every entry (the API's list did: ~0.15 s of the event
    loop per page at 3,000 entries, growing with the KB)."""
    stmt = select(KBEntryRow).order_by(KBEntryRow.entry_id, KBEntryRow.locale)
    if locale:
        stmt = stmt.where(KBEntryRow.locale == locale)
    if after is not None:
        entry_id, entry_locale = after
        stmt = stmt.where(or_(KBEntryRow.entry_id > entry_id,
                              and_(KBEntryRow.entry_id == entry_id,
                                   KBEntryRow.locale > entry_locale)))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [row_to_entry(r) for r in (await session.scalars(stmt)).all()]


async def entry_ids_page(
    session: AsyncSession, *, locale: str | None, after: str | None, limit: int
) -> list[str]:
    """Up to ``limit`` distinct entry ids after ``after``, in order (the admin list's page)."""
    stmt = select(KBEntryRow.entry_id).distinct().order_by(KBEntryRow.entry_id).limit(limit)
    if locale:
        stmt = stmt.where(KBEntryRow.locale == locale)
    if after is not None:
        stmt = stmt.where(KBEntryRow.entry_id > after)
    return list((await session.scalars(stmt)).all())


async def entries_of(
    session: AsyncSession, entry_ids: list[str], locale: str | None
) -> list[KBEntry]:
    """Every language version of these entries (only ``locale``'s if given), by (id, locale)."""
    if not entry_ids:
        return []
    stmt = (select(KBEntryRow).where(KBEntryRow.entry_id.in_(entry_ids))
            .order_by(KBEntryRow.entry_id, KBEntryRow.locale))
    if locale:
        stmt = stmt.where(KBEntryRow.locale == locale)
    return [row_to_entry(r) for r in (await session.scalars(stmt)).all()]


#: An entry as plain columns: id, locale, question, answer, phrasings and tags (their stored
#: JSON text), enabled, public.
PlainRow = tuple[str, str, str, str, str | None, str | None, bool, bool]


async def plain_rows(session: AsyncSession, locale: str | None) -> list[PlainRow]:
    """Every entry (of ``locale`` if given) by (id, locale), as plain columns.

    For the readers of a whole KB that serve one request (a search, an export): loading ORM
    rows and converting them to entries took ~45-90 ms of the event loop at 3,000 entries;
    plain columns with the JSON left undecoded ~15 ms, and the caller decodes them in a
    worker thread (:func:`entry_of`, :func:`strings`).
    """
    stmt = (select(KBEntryRow.entry_id, KBEntryRow.locale, KBEntryRow.question,
                   KBEntryRow.answer, cast(KBEntryRow.phrasings, Text),
                   cast(KBEntryRow.tags, Text), KBEntryRow.enabled, KBEntryRow.public)
            .order_by(KBEntryRow.entry_id, KBEntryRow.locale))
    if locale:
        stmt = stmt.where(KBEntryRow.locale == locale)
    return [(entry_id, loc, question, answer, phrasings, tags, enabled, public)
            for entry_id, loc, question, answer, phrasings, tags, enabled, public
            in (await session.execute(stmt)).all()]


def strings(raw: str | None) -> tuple[str, ...]:
    """A stored JSON list of strings (phrasings, tags) from its text."""
    value = json.loads(raw) if raw else None
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def entry_of(row: PlainRow) -> KBEntry:
    """The entry of a plain row (pydantic validates it: worth a worker thread in bulk)."""
    entry_id, locale, question, answer, phrasings, tags, enabled, public = row
    return KBEntry(id=entry_id, locale=locale, question=question, phrasings=strings(phrasings),
                   answer=answer, tags=strings(tags), enabled=enabled, public=public)


def entries_from(rows: Iterable[PlainRow]) -> list[KBEntry]:
    """Entries of plain rows (for a worker thread: ~20 µs each, a KB is thousands)."""
    return [entry_of(row) for row in rows]


async def entries_at(session: AsyncSession, keys: list[tuple[str, str]]) -> list[KBEntry]:
    """The entries at these (id, locale) keys, in the order given (a missing one is left out)."""
    if not keys:
        return []
    ids = sorted({entry_id for entry_id, _ in keys})
    rows = (await session.scalars(select(KBEntryRow).where(KBEntryRow.entry_id.in_(ids)))).all()
    found = {(r.entry_id, r.locale): r for r in rows}
    return [row_to_entry(found[k]) for k in keys if k in found]


async def count_ids(session: AsyncSession, locale: str | None) -> int:
    """How many distinct entries (of ``locale`` if given)."""
    stmt = select(func.count(func.distinct(KBEntryRow.entry_id)))
    if locale:
        stmt = stmt.where(KBEntryRow.locale == locale)
    return int(await session.scalar(stmt) or 0)


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(KBEntryRow)) or 0)


async def get(session: AsyncSession, entry_id: str, locale: str) -> KBEntry | None:
    row = await _row(session, entry_id, locale)
    return None if row is None else row_to_entry(row)


async def _row(session: AsyncSession, entry_id: str, locale: str) -> KBEntryRow | None:
    return await session.scalar(
        select(KBEntryRow).where(KBEntryRow.entry_id == entry_id, KBEntryRow.locale == locale)
    )


async def upsert(session: AsyncSession, entry: KBEntry, actor: str | None) -> int:
    """Create or change one entry; returns its new revision number. A no-op change is skipped."""
    row = await _row(session, entry.id, entry.locale)
    if row is not None and row_to_entry(row) == entry:
        return row.revision
    last = None if row is not None else (await _last_revisions(session, [entry])).get(
        (entry.id, entry.locale), 0)
    row = _apply(session, row, entry, actor, last)
    await _bump(session)
    return row.revision


def _apply(session: AsyncSession, row: KBEntryRow | None, entry: KBEntry, actor: str | None,
           last_revision: int | None) -> KBEntryRow:
    """Write ``entry`` into ``row`` (a new row continuing revision ``last_revision`` when None)
    and record the revision; the caller bumps the KB revision."""
    action = "update"
    if row is None:
        # A re-created entry continues its old history: revision numbers never repeat.
        row = KBEntryRow(entry_id=entry.id, locale=entry.locale, revision=last_revision or 0)
        session.add(row)
        action = "create"
    row.question, row.answer = entry.question, entry.answer
    row.phrasings, row.tags = list(entry.phrasings), list(entry.tags)
    row.enabled, row.public, row.revision = entry.enabled, entry.public, row.revision + 1
    row.updated_at, row.updated_by = utcnow(), actor
    data = entry.model_dump(mode="json")
    session.add(_revision(entry.id, entry.locale, row.revision, action, data, actor))
    return row


async def _last_revisions(
    session: AsyncSession, entries: list[KBEntry]
) -> dict[tuple[str, str], int]:
    """The highest recorded revision per (id, locale) among ``entries``, in one query."""
    found: dict[tuple[str, str], int] = {}
    for ids in _chunks({e.id for e in entries}):
        stmt = (select(KBRevision.entry_id, KBRevision.locale, func.max(KBRevision.revision))
                .where(KBRevision.entry_id.in_(ids))
                .group_by(KBRevision.entry_id, KBRevision.locale))
        found.update({(i, loc): int(r) for i, loc, r in (await session.execute(stmt)).all()})
    return found


def _chunks(ids: set[str], size: int = 5000) -> Iterator[list[str]]:
    """IN lists in slices: asyncpg allows 32,767 parameters per statement, SQLite 32,766."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


async def remove(session: AsyncSession, entry_id: str, locale: str, actor: str | None) -> bool:
    row = await _row(session, entry_id, locale)
    if row is None:
        return False
    session.add(_revision(entry_id, locale, row.revision + 1, "delete", None, actor))
    await session.execute(delete(KBEntryRow).where(KBEntryRow.id == row.id))
    await _bump(session)
    return True


async def import_entries(
    session: AsyncSession, entries: Iterable[KBEntry], actor: str | None
) -> dict[str, int]:
    """Upsert many entries in the caller's transaction (all or nothing), with a constant
    number of queries (a 10,000-entry import must not cost 50,000 round trips)."""
    todo = list(entries)
    rows: dict[tuple[str, str], KBEntryRow] = {}
    for ids in _chunks({e.id for e in todo}):
        found = await session.scalars(select(KBEntryRow).where(KBEntryRow.entry_id.in_(ids)))
        rows.update({(r.entry_id, r.locale): r for r in found.all()})
    last = await _last_revisions(session, [e for e in todo if (e.id, e.locale) not in rows])
    stats = {"created": 0, "updated": 0, "unchanged": 0}
    for number, entry in enumerate(todo, 1):
        if number % YIELD_EVERY == 0:
            # ~0.1 ms an entry of comparing and staging ORM rows: an import of 3,000 held
            # the event loop (every conversation) ~0.2 s in one piece; now ~20 ms at most
            await asyncio.sleep(0)
        key = (entry.id, entry.locale)
        row = rows.get(key)
        if row is not None and row_to_entry(row) == entry:
            stats["unchanged"] += 1
            continue
        stats["created" if row is None else "updated"] += 1
        rows[key] = _apply(session, row, entry, actor, last.get(key, 0))
    if stats["created"] or stats["updated"]:
        await _bump(session)
    return stats


async def history(session: AsyncSession, entry_id: str, locale: str) -> list[KBRevision]:
    stmt = (
        select(KBRevision)
        .where(KBRevision.entry_id == entry_id, KBRevision.locale == locale)
        .order_by(KBRevision.revision)
    )
    return list((await session.scalars(stmt)).all())


def _revision(
    entry_id: str, locale: str, revision: int, action: str, data: dict[str, object] | None,
    actor: str | None,
) -> KBRevision:
    return KBRevision(
        entry_id=entry_id, locale=locale, revision=revision, action=action, data=data, actor=actor
    )
