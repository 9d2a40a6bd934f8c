"""Management reports (issue #9): every figure on a known data set, both backends; outputs.

The data set (tests/report_data.py) was worked out by hand; the expected values below are that
arithmetic, not a copy of the program's output.
"""

from __future__ import annotations

import base64
import importlib.abc
import io
import json
import re
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.hours import business_seconds_between, hours_for
from handlers.reports import render
from handlers.reports.clock import BusinessClock
from handlers.reports.gaps import find_gaps
from handlers.reports.localday import offset_segments
from handlers.reports.metrics import Options, build_report
from handlers.reports.model import Report
from handlers.reports.period import local_days, resolve
from storage.db import session_factory
from tests import report_data
from tests.report_data import NOW, t

TEAM = hours_for(None).team("default")
PERIOD = local_days(date(2026, 3, 23), date(2026, 3, 29), TEAM.tz)


async def _report(engine: AsyncEngine, **options: Any) -> Report:
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        await report_data.load(session)
    async with sessions() as session:
        return await build_report(session, PERIOD, Options(team=TEAM, **options), NOW)


@pytest.fixture
async def report(engine: AsyncEngine) -> Report:
    return await _report(engine)


HEADLINE = {
    "customers": 5, "conversations": 5, "messages_in": 15, "messages_out": 13,
    "contact_days": 10, "bot_answered_days": 8, "deflected_confirmed": 1,
    "deflected_assumed": 2, "deflection_rate": 30.0, "escalations": 3, "tickets_opened": 4,
    "tickets_solved": 3, "backlog": 3,
    # first responses: clock [1500, 3600, 153000, 235200], business [0, 0, 1200, 1500]
    "frt_median": 78300.0, "frt_p90": 210540.0,
    "frt_business_median": 600.0, "frt_business_p90": 1410.0,
    # resolutions: clock [5400, 7200, 324600], business [1800, 7200, 33000]
    "resolution_median": 7200.0, "resolution_p90": 261120.0,
    "resolution_business_median": 7200.0, "resolution_business_p90": 27840.0,
    "csat": 50.0, "csat_average": 3.5, "csat_responses": 2,
    "csat_response_rate": pytest.approx(200 / 3), "nps": 25.0, "nps_responses": 4,
    "nps_response_rate": 80.0, "feedback_count": 3, "feedback_rating": 3.5,
    "unanswered": 5, "broadcast_reach": 2, "broadcast_optouts": 1,
}

PREVIOUS = {
    "customers": 1, "conversations": 1, "messages_in": 1, "messages_out": 1,
    "contact_days": 1, "bot_answered_days": 1, "deflected_confirmed": 0,
    "deflected_assumed": 0, "deflection_rate": 0.0, "escalations": 1, "tickets_opened": 1,
    "tickets_solved": 0, "backlog": 2, "frt_median": None, "frt_business_median": None,
    "resolution_median": None, "csat": 100.0, "csat_average": 4.0, "csat_responses": 1,
    "csat_response_rate": 100.0, "nps": None, "nps_responses": 0, "nps_response_rate": None,
    "feedback_count": 1, "feedback_rating": 1.0, "unanswered": 1, "broadcast_reach": 0,
    "broadcast_optouts": 1,
}


async def test_gap_clustering_is_imported_off_the_event_loop(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scikit-learn and SciPy take 1-2 s to import: the first report of a process imported
    them on the event loop and held every conversation that long (/healthz answered 1.2 s
    late). The import, like the clustering, belongs to the worker thread."""
    threads: list[int] = []

    class Spy(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any, target: Any = None) -> None:
            if name == "handlers.reports.gaps":
                threads.append(threading.get_ident())

    monkeypatch.delitem(sys.modules, "handlers.reports.gaps")
    monkeypatch.setattr(sys, "meta_path", [Spy(), *sys.meta_path])
    report = await _report(engine)
    assert threads, "the report imported the clustering module"
    assert threading.get_ident() not in threads, "imported on the event loop's thread"
    assert any(t.name == "gaps" and t.rows for t in report.tables)


async def test_headline_figures(report: Report) -> None:
    assert report.period.start == datetime(2026, 3, 22, 23, tzinfo=UTC)
    assert report.period.end == datetime(2026, 3, 29, 22, tzinfo=UTC)  # summer time
    assert {k: report.headline[k] for k in HEADLINE} == HEADLINE
    assert {k: report.previous_headline[k] for k in PREVIOUS} == PREVIOUS
    assert report.notes == []  # broadcasts are installed: reach is available


async def test_tables_by_channel_locale_agent(report: Report) -> None:
    by_channel = {r[0]: r[1:] for r in report.table("by_channel").rows}
    # customers, conversations, messages, conv-days, deflected, rate, opened, solved,
    # frt business median, resolution business median, csat, csat answers
    assert by_channel == {
        "intake": [0, 0, 0, 0, 0, None, 1, 1, 0.0, 1800.0, None, 0],
        "telegram": [3, 3, 20, 7, 3, pytest.approx(300 / 7), 1, 1, 600.0, 33000.0, 0.0, 1],
        "web": [2, 2, 8, 3, 0, 0.0, 2, 1, 1500.0, 7200.0, 100.0, 1],
    }
    by_locale = {r[0]: r[1:] for r in report.table("by_locale").rows}
    assert by_locale == {
        "en": [2, 2, 9, 3, 2, pytest.approx(200 / 3), 1, 1, 0.0, 1800.0, None, 0],
        "lv": [1, 1, 7, 2, 0, 0.0, 0, 1, 1200.0, 33000.0, 0.0, 1],
        "sv": [1, 1, 6, 2, 0, 0.0, 2, 1, 1500.0, 7200.0, 100.0, 1],
        "unknown": [1, 1, 6, 3, 1, pytest.approx(100 / 3), 1, 0, 0.0, None, None, 0],
    }
    by_agent = {r[0]: r[1:] for r in report.table("by_agent").rows}
    assert by_agent == {
        "(unassigned)": [2, 1, 0.0, 0.0, 1800.0, 1800.0, None, 0, 0.0],
        "anna": [2, 1, 750.0, 1350.0, 7200.0, 7200.0, 100.0, 1, 100.0],
        "bob": [0, 1, 1200.0, 1200.0, 33000.0, 33000.0, 0.0, 1, 100.0],
    }
    assert report.table("reasons").rows == [["customer_request", 2], ["intake", 1],
                                            ["keyword", 1]]


async def test_daily_uses_local_days_across_dst(report: Report) -> None:
    """28 Mar 23:30 UTC counts on 29 Mar; 29 Mar 22:30 UTC (00:30 CEST 30 Mar) is outside."""
    assert report.table("daily").rows == [
        ["2026-03-23", 2, 7, 1, 1], ["2026-03-24", 2, 8, 0, 0], ["2026-03-25", 1, 2, 1, 0],
        ["2026-03-26", 1, 3, 0, 1], ["2026-03-27", 1, 2, 0, 1], ["2026-03-28", 1, 2, 0, 0],
        ["2026-03-29", 2, 4, 1, 1],
    ]


async def test_top_entries_and_gaps(report: Report) -> None:
    assert report.table("top_kb").rows == [["card_arrival", 4, 1, 0], ["fees", 4, 0, 1]]
    gaps = report.table("gaps").rows
    assert gaps[0][:3] == [3, "en", "close my account please"]
    assert sorted(str(gaps[0][3]).split(" | ")) == ["I want to close my account",
                                               "how do I close my account"]
    assert [g[:3] for g in gaps[1:]] == [[1, "en", "can I pay with bitcoin"],
                                        [1, "sv", "hur stänger jag mitt konto"]]


async def test_assumed_resolution_waits_for_the_window(engine: AsyncEngine) -> None:
    """An answer counts as assumed only once the window is over at report time (NOW).

    With 200 hours: the 25 Mar 08:00:05 answer's window ended 2 Apr 16:00 (assumed), the
    28 Mar 23:30:05 one's ends 6 Apr 07:30, after NOW (still open, not counted).
    """
    report = await _report(engine, assume_hours=200.0)
    assert report.headline["deflected_confirmed"] == 1
    assert report.headline["deflected_assumed"] == 1
    assert report.headline["deflection_rate"] == 20.0


async def test_no_assumed_resolution_before_the_window_ends(engine: AsyncEngine) -> None:
    report = await _report(engine, assume_hours=300.0)  # 25 Mar + 300 h = 6 Apr 20:00
    assert (report.headline["deflected_confirmed"], report.headline["deflected_assumed"]) == (1, 0)


def test_business_clock_matches_hours_module() -> None:
    """DST (29 Mar, 25 Oct 2026), Easter holidays (3 and 6 Apr), weekends, tiny spans."""
    start = datetime(2026, 3, 20, tzinfo=UTC)
    clock = BusinessClock(TEAM, start, datetime(2026, 11, 1, tzinfo=UTC))
    points = [t(27, 14, 50), t(27, 15), t(29, 0, 59), t(29, 1, 1), t(30, 6, 59),
              t(30, 7, 0), t(30, 7, 1), t(2, 14, month=4), t(3, 9, month=4),
              t(7, 6, 30, month=4), t(23, 15, 59, month=10), t(26, 8, 0, month=10),
              t(26, 7, 59, month=10), t(30, 12, month=10)]
    for a in points:
        for b in points:
            assert clock.between(a, b) == business_seconds_between(a, b, TEAM), (a, b)
    # Friday 15:50 CET to Monday 09:10 CEST (after the DST switch): 10 + 10 minutes
    assert clock.between(t(27, 14, 50), t(30, 7, 10)) == 1200.0
    # Thursday 2 April 16:00 CEST to Tuesday 7 April 09:30: Good Friday and Easter Monday shut
    assert clock.between(t(2, 14, month=4), t(7, 7, 30, month=4)) == 3600.0 + 1800.0


def test_sqlite_day_segments_follow_dst() -> None:
    segments = offset_segments(TEAM.tz, datetime(2026, 3, 23, tzinfo=UTC),
                               datetime(2026, 3, 31, tzinfo=UTC))
    assert segments[0] == (datetime(2026, 3, 29, 1, tzinfo=UTC), 3600)
    assert segments[1][1] == 7200 and len(segments) == 2


def test_period_bounds_and_bad_input() -> None:
    p = resolve(None, None, TEAM.tz, datetime(2026, 3, 30, 10, tzinfo=UTC))
    assert (p.first_day, p.last_day) == (date(2026, 3, 24), date(2026, 3, 30)), "incl. today"
    assert p.previous().label() == "2026-03-17 – 2026-03-23"
    with pytest.raises(ValueError, match="not a date"):
        resolve("2026-02-30", None, TEAM.tz, NOW)
    with pytest.raises(ValueError, match="before it starts"):
        resolve("2026-03-10", "2026-03-01", TEAM.tz, NOW)


def test_gap_clustering_groups_paraphrases() -> None:
    questions = [("where is my parcel", "en"), ("my parcel has not arrived", "en"),
                 ("parcel missing where is it", "en"), ("do you sell gift cards", "en"),
                 ("gift cards for sale?", "en"), ("", "en")]
    gaps = find_gaps(questions)
    assert [(g.size, g.label) for g in gaps] == [
        (3, "where is my parcel"), (2, "do you sell gift cards")]
    assert find_gaps([]) == []


def _not_blank(png: bytes) -> None:
    image = Image.open(io.BytesIO(png)).convert("L")
    colours = image.getcolors(maxcolors=1 << 16) or []
    assert len(colours) > 20, "the chart is (nearly) one colour"
    dark = 0
    for n, v in colours:  # mode L: v is a grey level
        if isinstance(v, (int, float)) and v < 200:
            dark += n
    assert dark > 500, "the chart has almost nothing drawn"


async def test_html_pdf_and_csv(report: Report, tmp_path: Path) -> None:
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    page = render.html(report)
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) == 4
    for uri in uris:
        _not_blank(base64.b64decode(uri))
    assert "http" not in page.split("<body>")[1].split("docs/reports.md")[0]  # self-contained
    assert "close my account please" in page and "30.0%" in page
    pdf_path = tmp_path / "r.pdf"
    render.pdf(report, pdf_path)
    pdf = pdfium.PdfDocument(pdf_path)
    assert len(pdf) == 1 + 4 + 6
    sizes = {tuple(round(v) for v in pdf[i].get_size()) for i in range(len(pdf))}
    assert sizes == {(842, 595)}, "every page A4 landscape (points)"
    for index in (0, 1):  # the summary table and the first chart
        bitmap = pdf[index].render(scale=1).to_pil()
        buf = io.BytesIO()
        bitmap.save(buf, format="PNG")
        _not_blank(buf.getvalue())
    pdf.close()
    files = render.write_csv(report, tmp_path / "csv")
    assert {f.name for f in files} == {"headline.csv", "by_channel.csv", "by_locale.csv",
                                      "by_agent.csv", "reasons.csv", "daily.csv",
                                      "top_kb.csv", "gaps.csv", "help_center.csv", "sla.csv"}
    headline = (tmp_path / "csv" / "headline.csv").read_text().splitlines()
    assert headline[0] == "Metric,This period,Previous period"
    assert "Deflection rate,30.0,0.0" in headline
    assert "NPS,25.0," in headline
    by_agent = (tmp_path / "csv" / "by_agent.csv").read_text().splitlines()[0]
    assert by_agent.startswith("Agent,Tickets opened,Tickets solved,First response, median") \
        or by_agent.startswith('Agent,Tickets opened,Tickets solved,"First response, median')
    assert "_" not in by_agent, "people read these headings, not column names"


async def test_every_text_a_report_shows_is_translated(
    report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever English text any output asks to translate has a Swedish and a Latvian one."""
    from handlers.reports import i18n

    asked: set[str] = set()

    def recording(locale: str) -> i18n.Translate:
        def tr(text: str) -> str:
            asked.add(text)
            return text
        return tr

    monkeypatch.setattr(render, "translator", recording)
    render.html(report, "sv")
    render.pdf(report, tmp_path / "r.pdf", "sv")
    render.write_csv(report, tmp_path / "csv", "sv")
    render.summary_text(report, "https://x.example/r", "sv")
    assert len(asked) > 80
    for locale in ("sv", "lv"):
        missing = sorted(asked - set(i18n.catalog(locale)))
        assert missing == [], f"{locale}: {missing}"


async def test_a_swedish_and_a_latvian_report(report: Report, tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    page = render.html(report, "sv")
    assert '<html lang="sv">' in page and "<h1>Kundtjänstrapport</h1>" in page
    assert "Andel lösta av boten" in page and "Deflection rate" not in page
    assert "Kontakter per dag" in page  # the chart's title, as its alt text
    files = render.write_csv(report, tmp_path / "sv", "sv")
    by_agent = (tmp_path / "sv" / "by_agent.csv").read_text("utf-8").splitlines()[0]
    assert by_agent.startswith("Handläggare,Öppnade ärenden,Lösta ärenden"), by_agent
    assert files
    render.pdf(report, tmp_path / "lv.pdf", "lv")
    pdf = pdfium.PdfDocument(tmp_path / "lv.pdf")
    first = pdf[0].get_textpage().get_text_range()
    assert "Klientu apkalpošanas pārskats" in first and "Rādītājs" in first
    pdf.close()
    text = render.summary_text(report, "https://x.example/r", "lv")
    assert text.startswith("*Klientu apkalpošanas pārskats ") and "Viss pārskats:" in text


async def test_an_empty_period_draws_a_note_not_a_broken_axis(engine: AsyncEngine) -> None:
    """A new install's first report: every chart says so, with no negative counts axis."""
    from handlers.reports import charts

    async with session_factory(engine)() as session:
        empty = await build_report(session, PERIOD, Options(team=TEAM), NOW)
    for name, fig in charts.figures(empty):
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.texts] == [charts.NO_DATA], name
        counts = ax.get_xlim() if name in ("channels", "reasons") else ax.get_ylim()
        assert counts == (0, 1), name
    full = dict(charts.figures(await _report(engine)))
    assert all(not fig.axes[0].texts for fig in full.values())
    assert full["daily"].axes[0].get_ylim()[0] == 0


async def _load_into(db_url: str) -> None:
    from storage.db import create_engine
    from storage.migrate import upgrade

    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        async with session_factory(engine).begin() as session:
            await report_data.load(session)
    finally:
        await engine.dispose()


def test_cli_report(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI runs its own event loop, so this test is synchronous."""
    import asyncio

    from bot.cli import main

    asyncio.run(_load_into(db_url))
    monkeypatch.setenv("CRMBOT_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    args = ["report", "--since", "2026-03-23", "--until", "2026-03-29"]
    assert main([*args, "--json", "--html", "r.html", "--pdf", "r.pdf", "--csv", "out"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["headline"]["messages_in"] == 15
    assert data["headline"]["frt_business_p90"] == 1410.0
    assert data["period"]["timezone"] == "Europe/Stockholm"
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert "data:image/png;base64," in (tmp_path / "r.html").read_text()
    assert (tmp_path / "out" / "daily.csv").exists()
    assert main(["report", "--since", "23/03/2026"]) == 2
    assert "is not a date like" in capsys.readouterr().err
    assert main([*args, "--pdf", "missing/dir/r.pdf"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(args) == 0
    assert "Deflection rate" in capsys.readouterr().out


async def test_api_and_admin_page(db_url: str, engine: AsyncEngine) -> None:
    from tests.admin_support import browser_session, login, running
    from tests.conftest import make_settings

    async with session_factory(engine).begin() as session:
        await report_data.load(session)
    async with running(make_settings(db_url)) as app, browser_session(app.url) as http:
        query = "?since=2026-03-23&until=2026-03-29"
        async with http.get("/api/v1/reports" + query, headers=app.h(app.admin)) as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["headline"]["tickets_opened"] == 4
        assert body["tables"]["by_agent"][1]["agent"] == "anna"
        async with http.get("/api/v1/reports?since=yesterday", headers=app.h(app.admin)) as r:
            assert r.status == 400
            assert (await r.json())["error"]["field"] == "since"
        async with http.get("/api/v1/reports", headers=app.h(app.agent)) as resp:
            assert resp.status == 403
        async with http.get("/api/v1/reports") as resp:
            assert resp.status == 401
        async with http.get("/admin/reports" + query, allow_redirects=False) as resp:
            assert resp.status in (302, 303)  # not signed in
        assert 'href="/admin/reports"' in await login(http, "alice")  # the admin's menu
        async with http.get("/admin/reports" + query) as resp:
            assert resp.status == 200
            page = await resp.text()
            assert "script-src" not in resp.headers["Content-Security-Policy"]
        assert page.count("data:image/png;base64,") == 4
        assert 'href="/admin/reports.pdf?since=2026-03-23&until=2026-03-29&lang=en"' in page
        async with http.get("/admin/reports" + query + "&lang=lv") as resp:
            latvian = await resp.text()
        assert '<html lang="lv">' in latvian and "Klientu apkalpošanas pārskats" in latvian
        assert '<option value="lv" selected>' in latvian
        assert 'reports.zip?since=2026-03-23&until=2026-03-29&lang=lv"' in latvian
        async with http.get("/admin/reports.zip" + query + "&lang=sv") as resp:
            import zipfile

            swedish = zipfile.ZipFile(io.BytesIO(await resp.read()))
            assert swedish.read("headline.csv").decode().startswith("Mått,Denna period")
        async with http.get("/admin/reports" + query + "&lang=xx") as resp:
            assert '<html lang="en">' in await resp.text()  # unknown: the configured one
        async with http.get("/admin/reports.pdf" + query) as resp:
            assert resp.status == 200
            assert (await resp.read()).startswith(b"%PDF")
        async with http.get("/admin/reports.zip" + query) as resp:
            assert resp.status == 200
            import zipfile

            names = zipfile.ZipFile(io.BytesIO(await resp.read())).namelist()
            assert "headline.csv" in names
        async with http.get("/admin/reports?until=2026-99-01") as resp:
            assert resp.status == 400
        await http.post("/admin/logout")
        assert 'href="/admin/reports"' not in await login(http, "bob")  # an agent
        async with http.get("/admin/reports" + query) as resp:
            assert resp.status == 403


def test_settings_validation(db_url: str) -> None:
    from tests.conftest import make_settings

    with pytest.raises(ValueError, match="CRMBOT_REPORT_SLACK_CHANNEL needs"):
        make_settings(db_url, report_slack_channel="C0REPORTS")
    with pytest.raises(ValueError, match="CRMBOT_REPORT_SLACK_TIME"):
        make_settings(db_url, report_slack_time="8 o'clock")
    with pytest.raises(ValueError):
        make_settings(db_url, report_slack_weekday="someday")


async def test_weekly_slack_post(db_url: str, engine: AsyncEngine) -> None:
    """Queued once per week through the outbox; delivered by the real Slack adapter."""
    from bot.app import build_app
    from bot.compose import build_core
    from handlers.reports.schedule import latest_slot, post_if_due
    from storage.models import OutboxItem
    from tests.conftest import make_settings
    from tests.fakes.slack import FakeSlack

    fake = FakeSlack()
    api = await fake.start()
    try:
        settings = make_settings(
            db_url, slack_bot_token=fake.token, slack_signing_secret="8f14e45fceea167a5a3",
            slack_api_url=api, slack_support_channel="C0SUPPORT",
            report_slack_channel="C0REPORTS", report_slack_weekday="mon",
            report_slack_time="08:00", public_url="https://bot.example.com",
        )
        core = build_core(settings, engine=engine)
        build_app(settings, core)  # registers the Slack adapter
        await core.prepare()
        sessions: async_sessionmaker[AsyncSession] = core.sessions
        async with sessions.begin() as session:
            await report_data.load(session)
        monday = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)  # 08:00 CEST
        assert latest_slot(monday, "mon", datetime.min.time().replace(hour=8), TEAM.tz) == monday
        # Saturday: the latest slot (last Monday) is older than the catch-up window
        assert not await post_if_due(sessions, settings, monday - timedelta(days=2))
        assert await post_if_due(sessions, settings, monday + timedelta(minutes=1))
        assert not await post_if_due(sessions, settings, monday + timedelta(minutes=2))
        async with sessions() as session:
            items = (await session.scalars(select(OutboxItem).where(
                OutboxItem.channel == "slack"))).all()
        assert [i.order_key for i in items] == ["report:weekly:2026-03-30"]
        await core.outbox.drain(timeout=20)
        posts = fake.roots("C0REPORTS")
        assert len(posts) == 1
        text = posts[0]["text"]
        assert "2026-03-23 – 2026-03-29" in text and "*30.0%*" in text
        assert ("https://bot.example.com/admin/reports?since=2026-03-23&until=2026-03-29"
                in text)
        assert "close my account please" in text
    finally:
        await fake.close()
