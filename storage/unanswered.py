"""Customer questions the bot could not answer alone, for admins to turn into KB entries.

The FAQ handler records one row when it falls back or can only offer suggestions, and notes
which suggestion the customer picked, if any (:func:`note_pick`); recording
in the handler's transaction (instead of deriving it later from the transcript) stays right when
fallback texts, buttons or locales change. Rows are resolved when an admin creates an entry
from them, or dismissed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import utcnow
from storage.models_admin import UnansweredQuestion

MAX_TEXT = 500


@dataclass(frozen=True)
class OpenQuestion:
    """Open rows with the same text, folded into one line of the admin list."""

    text: str
    locale: str
    count: int
    last_seen: datetime
    outcome: str
    best_entry_id: str | None
    confidence: float | None
    ids: tuple[int, ...]
    #: the entry customers chose among the suggestions (the newest choice), if any did
    picked_entry_id: str | None = None

    @property
    def likely_entry_id(self) -> str | None:
        """The entry this question most likely belongs to: the customer's own pick, else the
        bot's closest guess (what the admin's teach form is filled in with)."""
        return self.picked_entry_id or self.best_entry_id


def record(
    session: AsyncSession, conversation_id: int | None, text: str, locale: str, outcome: str,
    best_entry_id: str | None = None, confidence: float | None = None,
) -> None:
    """Add one row to the caller's transaction (outcome: fallback, suggested, escalated)."""
    text = text.strip()[:MAX_TEXT]
    if not text:
        return
    session.add(UnansweredQuestion(
        conversation_id=conversation_id, text=text, locale=locale, outcome=outcome,
        best_entry_id=best_entry_id, confidence=confidence, created_at=utcnow(),
    ))


async def list_open(session: AsyncSession, *, limit: int = 200) -> list[OpenQuestion]:
    """Open questions grouped by case-folded text and locale, most recent first."""
    stmt = (
        select(UnansweredQuestion)
        .where(UnansweredQuestion.resolved_at.is_(None))
        .order_by(UnansweredQuestion.id.desc())
        .limit(limit * 20)
    )
    groups: dict[tuple[str, str], list[UnansweredQuestion]] = {}
    for row in (await session.scalars(stmt)).all():
        groups.setdefault((row.text.casefold(), row.locale), []).append(row)
    out = [
        OpenQuestion(text=rows[0].text, locale=rows[0].locale, count=len(rows),
                     last_seen=rows[0].created_at, outcome=rows[0].outcome,
                     best_entry_id=rows[0].best_entry_id, confidence=rows[0].confidence,
                     ids=tuple(r.id for r in rows),
                     picked_entry_id=next((r.picked_entry_id for r in rows if r.picked_entry_id),
                                          None))
        for rows in groups.values()
    ]
    return out[:limit]


def row_ids(text: str) -> list[int]:
    """Row ids from a form field ("12,13,14", as the admin pages send them); anything that is
    not a number is skipped."""
    return [int(i) for i in text.split(",") if i.strip().isdigit()]


async def note_pick(session: AsyncSession, conversation_id: int, entry_id: str) -> None:
    """The customer chose ``entry_id`` among the suggestions: mark the conversation's newest
    open question that got suggestions (in the caller's transaction). A pick long after, with
    no such question open, marks nothing."""
    newest = (
        select(func.max(UnansweredQuestion.id))
        .where(UnansweredQuestion.conversation_id == conversation_id,
               UnansweredQuestion.outcome == "suggested",
               UnansweredQuestion.resolved_at.is_(None))
        .scalar_subquery()
    )
    await session.execute(
        update(UnansweredQuestion).where(UnansweredQuestion.id == newest)
        .values(picked_entry_id=entry_id[:100])
    )


async def resolve(
    session: AsyncSession, ids: list[int], entry_id: str | None
) -> int:
    """Close rows (answered by ``entry_id``, or dismissed when it is None); returns the count."""
    if not ids:
        return 0
    result = await session.execute(
        update(UnansweredQuestion)
        .where(UnansweredQuestion.id.in_(ids), UnansweredQuestion.resolved_at.is_(None))
        .values(resolved_at=utcnow(), resolved_entry_id=entry_id or "-")
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def count_open(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(UnansweredQuestion).where(
        UnansweredQuestion.resolved_at.is_(None)
    )
    return int(await session.scalar(stmt) or 0)
