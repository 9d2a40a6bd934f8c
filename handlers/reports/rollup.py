"""The conversation-day roll-up: one row per conversation and local day, kept by triggers.

``report_conversation_days`` (storage/models_reports.py) holds, per conversation and local day
of the report time zone, exactly what the report's conversation-day pass used to compute from
the transcript on every report: messages in and out, customer messages (not button presses or
feedback), KB answers, "helpful"/"not helpful" presses, the first and last customer message
and the last KB answer. Triggers on ``messages`` (migration 0012reports) keep it exact:

* insert: the message's contribution is added to its row (created if missing);
* update of anything the row depends on (conversation, time, direction, sender, kind, KB entry,
  or the text of a feedback press) and delete: the affected rows (old and new key) are
  recomputed from the transcript, so minima and maxima stay right too.

On PostgreSQL an increment is one atomic upsert, and a recomputation first locks the row (making
it if missing): writers that changed the row before have committed by then, and the recount,
a new statement under READ COMMITTED, sees their messages; a writer whose message the recount
could not see adds its increment after the lock is released. Row locks, not advisory locks:
a bulk load touching 100,000 conversations in one transaction must not run out of lock
slots. SQLite has a single writer.

The local day depends on the report's time zone (the business-hours ``default`` team). The
roll-up is built for one zone, named in ``report_rollup_state``; a report in another zone
rebuilds it first (:func:`ensure`: one pass over the transcript, as long as one report used to
take). SQLite has no time zones: the zone's UTC offsets from each transition on, 1970–2100
(:func:`zone_offsets`, to the second, from Python's tz database), are stored in
``report_rollup_offsets`` and the trigger looks the offset up there; PostgreSQL uses its own
``timezone()``, as the reports always did. After a tz database update that changes the zone's
rules, rebuild (``crmbot report --rebuild-rollup``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    String,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from storage.models import Message, utcnow
from storage.models_reports import (
    ReportConversationDay,
    ReportRollupOffset,
    ReportRollupState,
)

log = logging.getLogger(__name__)

QUIET_KINDS = ("callback", "feedback")  # button presses are not "the customer wrote"
FIRST = datetime(1970, 1, 1, tzinfo=UTC)
LAST = datetime(2100, 1, 1, tzinfo=UTC)
BEGINNING = datetime(1, 1, 1, tzinfo=UTC)  # the first offset row holds from here
STEP = timedelta(hours=6)
COLUMNS = [c.name for c in ReportConversationDay.__table__.columns]


def _offset(tz: ZoneInfo, t: datetime) -> int:
    delta = t.astimezone(tz).utcoffset()
    return int(delta.total_seconds()) if delta else 0


@lru_cache(maxsize=8)
def zone_offsets(zone: str) -> tuple[tuple[datetime, int], ...]:
    """((since, offset seconds), ...): the zone's UTC offset from each instant on.

    The first row starts at year 1 (the offset of 1970 is assumed before 1970); transitions
    are found in 6-hour steps up to 2100 and located to the second by bisection.
    """
    tz = ZoneInfo(zone)
    out = [(BEGINNING, _offset(tz, FIRST))]
    t, current = FIRST, out[0][1]
    while t < LAST:
        nxt = t + STEP
        off = _offset(tz, nxt)
        if off != current:
            lo, hi = t, nxt  # offset(lo) == current, offset(hi) == off
            while hi - lo > timedelta(seconds=1):
                mid = lo + timedelta(seconds=(hi - lo) // timedelta(seconds=2))
                if _offset(tz, mid) == current:
                    lo = mid
                else:
                    hi = mid
            out.append((hi, off))
            current = off
        t = nxt
    return tuple(out)


def modifier(offset: int) -> str:
    """SQLite's date modifier for an offset: '+3600 seconds'."""
    return f"{offset:+d} seconds"


def day_of(
    col: Any, dialect: str, zone: str, lo: datetime | None = None, hi: datetime | None = None
) -> ColumnElement[Any]:
    """SQL: the local day of ``col`` in ``zone``, as the triggers compute it.

    PostgreSQL: ``date(timezone(zone, col))``. SQLite: ``date(col, <offset>)`` with the offset
    of the last transition at or before ``col`` (only transitions between ``lo`` and ``hi``,
    the span of the values, are spelled out).
    """
    if dialect == "postgresql":
        return func.date(func.timezone(zone, col))
    rows = list(zone_offsets(zone))
    if lo is not None:
        while len(rows) > 1 and rows[1][0] <= lo:
            rows.pop(0)
    if hi is not None:
        rows = [r for i, r in enumerate(rows) if i == 0 or r[0] <= hi]
    if len(rows) == 1:
        mod: Any = literal(modifier(rows[0][1]), String)
    else:
        whens = [
            (col < rows[i + 1][0], literal(modifier(rows[i][1]), String))
            for i in range(len(rows) - 1)
        ]
        mod = case(*whens, else_=literal(modifier(rows[-1][1]), String))
    return func.date(col, mod)


def grouped(
    dialect: str, zone: str, lo: datetime | None = None, hi: datetime | None = None
) -> Select[Any]:
    """The roll-up computed from scratch: the transcript grouped by conversation and day."""
    m = Message
    day = day_of(m.created_at, dialect, zone, lo, hi)
    customer = and_(m.sender == "customer", m.kind.not_in(QUIET_KINDS))
    answer = and_(m.sender == "bot", m.kb_entry_id.is_not(None))
    feedback = m.kind == "feedback"

    def count(cond: ColumnElement[bool]) -> Any:
        return func.sum(case((cond, 1), else_=0))

    return select(
        m.conversation_id,
        day.label("day"),
        count(m.direction == "in"),
        count(m.direction == "out"),
        count(customer),
        count(answer),
        count(and_(feedback, m.text == "helpful")),
        count(and_(feedback, m.text == "not_helpful")),
        func.min(case((customer, m.created_at))),
        func.max(case((customer, m.created_at))),
        func.max(case((answer, m.created_at))),
    ).group_by(m.conversation_id, day)


def rebuild_sync(conn: Connection, zone: str) -> None:
    """Empty the roll-up and build it for ``zone`` from the transcript (caller's transaction).

    On PostgreSQL writers of ``messages`` are held off until the caller commits (SHARE lock),
    so none of them can add to the roll-up in the zone it had before, and other rebuilds wait
    (EXCLUSIVE lock on the state; the triggers only read it).
    """
    ZoneInfo(zone)  # a bad name fails here, before anything is changed
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("LOCK TABLE report_rollup_state IN EXCLUSIVE MODE"))
        conn.execute(text("LOCK TABLE messages IN SHARE MODE"))
    for table in (ReportRollupState, ReportRollupOffset, ReportConversationDay):
        conn.execute(delete(table))
    conn.execute(
        insert(ReportRollupOffset),
        [{"since": since, "modifier": modifier(off)} for since, off in zone_offsets(zone)],
    )
    conn.execute(insert(ReportRollupState).values(id=1, zone=zone, built_at=utcnow()))
    lo, hi = conn.execute(select(func.min(Message.created_at), func.max(Message.created_at))).one()
    if lo is None:
        return
    lo, hi = _aware(lo), _aware(hi)
    conn.execute(insert(ReportConversationDay).from_select(COLUMNS, grouped(dialect, zone, lo, hi)))


def _aware(value: Any) -> datetime:
    """min()/max() of a timestamp column comes back as text on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def current_zone(session: AsyncSession) -> str | None:
    """The zone the roll-up is built for; None: not built."""
    zone = await session.scalar(select(ReportRollupState.zone).where(ReportRollupState.id == 1))
    return str(zone) if zone is not None else None


async def ensure(session: AsyncSession, zone: str) -> bool:
    """Rebuild the roll-up for ``zone`` in the session's transaction unless it is built for it.

    Returns True when it rebuilt. The report entry point (service.make_report) calls
    :func:`ensure_committed` first, so a report's own transaction normally finds it ready.
    """
    if await current_zone(session) == zone:
        return False
    if session.get_bind().dialect.name == "postgresql":
        # one rebuilder at a time (the triggers' reads of the state are not blocked); the
        # one that waited finds the zone built when it gets the lock
        await session.execute(text("LOCK TABLE report_rollup_state IN EXCLUSIVE MODE"))
        if await current_zone(session) == zone:
            return False
    log.warning("building the report roll-up for time zone %s", zone)
    conn = await session.connection()
    await conn.run_sync(rebuild_sync, zone)
    return True


async def ensure_committed(sessions: async_sessionmaker[AsyncSession], zone: str) -> bool:
    """:func:`ensure` in a transaction of its own (committed)."""
    async with sessions() as session:
        if await current_zone(session) == zone:
            return False
    async with sessions.begin() as session:
        return await ensure(session, zone)


async def rebuild(sessions: async_sessionmaker[AsyncSession], zone: str) -> None:
    """Rebuild unconditionally (after a tz database update), committed."""
    async with sessions.begin() as session:
        conn = await session.connection()
        await conn.run_sync(rebuild_sync, zone)
