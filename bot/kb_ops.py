"""Knowledge-base changes shared by the REST API, the admin UI and the Slack modal.

All writes go through storage/kb.py, which records a revision with the actor and bumps the KB
revision (every process reloads within about a second). After the commit this process reloads
at once, so "try it" and the next customer see the change immediately.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import Core
from knowledge.entries import KBEntry
from knowledge.matcher import MAX_SUGGESTIONS
from storage import admin as admin_repo
from storage import kb as kb_repo
from storage import unanswered
from storage.clean import clean_text
from storage.models import KBEntryRow, KBRevision

#: The longest wording :func:`add_phrasing` adds (the limit of an entry's question).
MAX_PHRASING = 4000


class Conflict(Exception):
    """Someone saved the entry after the editor loaded it; nothing was written."""

    def __init__(self, key: tuple[str, str], expected: int | None, actual: int | None) -> None:
        super().__init__(
            f"{key[0]} ({key[1]}) was changed by someone else (revision {actual}, "
            f"you edited {expected}); reload and apply your change again"
        )
        self.key, self.expected, self.actual = key, expected, actual


@dataclass(frozen=True)
class Saved:
    entry: KBEntry
    revision: int
    created: bool


async def entry_revision(
    session: AsyncSession, entry_id: str, locale: str, *, lock: bool = False
) -> int | None:
    """The entry's current revision (locked for the transaction on PostgreSQL when asked)."""
    stmt = select(KBEntryRow.revision).where(
        KBEntryRow.entry_id == entry_id, KBEntryRow.locale == locale
    )
    value = await session.scalar(stmt.with_for_update() if lock else stmt)
    return None if value is None else int(value)


async def save(
    session: AsyncSession, entries: list[KBEntry], actor: str,
    base: dict[tuple[str, str], int | None] | None = None,
) -> list[Saved]:
    """Upsert several entries in the caller's transaction; any conflict writes nothing.

    ``base`` maps (id, locale) to the revision the editor started from (None: "must be new").
    """
    base = base or {}
    for entry in entries:
        if entry.key in base:
            actual = await entry_revision(session, entry.id, entry.locale, lock=True)
            if actual != base[entry.key]:
                raise Conflict(entry.key, base[entry.key], actual)
    out = []
    for entry in entries:
        before = await entry_revision(session, entry.id, entry.locale)
        revision = await kb_repo.upsert(session, entry, actor)
        out.append(Saved(entry, revision, before is None))
    return out


async def add_phrasing(
    session: AsyncSession, entry_id: str, locale: str, text: str, actor: str
) -> Saved | None:
    """The customer's own wording as one more phrasing of an entry (a new revision, audited).

    Small KBs are where matching struggles most: three wordings per entry cannot cover how
    customers ask (docs/matching.md, the shop KBs). A question the bot could only suggest for,
    added to the entry it belongs to, is answered alone the next time it or a close wording is
    asked. The text is made storable (NUL and lone surrogates become U+FFFD). None when the
    entry already has this wording; LookupError when there is no entry (``entry_id``,
    ``locale``); ValueError for an empty or overlong wording or an invalid result.
    """
    revision = await entry_revision(session, entry_id, locale, lock=True)
    entry = await kb_repo.get(session, entry_id, locale)
    if entry is None or revision is None:
        raise LookupError(f"there is no entry {entry_id!r} in {locale!r}")
    wording = clean_text(text).strip()
    if not wording or len(wording) > MAX_PHRASING:
        raise ValueError(f"a phrasing is 1 to {MAX_PHRASING} characters")
    if wording.casefold() in {t.casefold() for t in entry.texts()}:
        return None
    try:
        taught = KBEntry.model_validate(
            {**entry.model_dump(), "phrasings": (*entry.phrasings, wording)})
    except ValidationError as exc:
        raise ValueError(f"{entry_id} ({locale}): {exc.errors()[0]['msg']}") from exc
    [saved] = await save(session, [taught], actor, {taught.key: revision})
    await admin_repo.audit(session, actor, "kb.add_phrasing", f"kb:{entry_id}/{locale}",
                           {"phrasing": wording, "revision": saved.revision})
    return saved


async def teach(
    core: Core, entry_id: str, locale: str, text: str, ids: list[int], actor: str
) -> tuple[Saved | None, int]:
    """:func:`add_phrasing` and close the unanswered rows ``ids`` in one transaction, then
    reload when the KB changed: (the new revision or None, rows closed). The admin UI and
    the REST API both teach through this."""
    async with core.sessions.begin() as session:
        saved = await add_phrasing(session, entry_id, locale, text, actor)
        closed = await unanswered.resolve(session, ids, entry_id)
    if saved is not None:
        await reload(core)
    return saved, closed


async def delete(session: AsyncSession, entry_id: str, locale: str, actor: str) -> bool:
    return await kb_repo.remove(session, entry_id, locale, actor)


async def revision_row(
    session: AsyncSession, entry_id: str, locale: str, revision: int
) -> KBRevision | None:
    for row in await kb_repo.history(session, entry_id, locale):
        if row.revision == revision:
            return row
    return None


async def restore(
    session: AsyncSession, entry_id: str, locale: str, revision: int, actor: str
) -> Saved:
    """Make an old revision current again (as a new revision, so history only grows)."""
    row = await revision_row(session, entry_id, locale, revision)
    if row is None:
        raise LookupError(f"{entry_id} ({locale}) has no revision {revision}")
    if row.data is None:
        raise ValueError(f"revision {revision} is a deletion; restore an earlier one")
    entry = KBEntry.model_validate(row.data)
    [saved] = await save(session, [entry], actor)
    await admin_repo.audit(session, actor, "kb.restore", f"kb:{entry_id}/{locale}",
                           {"from_revision": revision, "new_revision": saved.revision})
    return saved


async def import_entries(
    session: AsyncSession, entries: list[KBEntry], actor: str, source: str
) -> dict[str, int]:
    stats = await kb_repo.import_entries(session, entries, actor)
    await admin_repo.audit(session, actor, "kb.import", source, dict(stats))
    return stats


async def reload(core: Core) -> None:
    """Rebuild this process's matcher now (others follow through the KB revision)."""
    await core.services.kb.refresh_from(core.sessions)


def entry_json(entry: KBEntry, revision: int | None = None) -> dict[str, object]:
    data: dict[str, object] = entry.model_dump(mode="json")
    if revision is not None:
        data["revision"] = revision
    return data


def revision_json(row: KBRevision) -> dict[str, object]:
    return {
        "revision": row.revision, "action": row.action, "actor": row.actor,
        "created_at": row.created_at.isoformat(), "data": row.data,
    }


async def explain(core: Core, text: str, locale: str) -> dict[str, object]:
    """What the FAQ handler would do with ``text`` now: answer, suggest or fall back.

    Matched as the FAQ handler matches (``amatch``: in a worker thread where the matcher runs
    the encoder). The admin's "try a question" page and its API called the matcher on the
    event loop: an unsure question of the shipped tier held every conversation for 10-25 ms,
    the first one also for the encoder's load, a 4,000-character one for ~0.4 s.
    """
    kb = core.services.kb
    result = await kb.amatch(text, locale, limit=MAX_SUGGESTIONS)
    candidates = []
    for cand in result.candidates:
        entry = kb.entry(cand.entry_id, locale)
        candidates.append({
            "entry_id": cand.entry_id, "locale": entry.locale if entry else cand.locale,
            "score": round(cand.score, 4), "question": entry.question if entry else "",
            "answer": entry.answer if entry else "",
        })
    best = result.best
    if result.confident and best is not None and kb.entry(best.entry_id, locale) is not None:
        outcome = "answer"
    elif result.suggestions():
        outcome = "suggest"
    else:
        outcome = "fallback"
    return {"text": text, "locale": locale, "outcome": outcome, "confident": result.confident,
            "kb_revision": kb.revision, "candidates": candidates}
