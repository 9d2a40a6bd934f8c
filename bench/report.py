"""Generate a large support history and time the management report on it.

Usage: python bench/report.py DATABASE_URL [--messages 1000000] [--tickets 100000] [--reuse]
       [--baseline DIR] [--rebuild] [--sequential]

Writes ~120,000 customers and conversations, ``--messages`` transcript rows, ``--tickets``
tickets, 40,000 survey runs, 20,000 unanswered questions and 5,000 ratings spread over 8 weeks
(bulk inserts: COPY on PostgreSQL, executemany on SQLite), then builds the report for the last
4 weeks (which also computes the 4 weeks before, so every message is read) and renders HTML and
PDF. Refuses a database that already has messages unless ``--reuse`` (measure only).
The report is read as ``service.make_report`` reads it (SQLite: the read-only reader and a
second connection; PostgreSQL: a second connection); ``--sequential`` reads everything in
turn on one session of the main engine, as this script did before. Each run's CPU seconds
(this process) are reported too: they move less with the machine's other load than the wall
clock.
The messages are inserted with the roll-up triggers on (migration 0012reports), as in use.

``--baseline DIR`` also times another version of the code on the same database, side by side:
DIR is a source tree (e.g. ``git archive HEAD~3 | tar -x -C DIR``) whose own
``bench/report.py --reuse --repeat 1`` runs in a subprocess before each of this code's runs.
``--rebuild`` also times a full rebuild of the roll-up (what migration 0012 does once).
Prints one JSON object with the timings in seconds. Results: docs/reports.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.hours import Team, hours_for
from handlers.reports import render, rollup
from handlers.reports.metrics import Options, build_report
from handlers.reports.model import Report
from handlers.reports.period import Period, local_days
from storage.db import create_engine, session_factory, sqlite_reader
from storage.migrate import upgrade
from storage.models import Base, Message

FIRST = date(2026, 1, 5)  # previous period starts here; the report covers the next 4 weeks
DAYS = 56
CHANNELS = ("telegram", "web", "slack", "intake")
LOCALES = ("en", "sv", "lv", None)
AGENTS = tuple(f"agent{i}" for i in range(12))
REASONS = ("customer_request", "keyword", "not_helpful", "intake", "sentiment")
ENTRIES = tuple(f"entry_{i}" for i in range(40))
TOPICS = ("close my account", "pay with bitcoin", "change my address", "lost my card",
          "increase my limit", "refund a purchase", "open a joint account", "student discount",
          "delete my data", "business account fees")
FORMS = ("how do I {t}", "can I {t}?", "I want to {t}", "{t} please", "help me {t} today",
         "is it possible to {t}", "need to {t} asap")
CHUNK = 50_000


def when(rng: random.Random) -> datetime:
    start = datetime.combine(FIRST, datetime.min.time(), UTC)
    return start + timedelta(seconds=rng.randrange(DAYS * 86400))


def customers(n: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        yield {"id": i, "display_name": f"c{i}", "locale": rng.choice(LOCALES),
               "attributes": {}, "created_at": when(rng)}


def identities(n: int) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        yield {"id": i, "customer_id": i, "channel": CHANNELS[i % 3], "external_id": f"x{i}",
               "created_at": datetime(2026, 1, 1, tzinfo=UTC)}


def conversations(n: int) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        yield {"id": i, "customer_id": i, "identity_id": i, "channel": CHANNELS[i % 3],
               "chat_id": f"x{i}", "mode": "bot", "state": {},
               "created_at": datetime(2026, 1, 1, tzinfo=UTC)}


def episode(conv: int, rng: random.Random, at: datetime) -> list[dict[str, Any]]:
    """One conversation-day: question, answer (or fallback), maybe feedback and a follow-up."""
    kb = rng.choice(ENTRIES) if rng.random() < 0.75 else None
    rows = [_msg(conv, at, "in", "customer", "text", "question", None),
            _msg(conv, at + timedelta(seconds=2), "out", "bot", "text", "answer", kb)]
    r = rng.random()
    if kb and r < 0.15:
        verdict = "helpful" if r < 0.10 else "not_helpful"
        rows.append(_msg(conv, at + timedelta(seconds=30), "in", "customer", "feedback",
                         verdict, kb))
    if rng.random() < 0.3:
        later = at + timedelta(minutes=rng.randrange(1, 2000))
        rows.append(_msg(conv, later, "in", "customer", "text", "follow-up", None))
        rows.append(_msg(conv, later + timedelta(seconds=2), "out", "agent", "text", "reply",
                         None))
    return rows


def _msg(conv: int, at: datetime, direction: str, sender: str, kind: str, body: str,
         kb: str | None) -> dict[str, Any]:
    return {"conversation_id": conv, "direction": direction, "sender": sender, "text": body,
            "kind": kind, "kb_entry_id": kb, "confidence": None, "created_at": at}


def messages(total: int, n_conv: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """Day by day in time order, like a real transcript (ids follow created_at)."""
    start = datetime.combine(FIRST, datetime.min.time(), UTC)
    made = 0
    for day in range(DAYS):
        quota = total * (day + 1) // DAYS - made
        rows: list[dict[str, Any]] = []
        while len(rows) < quota:
            at = start + timedelta(days=day, seconds=rng.randrange(86400))
            rows.extend(episode(rng.randrange(1, n_conv + 1), rng, at))
        rows = sorted(rows, key=lambda r: r["created_at"])[:quota]
        made += len(rows)
        yield from rows


def tickets(n: int, n_conv: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        conv = rng.randrange(1, n_conv + 1)
        created = when(rng)
        first = created + timedelta(minutes=rng.randrange(1, 2880)) if rng.random() < .85 \
            else None
        resolved = first + timedelta(minutes=rng.randrange(1, 7200)) if first and \
            rng.random() < 0.8 else None
        yield {"id": i, "conversation_id": conv, "customer_id": conv,
               "channel": CHANNELS[conv % 3], "status": "resolved" if resolved else "open",
               "priority": "normal", "reason": rng.choice(REASONS), "subject": "",
               "assignee": rng.choice(AGENTS) if first else None, "created_at": created,
               "claimed_at": first, "first_response_at": first, "resolved_at": resolved}


def survey_runs(n: int, n_conv: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        conv = rng.randrange(1, n_conv + 1)
        due = when(rng)
        yield {"id": i, "survey_id": "csat" if i % 4 else "nps", "subject": f"s{i}",
               "conversation_id": conv, "customer_id": conv, "channel": CHANNELS[conv % 3],
               "locale": rng.choice(("en", "sv", "lv")), "agent": rng.choice(AGENTS),
               "status": "done", "due_at": due, "expires_at": due + timedelta(days=3),
               "created_at": due}


def survey_answers(n: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        if rng.random() < 0.6:
            survey = "csat" if i % 4 else "nps"
            yield {"run_id": i, "survey_id": survey, "question": "score",
                   "value": rng.randint(1, 5) if survey == "csat" else rng.randint(0, 10),
                   "created_at": datetime(2026, 1, 1, tzinfo=UTC)}


def unanswered(n: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for _ in range(n):
        yield {"text": rng.choice(FORMS).format(t=rng.choice(TOPICS)),
               "locale": "en", "outcome": "fallback", "created_at": when(rng)}


def feedback(n: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"source": "widget", "external_id": f"f{i}", "rating": rng.randint(1, 5),
               "text": "", "sentiment": "neutral", "created_at": when(rng)}


async def bulk(conn: AsyncConnection, table: str, rows: Iterator[dict[str, Any]]) -> int:
    """COPY on PostgreSQL (fast), chunked executemany elsewhere."""
    t = Base.metadata.tables[table]
    n = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            n += await _flush(conn, t, chunk)
            chunk = []
    if chunk:
        n += await _flush(conn, t, chunk)
    return n


async def _flush(conn: AsyncConnection, t: Any, chunk: list[dict[str, Any]]) -> int:
    if conn.dialect.name == "postgresql":
        cols = list(chunk[0])
        raw = await conn.get_raw_connection()
        records = [tuple(json.dumps(r[c]) if isinstance(r[c], dict) else r[c] for c in cols)
                   for r in chunk]
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            t.name, records=records, columns=cols)
    else:
        await conn.execute(insert(t), chunk)
    return len(chunk)


async def generate(url: str, n_messages: int, n_tickets: int) -> dict[str, float]:
    rng = random.Random(0)
    n_conv = 120_000
    engine = create_engine(url)
    await upgrade(engine)
    timings: dict[str, float] = {}
    begun = time.perf_counter()
    async with engine.begin() as conn:
        if (await conn.execute(select(func.count()).select_from(Message))).scalar_one():
            raise SystemExit("the database already has messages: use --reuse or an empty one")
        for table, rows in (
            ("customers", customers(n_conv, rng)), ("channel_identities", identities(n_conv)),
            ("conversations", conversations(n_conv)),
            ("messages", messages(n_messages, n_conv, rng)),
            ("tickets", tickets(n_tickets, n_conv, rng)),
            ("survey_runs", survey_runs(40_000, n_conv, rng)),
            ("survey_answers", survey_answers(40_000, rng)),
            ("unanswered_questions", unanswered(20_000, rng)),
            ("feedback", feedback(5_000, rng)),
        ):
            t0 = time.perf_counter()
            n = await bulk(conn, table, rows)
            timings[f"insert_{table}"] = round(time.perf_counter() - t0, 2)
            print(f"{table}: {n} rows in {timings[f'insert_{table}']} s", file=sys.stderr)
        if conn.dialect.name == "postgresql":
            for table in ("customers", "channel_identities", "conversations", "tickets",
                          "survey_runs"):
                await conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))
            await conn.execute(text("ANALYZE"))
    timings["generate_total"] = round(time.perf_counter() - begun, 2)
    await engine.dispose()
    return timings


def sample_image(report: Any, path: Path) -> None:
    """The four charts in a 2 x 2 grid (docs/img/report.png)."""
    import io

    from PIL import Image

    from handlers.reports import charts

    tiles = [Image.open(io.BytesIO(charts.png(fig, dpi=80))) for _, fig in
             charts.figures(report)]
    w, h = tiles[0].size
    sheet = Image.new("RGB", (2 * w, 2 * h), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % 2) * w, (i // 2) * h))
    sheet.save(path, optimize=True)


def baseline_run(directory: Path, url: str, sequential: bool = False) -> float:
    """One report by the code in ``directory`` (its own bench script), in a subprocess.

    ``--sequential`` is passed on when set and known to that script; an older script without
    it measures the sequential path anyway (it had no other). To time older code on the
    service path, put this script into its tree."""
    script = directory / "bench" / "report.py"
    extra = ["--sequential"] if sequential and "--sequential" in script.read_text() else []
    done = subprocess.run(
        [sys.executable, str(script), url, "--reuse",
         "--repeat", "1", *extra], capture_output=True, text=True, check=True, cwd=directory)
    return float(json.loads(done.stdout)["report_seconds"][0])


async def rebuild_seconds(url: str) -> float:
    engine = create_engine(url)
    t0 = time.perf_counter()
    await rollup.rebuild(session_factory(engine), hours_for(None).team("default").tz.key)
    seconds = round(time.perf_counter() - t0, 2)
    await engine.dispose()
    return seconds


async def one_report(engine: AsyncEngine, period: Period, team: Team,
                     sequential: bool) -> tuple[Report, float]:
    """One report read as ``service.make_report`` reads it (SQLite: through the read-only
    reader and a second connection; PostgreSQL: a second connection), or, ``sequential``,
    everything in turn on one session of the main engine. Returns (report, CPU seconds of
    this process: the driver threads of SQLite included, a server's work not)."""
    reader = None if sequential else sqlite_reader(engine)
    sessions = session_factory(reader or engine)
    apart = None if sequential or (reader is None and not is_postgres_engine(engine)) \
        else sessions
    cpu = time.process_time()
    try:
        async with sessions() as session:
            report = await build_report(session, period, Options(team=team),
                                        datetime(2026, 3, 10, tzinfo=UTC), apart=apart)
    finally:
        if reader is not None:
            await reader.dispose()
    return report, time.process_time() - cpu


def is_postgres_engine(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


async def measure(url: str, repeat: int, image: Path | None = None,
                  baseline: Path | None = None, sequential: bool = False) -> dict[str, Any]:
    # imported once per process (numpy, scipy, scikit-learn: ~1 s): not a report's cost, and
    # without it the first run of each process (every --baseline run) would carry it
    from handlers.reports import gaps  # noqa: F401

    engine = create_engine(url)
    team = hours_for(None).team("default")
    period = local_days(FIRST + timedelta(days=28), FIRST + timedelta(days=55), team.tz)
    runs = []
    cpu_runs = []
    base_runs: list[float] = []
    report = None
    for _ in range(repeat):
        if baseline is not None:  # alternate: same load for both, as far as possible
            base_runs.append(await asyncio.to_thread(baseline_run, baseline, url, sequential))
        t0 = time.perf_counter()
        report, cpu = await one_report(engine, period, team, sequential)
        runs.append(round(time.perf_counter() - t0, 2))
        cpu_runs.append(round(cpu, 2))
    assert report is not None
    if image is not None:
        sample_image(report, image)
    t0 = time.perf_counter()
    page = render.html(report)
    html_s = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    pdf = render.pdf_bytes(report)
    pdf_s = round(time.perf_counter() - t0, 2)
    await engine.dispose()
    h, p = report.headline, report.previous_headline
    extra = {"baseline_report_seconds": base_runs} if baseline is not None else {}
    return {"report_seconds": runs, **extra, "report_cpu_seconds": cpu_runs,
            "path": "sequential" if sequential else "service",
            "load_average_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(), "html_seconds": html_s, "pdf_seconds": pdf_s,
            "html_bytes": len(page), "pdf_bytes": len(pdf),
            "messages_read": sum(int(x[k] or 0) for x in (h, p)
                                 for k in ("messages_in", "messages_out")),
            "contact_days": h["contact_days"], "deflection_rate": h["deflection_rate"],
            "tickets_opened": h["tickets_opened"], "frt_business_median": h["frt_business_median"],
            "gaps": [row[:3] for row in report.table("gaps").rows[:3]]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="only measure")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--image", type=Path, help="also write the charts as one PNG (docs)")
    parser.add_argument("--baseline", type=Path, help="source tree of the code to compare with")
    parser.add_argument("--rebuild", action="store_true", help="also time a roll-up rebuild")
    parser.add_argument("--sequential", action="store_true",
                        help="read everything in turn on one session of the main engine "
                             "(default: as service.make_report reads)")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"url": args.url.split("@")[-1]}
    if not args.reuse:
        out |= asyncio.run(generate(args.url, args.messages, args.tickets))
    if args.rebuild:
        out["rollup_rebuild_seconds"] = asyncio.run(rebuild_seconds(args.url))
    out |= asyncio.run(measure(args.url, args.repeat, args.image, args.baseline,
                               args.sequential))
    print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
