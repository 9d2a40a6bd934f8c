"""The conversation-day roll-up (handlers/reports/rollup.py, migration 0012reports) stays exact.

After every kind of change to the transcript (single and bulk inserts, moves in time and
between conversations, edits of feedback presses, deletes, customer merges, privacy erasure)
the trigger-maintained table equals the transcript grouped from scratch, and every report
figure read from it equals the figure computed from the transcript itself, on both backends.
The migration builds it for existing rows and goes down and up again.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import delete, insert, inspect, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.hours import hours_for
from handlers.reports import deflection, rollup
from handlers.reports.localday import as_date, offset_segments
from handlers.reports.metrics import Options, build_report
from handlers.reports.period import Period, local_days
from storage.db import create_engine, session_factory
from storage.merge import merge_customers, unmerge
from storage.migrate import alembic_config, upgrade
from storage.models import ChannelIdentity, Conversation, Customer, Message
from storage.models_reports import ReportConversationDay, ReportRollupState
from storage.privacy import erase_customer
from tests import report_data
from tests.report_data import NOW

TEAM = hours_for(None).team("default")
ZONE = TEAM.tz.key
PERIOD = local_days(date(2026, 3, 23), date(2026, 3, 29), TEAM.tz)
KINDS = [
    ("in", "customer", "text"),
    ("in", "customer", "callback"),
    ("in", "customer", "feedback"),
    ("in", "customer", "command"),
    ("out", "bot", "text"),
    ("out", "agent", "text"),
    ("in", "customer", "unsupported"),
]


async def _table(session: AsyncSession) -> list[tuple[Any, ...]]:
    rows = (await session.execute(select(ReportConversationDay))).scalars().all()
    return sorted(
        (
            r.conversation_id,
            as_date(r.day),
            r.n_in,
            r.n_out,
            r.n_customer,
            r.n_answers,
            r.n_helpful,
            r.n_unhelpful,
            r.first_customer,
            r.last_customer,
            r.last_answer,
        )
        for r in rows
    )


async def _scratch(session: AsyncSession, zone: str) -> list[tuple[Any, ...]]:
    dialect = session.get_bind().dialect.name
    rows = (await session.execute(rollup.grouped(dialect, zone))).all()
    return sorted((int(r[0]), as_date(r[1]), *(int(v) for v in r[2:8]), *r[8:]) for r in rows)


async def _assert_exact(engine: AsyncEngine, zone: str = ZONE) -> list[tuple[Any, ...]]:
    async with session_factory(engine)() as session:
        assert await rollup.current_zone(session) == zone
        table, scratch = await _table(session), await _scratch(session, zone)
    assert table == scratch
    return table


async def _figures(
    engine: AsyncEngine, periods: list[Period], use_rollup: bool, window_s: float = 24 * 3600.0
) -> list[Any]:
    async with session_factory(engine)() as session:
        figures = await deflection.figures(session, periods, window_s, NOW, rollup=use_rollup)
    return [
        (dict(f.head), f.daily, {k: {n: dict(v) for n, v in d.items()} for k, d in f.by.items()})
        for f in figures
    ]


async def _same_figures(
    engine: AsyncEngine, periods: list[Period], window_s: float = 24 * 3600.0
) -> list[Any]:
    fast = await _figures(engine, periods, True, window_s)
    assert fast == await _figures(engine, periods, False, window_s)
    if engine.dialect.name == "sqlite":  # SQLite's other loop order (deflection._rows_sqlite)
        real = deflection._rollup_in_key_order
        chosen = await _in_key_order(engine, periods)

        async def other(*_: object) -> bool:
            return not chosen

        deflection._rollup_in_key_order = other  # type: ignore[assignment]
        try:
            assert fast == await _figures(engine, periods, True, window_s)
        finally:
            deflection._rollup_in_key_order = real
    return fast


async def _in_key_order(engine: AsyncEngine, periods: list[Period]) -> bool:
    span = Period(min(p.start for p in periods), max(p.end for p in periods), periods[0].tz)
    async with session_factory(engine)() as session:
        return await deflection._rollup_in_key_order(session, span, engine.dialect.name)


async def _built(engine: AsyncEngine, zone: str = ZONE) -> None:
    """PostgreSQL tests start from TRUNCATEd tables (no roll-up state): build it, empty."""
    async with session_factory(engine).begin() as session:
        await rollup.ensure(session, zone)


async def _more_conversations(
    session: AsyncSession, conv: Conversation, channels: tuple[str, ...]
) -> list[int]:
    """Further conversations of the same customer (as after a merge, or a second chat)."""
    ids = []
    for i, channel in enumerate(channels):
        ident = ChannelIdentity(
            customer_id=conv.customer_id, channel=channel, external_id=f"more{conv.id}-{i}"
        )
        session.add(ident)
        await session.flush()
        more = Conversation(
            customer_id=conv.customer_id,
            identity_id=ident.id,
            channel=channel,
            chat_id=f"more{conv.id}-{i}",
            state={},
        )
        session.add(more)
        await session.flush()
        ids.append(more.id)
    return ids


async def _customers(session: AsyncSession, n: int) -> list[Conversation]:
    convs = []
    for i in range(n):
        customer = Customer(display_name=f"r{i}", locale=("en", "sv", None)[i % 3], attributes={})
        session.add(customer)
        await session.flush()
        ident = ChannelIdentity(
            customer_id=customer.id, channel=("web", "telegram")[i % 2], external_id=f"r{i}"
        )
        session.add(ident)
        await session.flush()
        conv = Conversation(
            customer_id=customer.id,
            identity_id=ident.id,
            channel=ident.channel,
            chat_id=f"r{i}",
            state={},
        )
        session.add(conv)
        await session.flush()
        convs.append(conv)
    return convs


def _random_messages(
    rng: random.Random, conv_ids: list[int], n: int, start: datetime, days: int
) -> list[dict[str, Any]]:
    """Messages crowded around local midnights and the DST switches of the period."""
    rows = []
    for _ in range(n):
        direction, sender, kind = rng.choice(KINDS)
        base = start + timedelta(days=rng.randrange(days))
        at = base + timedelta(
            hours=rng.choice((-1, 0, 1, 11, 21, 22, 23)),
            seconds=rng.randrange(7200),
            microseconds=rng.randrange(10**6),
        )
        kb = rng.choice(("fees", "card", None)) if sender == "bot" or kind == "feedback" else None
        body = rng.choice(("helpful", "not_helpful")) if kind == "feedback" else "x"
        rows.append(
            {
                "conversation_id": rng.choice(conv_ids),
                "direction": direction,
                "sender": sender,
                "kind": kind,
                "text": body,
                "kb_entry_id": kb,
                "created_at": at,
            }
        )
    return rows


async def test_rollup_equals_recomputation_after_inserts(engine: AsyncEngine) -> None:
    """The known data set row by row (ORM), then random messages one by one and in bulk."""
    await _built(engine)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        await report_data.load(session)
    table = await _assert_exact(engine)
    by_day = {(row[0], row[1]) for row in table}
    # 28 March 23:30 UTC is Stockholm's 29th (winter time); 29 March 22:30 UTC its 30th
    assert any(day == date(2026, 3, 29) for _, day in by_day)
    assert any(day == date(2026, 3, 30) for _, day in by_day)
    rng = random.Random(9)
    async with sessions.begin() as session:
        ids = [c.id for c in await _customers(session, 6)]
        for row in _random_messages(rng, ids, 60, datetime(2026, 3, 20, tzinfo=UTC), 14):
            session.add(Message(**row))
    await _assert_exact(engine)
    async with sessions.begin() as session:  # executemany
        await session.execute(
            insert(Message), _random_messages(rng, ids, 400, datetime(2026, 3, 20, tzinfo=UTC), 14)
        )
    await _assert_exact(engine)
    await _same_figures(engine, [PERIOD, PERIOD.previous()])


async def test_rollup_follows_updates_and_deletes(engine: AsyncEngine) -> None:
    await _built(engine)
    sessions = session_factory(engine)
    rng = random.Random(4)
    async with sessions.begin() as session:
        ids = [c.id for c in await _customers(session, 4)]
        await session.execute(
            insert(Message), _random_messages(rng, ids, 300, datetime(2026, 3, 22, tzinfo=UTC), 9)
        )
    async with sessions() as session:
        msgs = list((await session.scalars(select(Message).order_by(Message.id))).all())

    def shift(rows: list[Message], **change: Any) -> Any:
        async def run(session: AsyncSession) -> None:
            for m in rows:
                values = {k: v(m) if callable(v) else v for k, v in change.items()}
                await session.execute(update(Message).where(Message.id == m.id).values(**values))

        return run

    def statement(stmt: Any) -> Any:
        async def run(session: AsyncSession) -> None:
            await session.execute(stmt)

        return run

    steps = [
        # move in time, across local midnight and the DST switch (29 March 01:00 UTC)
        shift(msgs[0:40], created_at=lambda m: m.created_at + timedelta(hours=5)),
        shift(msgs[40:60], created_at=datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)),
        shift(msgs[60:70], created_at=datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC)),
        # move to another conversation (one row, then many in one statement)
        shift(
            msgs[70:71], conversation_id=ids[2] if msgs[70].conversation_id != ids[2] else ids[3]
        ),
        statement(
            update(Message)
            .where(Message.id.in_([m.id for m in msgs[71:120]]))
            .values(conversation_id=ids[0])
        ),
        # a press changes its mind, messages change kind, KB answers lose their entry
        statement(
            update(Message)
            .where(Message.kind == "feedback", Message.text == "helpful")
            .values(text="not_helpful")
        ),
        statement(
            update(Message)
            .where(Message.id.in_([m.id for m in msgs[120:140]]))
            .values(kind="callback")
        ),
        statement(update(Message).where(Message.sender == "bot").values(kb_entry_id=None)),
        statement(delete(Message).where(Message.id.in_([m.id for m in msgs[140:230]]))),
        statement(delete(Message).where(Message.conversation_id == ids[1])),
    ]
    before = await _assert_exact(engine)
    for i, step in enumerate(steps):
        async with sessions.begin() as session:
            await step(session)
        after = await _assert_exact(engine)
        assert after != before, i
        before = after
    async with sessions.begin() as session:  # nothing the roll-up depends on
        await session.execute(
            update(Message).where(Message.kind != "feedback").values(text="edited")
        )
    assert await _assert_exact(engine) == before
    async with sessions.begin() as session:
        await session.execute(delete(Message))
    assert await _assert_exact(engine) == []


async def test_merge_and_undo_keep_rollup_and_figures_exact(engine: AsyncEngine) -> None:
    """A merge moves conversations (not messages) to the kept customer: the roll-up, keyed
    by conversation, does not change, and customer counts follow the merge."""
    await _built(engine)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        data = await report_data.load(session)
    convs = data["convs"]
    before = await _assert_exact(engine)
    head_before = (await _same_figures(engine, [PERIOD]))[0][0]
    async with sessions.begin() as session:
        record = await merge_customers(
            session, convs[1].customer_id, convs[4].customer_id, actor="test"
        )
    assert await _assert_exact(engine) == before
    head = (await _same_figures(engine, [PERIOD]))[0][0]
    assert head["customers"] == head_before["customers"] - 1 == 4
    assert head["conversations"] == head_before["conversations"] == 5
    async with sessions.begin() as session:
        await unmerge(session, record.id, actor="test")
    assert await _assert_exact(engine) == before
    assert (await _same_figures(engine, [PERIOD]))[0][0] == head_before


async def test_privacy_erasure_keeps_rollup_exact(engine: AsyncEngine) -> None:
    """Erasure rewrites texts: a "not helpful" press becomes "[erased]" and stops counting
    as one, in the roll-up exactly as in the transcript."""
    await _built(engine)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        data = await report_data.load(session)
    before = await _assert_exact(engine)
    head_before = (await _same_figures(engine, [PERIOD]))[0][0]
    async with sessions.begin() as session:  # conversation 5 pressed "not helpful" on 24 March
        await erase_customer(session, data["convs"][5].customer_id)
    after = await _assert_exact(engine)
    assert sum(r[7] for r in after) == sum(r[7] for r in before) - 1  # n_unhelpful
    head = (await _same_figures(engine, [PERIOD]))[0][0]
    # that day is now assumed resolved: answered, bot had the last word, no return in 24 h
    assert head["deflected_assumed"] == head_before["deflected_assumed"] + 1
    assert head["messages_in"] == head_before["messages_in"]


@pytest.mark.parametrize(
    "zone",
    [
        "Europe/Stockholm",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "America/St_Johns",
        "Pacific/Chatham",
        "UTC",
    ],
)
async def test_figures_from_rollup_equal_figures_from_transcript(
    engine: AsyncEngine, zone: str
) -> None:
    """Random transcripts and tickets, zones with half- and quarter-hour offsets and DST;
    the report's zone differs from the roll-up's, so the roll-up is rebuilt first."""
    await _built(engine, "Europe/Stockholm")
    sessions = session_factory(engine)
    rng = random.Random(zone)
    async with sessions.begin() as session:
        convs = await _customers(session, 8)
        ids = [c.id for c in convs]
        # customers with several conversations: same channel, other channels
        ids += await _more_conversations(session, convs[0], (convs[0].channel, "slack"))
        ids += await _more_conversations(session, convs[1], ("web", "telegram", "web"))
        await session.execute(
            insert(Message), _random_messages(rng, ids, 700, datetime(2026, 3, 14, tzinfo=UTC), 24)
        )
        await report_data.load(session)
    tz = ZoneInfo(zone)
    periods = [local_days(date(2026, 3, 23), date(2026, 3, 29), tz)]
    periods.append(periods[0].previous())
    # in another zone the report rebuilds the roll-up in its own transaction (rolled back)
    await _same_figures(engine, periods)
    await rollup.ensure_committed(sessions, zone)  # what service.make_report does first
    await _assert_exact(engine, zone)
    for window_h in (0.5, 24.0, 200.0):
        await _same_figures(engine, periods, window_h * 3600)
    async with sessions.begin() as session:
        await session.execute(
            insert(Message), _random_messages(rng, ids, 100, datetime(2026, 3, 20, tzinfo=UTC), 10)
        )
    await _assert_exact(engine, zone)
    head = (await _same_figures(engine, periods))[0][0]
    assert head["customers"] < head["conversations"]  # several conversations per customer


async def test_concurrent_writers_keep_rollup_exact(engine: AsyncEngine) -> None:
    """Many transactions at once insert, delete and edit messages of the same few
    conversation-days (PostgreSQL runs them concurrently; SQLite one after another)."""
    await _built(engine)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        ids = [c.id for c in await _customers(session, 2)]
    day = datetime(2026, 3, 24, 22, 30, tzinfo=UTC)  # around Stockholm's midnight

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(25):
            async with sessions.begin() as session:
                op = rng.random()
                if op < 0.6:
                    row = _random_messages(rng, ids, 1, day, 1)[0]
                    row["created_at"] = day + timedelta(minutes=rng.randrange(120))
                    session.add(Message(**row))
                    continue
                victim = await session.scalar(
                    select(Message.id).order_by(Message.id.desc()).limit(1).offset(rng.randrange(3))
                )
                if victim is None:
                    continue
                if op < 0.8:
                    await session.execute(delete(Message).where(Message.id == victim))
                else:
                    await session.execute(
                        update(Message)
                        .where(Message.id == victim)
                        .values(kind="feedback", text=rng.choice(("helpful", "not_helpful")))
                    )

    await asyncio.gather(*(worker(i) for i in range(6)))
    assert await _assert_exact(engine)
    await asyncio.gather(
        rollup.ensure_committed(sessions, "UTC"), rollup.ensure_committed(sessions, "UTC")
    )
    await _assert_exact(engine, "UTC")


async def test_report_rebuilds_for_another_zone_once(engine: AsyncEngine) -> None:
    from handlers.reports.service import make_report
    from tests.conftest import make_settings

    await _built(engine, "UTC")
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        await report_data.load(session)
    settings = make_settings(engine.url.render_as_string(hide_password=False))
    report = await make_report(sessions, settings, PERIOD, NOW)
    assert report.headline["deflection_rate"] == 30.0  # tests/test_reports.py
    async with sessions() as session:
        assert await rollup.current_zone(session) == ZONE  # committed: next reports use it
        built = await session.scalar(select(ReportRollupState.built_at))
    await make_report(sessions, settings, PERIOD, NOW)
    async with sessions() as session:
        assert await session.scalar(select(ReportRollupState.built_at)) == built
    await _assert_exact(engine)


async def test_build_report_same_with_and_without_rollup(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        await report_data.load(session)
    original = deflection.figures
    reports = []
    for use in (True, False):

        async def figures(*args: Any, use: bool = use, **kwargs: Any) -> Any:
            return await original(*args, **kwargs, rollup=use)

        monkeypatch.setattr(deflection, "figures", figures)
        async with sessions() as session:
            reports.append(await build_report(session, PERIOD, Options(team=TEAM), NOW))
    assert reports[0].headline == reports[1].headline
    assert reports[0].previous_headline == reports[1].previous_headline
    assert [t.rows for t in reports[0].tables] == [t.rows for t in reports[1].tables]


async def test_both_rollup_scan_orders_give_the_same_figures(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite reads the roll-up in key order or by a day range (then sorted); the same.
    (PostgreSQL plans itself: the unary ``+`` is SQLite's.)"""
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        await report_data.load(session)
    results = []
    real = deflection._rollup_in_key_order
    for ordered in (False, True) if engine.dialect.name == "sqlite" else (False, False):

        async def choose(*_: object, ordered: bool = ordered) -> bool:
            return ordered

        monkeypatch.setattr(deflection, "_rollup_in_key_order", choose)
        results.append(await _figures(engine, [PERIOD, PERIOD.previous()], True))
    assert results[0] == results[1]
    assert results[0][0][0]["contact_days"] == 10
    async with sessions() as session:
        dialect = engine.dialect.name
        assert await real(session, PERIOD, dialect) == (dialect == "sqlite")


def test_sqlite_offsets_match_the_report_day_segments() -> None:
    """The offsets the SQLite triggers look up agree with the segments the plain SQLite
    query uses (handlers/reports/localday.py), and with Python's tz database to the second."""
    for zone in ("Europe/Stockholm", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"):
        tz = ZoneInfo(zone)
        offsets = rollup.zone_offsets(zone)
        assert [s for s, _ in offsets] == sorted(s for s, _ in offsets)
        start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
        segments = offset_segments(tz, start, end)
        inside = [
            (s, o)
            for s, o in offsets[1:]
            if start - timedelta(days=1) < s < end + timedelta(days=1)
        ]
        assert inside == [(seg[0], nxt[1]) for seg, nxt in itertools.pairwise(segments)]
        for since, off in offsets[1:]:
            assert int(since.astimezone(tz).utcoffset().total_seconds()) == off  # type: ignore[union-attr]
            before = since - timedelta(seconds=1)
            assert int(before.astimezone(tz).utcoffset().total_seconds()) != off  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ migration


def _alembic(conn: Connection, action: str, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    getattr(command, action)(cfg, revision)


async def _migrate(engine: AsyncEngine, action: str, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_alembic, action, revision)


async def _names(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    async with engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        if engine.dialect.name == "postgresql":
            query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        else:
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        triggers = set((await conn.execute(text(query))).scalars().all())
    return (
        {t for t in tables if t.startswith("report_")},
        {t for t in triggers if t.startswith("report_rollup")},
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """An empty database (no migrations run) on each backend."""
    from tests.conftest import PG_URL, _admin, _pg_available

    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
        yield engine
        await engine.dispose()
        return
    problem = await _pg_available()
    if problem:
        pytest.skip(problem)
    name = f"crmbot_rollup_mig_{random.randrange(10**9)}"
    await _admin(f'CREATE DATABASE "{name}"')
    engine = create_engine(
        make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    )
    try:
        yield engine
    finally:
        await engine.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _down_to_0011(engine: AsyncEngine) -> None:
    """Down to the schema before the roll-up, plus the columns today's models insert (the
    insert sentinels of migration 0013, which comes after the roll-up)."""
    await _migrate(engine, "downgrade", "0011reports")
    async with engine.begin() as conn:
        for table in SENTINEL_TABLES:
            await conn.execute(text(f"ALTER TABLE {table} ADD COLUMN _sentinel INTEGER"))


async def _up_to_heads(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        names = set(await conn.run_sync(lambda c: {
            t for t in SENTINEL_TABLES
            if "_sentinel" in {col["name"] for col in inspect(c).get_columns(t)}}))
        for table in sorted(names):
            await conn.execute(text(f"ALTER TABLE {table} DROP COLUMN _sentinel"))
    await upgrade(engine, "heads")


SENTINEL_TABLES = ("messages", "outbox", "customers")


async def test_migration_backfills_and_goes_down_and_up(fresh_engine: AsyncEngine) -> None:
    engine = fresh_engine
    await _migrate(engine, "upgrade", "0011reports")  # the schema before the roll-up
    await _up_to_heads(engine)
    await _down_to_0011(engine)
    assert await _names(engine) == (set(), set())
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        data = await report_data.load(session)  # existing history, no triggers
    await _up_to_heads(engine)
    tables, triggers = await _names(engine)
    assert tables == {"report_conversation_days", "report_rollup_state", "report_rollup_offsets"}
    assert {"report_rollup_ins", "report_rollup_upd", "report_rollup_del"} <= triggers
    backfilled = await _assert_exact(engine, ZONE)  # the sample hours' zone
    assert len(backfilled) == 12  # conversation-days of the data set (any message)
    async with sessions.begin() as session:  # the triggers work
        session.add(
            Message(
                conversation_id=data["convs"][2].id,
                direction="in",
                sender="customer",
                kind="text",
                text="again",
                created_at=datetime(2026, 3, 30, 9, tzinfo=UTC),
            )
        )
        await session.execute(delete(Message).where(Message.conversation_id == data["convs"][3].id))
    rows = await _assert_exact(engine, ZONE)
    await _same_figures(engine, [PERIOD, PERIOD.previous()])
    await _down_to_0011(engine)
    assert await _names(engine) == (set(), set())
    async with sessions.begin() as session:  # messages work without the roll-up
        session.add(
            Message(
                conversation_id=data["convs"][2].id,
                direction="out",
                sender="bot",
                kind="text",
                text="ok",
                kb_entry_id="fees",
                created_at=datetime(2026, 3, 30, 9, 1, tzinfo=UTC),
            )
        )
    await _up_to_heads(engine)
    again = await _assert_exact(engine, ZONE)
    assert len(again) == len(rows) and again != rows  # the answer of 30 March is in


def test_cli_rebuilds_the_rollup_on_request(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from bot.cli import main

    async def load_and_stamp() -> datetime:
        engine = create_engine(db_url)
        try:
            await upgrade(engine)
            await _built(engine)
            async with session_factory(engine).begin() as session:
                await report_data.load(session)
                await session.execute(update(ReportConversationDay).values(n_in=0))  # damage
                await session.execute(
                    update(ReportRollupState).values(built_at=datetime(2000, 1, 1, tzinfo=UTC))
                )
            return datetime(2000, 1, 1, tzinfo=UTC)
        finally:
            await engine.dispose()

    stamp = asyncio.run(load_and_stamp())
    monkeypatch.setenv("CRMBOT_DATABASE_URL", db_url)
    args = ["report", "--since", "2026-03-23", "--until", "2026-03-29", "--json"]
    assert main([*args, "--rebuild-rollup"]) == 0
    assert json.loads(capsys.readouterr().out)["headline"]["messages_in"] == 15

    async def check() -> None:
        engine = create_engine(db_url)
        try:
            await _assert_exact(engine)
            async with session_factory(engine)() as session:
                assert await session.scalar(select(ReportRollupState.built_at)) != stamp
        finally:
            await engine.dispose()

    asyncio.run(check())
