"""Management reports (issue #9): the shortcuts taken for speed give the same numbers.

Each fast path is checked against the plain computation it replaces, on both backends where
SQL is involved: the transcript scan order SQLite may choose, integer epoch microseconds for
ticket times, the business clock on those integers, and TF-IDF over distinct texts only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import normalize
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.hours import business_seconds_between, hours_for
from handlers.reports import deflection
from handlers.reports.clock import BusinessClock
from handlers.reports.gaps import _vectorize
from handlers.reports.metrics import _us
from handlers.reports.period import local_days
from handlers.reports.queries import epoch_us
from storage.db import session_factory
from storage.models import Customer, Ticket
from tests import report_data
from tests.report_data import NOW

TEAM = hours_for(None).team("default")
PERIOD = local_days(date(2026, 3, 23), date(2026, 3, 29), TEAM.tz)


async def test_both_transcript_scans_give_the_same_figures(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite scans by conversation or by time range (deflection._scan_by_conversation);
    PostgreSQL always plans itself. Either way every conversation-day figure is the same."""
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        await report_data.load(session)
    results = []
    for ordered in (False, True):
        async def choose(*_: object, ordered: bool = ordered) -> bool:
            return ordered

        monkeypatch.setattr(deflection, "_scan_by_conversation", choose)
        async with sessions() as session:
            figures = await deflection.figures(session, [PERIOD, PERIOD.previous()],
                                               24 * 3600.0, NOW)
        results.append([(dict(f.head), f.daily, {k: {n: dict(v) for n, v in d.items()}
                                                 for k, d in f.by.items()}) for f in figures])
    assert results[0] == results[1]
    assert results[0][0][0]["contact_days"] == 10  # the known data set (test_reports.py)


async def test_scan_choice_follows_the_share_of_the_transcript(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        await report_data.load(session)
    dialect = engine.dialect.name
    async with sessions() as session:
        everything = await deflection._scan_by_conversation(
            session, datetime(2026, 1, 1, tzinfo=UTC), dialect)
        last_days = await deflection._scan_by_conversation(
            session, datetime(2026, 3, 29, tzinfo=UTC), dialect)
        nothing = await deflection._scan_by_conversation(
            session, datetime(2027, 1, 1, tzinfo=UTC), dialect)
    assert (everything, last_days, nothing) == (dialect == "sqlite", False, False)


async def test_epoch_microseconds_are_exact(engine: AsyncEngine) -> None:
    """The SQL expression equals Python's arithmetic on the stored instant, to the microsecond."""
    instants = [datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),
                datetime(2026, 3, 29, 1, 0, 0, 1, tzinfo=UTC),
                datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
                datetime(2038, 1, 19, 3, 14, 8, 123456, tzinfo=UTC)]
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        customer = Customer(display_name="c", attributes={})
        session.add(customer)
        await session.flush()
        for when in instants:
            session.add(Ticket(customer_id=customer.id, channel="web", reason="intake",
                               created_at=when, first_response_at=None))
    dialect = engine.dialect.name
    async with sessions() as session:
        got = (await session.execute(
            select(epoch_us(Ticket.created_at, dialect)).order_by(Ticket.id))).scalars().all()
    assert list(got) == [_us(w) for w in instants]
    assert [g / 10**6 for g in got] == [w.timestamp() for w in instants]


def test_business_clock_on_microseconds_matches() -> None:
    start = datetime(2026, 3, 20, tzinfo=UTC)
    clock = BusinessClock(TEAM, start, datetime(2026, 4, 20, tzinfo=UTC))
    points = [start + timedelta(hours=h, microseconds=us)
              for h in (0, 7, 170, 200, 217, 240, 600) for us in (0, 1, 999999)]
    points += [datetime(2025, 12, 30, 9, tzinfo=UTC), datetime(2026, 9, 1, 12, tzinfo=UTC)]
    for a in points:
        for b in points:
            expected = business_seconds_between(a, b, TEAM) if b > a else 0.0
            assert clock.between_us(_us(a), _us(b)) == clock.between(a, b) == expected


def _plain_tfidf(texts: list[str]) -> object:
    union = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
    ])
    return normalize(union.fit_transform([t.lower() for t in texts]))


def test_tfidf_over_distinct_texts_is_the_same_matrix() -> None:
    texts = ["How do I refund?", "how do i refund?", "refunds please", "Lost my card",
             "lost my card", "lost my card", "kort borttappat ÅÄÖ", "x", "How do I refund?"]
    fast, plain = _vectorize(texts), _plain_tfidf(texts)
    assert fast.shape == plain.shape  # type: ignore[attr-defined]
    for attr in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(fast, attr), getattr(plain, attr)), attr
    assert _vectorize(["?!", "..."]) is None
