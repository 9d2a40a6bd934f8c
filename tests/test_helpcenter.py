"""The public help center (/help/): the real app, its real database, real HTTP."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from handlers.broadcast.spec import BroadcastSpec
from handlers.helpcenter.web import HELP, preferred
from knowledge.entries import KBEntry
from knowledge.formats import dumps, loads
from storage import kb
from storage.models import utcnow
from storage.models_broadcast import Broadcast
from storage.models_help import HelpArticleStat, HelpSearch, HelpVote
from tests.conftest import make_settings
from tests.helpers import ThreadLog
from tests.webapp import Served, eventually, serve

PUBLIC = "https://help.example.com"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def site(db_url: str) -> AsyncIterator[tuple[Served, aiohttp.ClientSession]]:
    settings = make_settings(db_url, public_url=PUBLIC, help_name="Example Shop Help")
    async with serve(settings) as served, aiohttp.ClientSession() as http:
        yield served, http


async def get(env: tuple[Served, aiohttp.ClientSession], path: str,
              **headers: str) -> tuple[int, str, aiohttp.ClientResponse]:
    served, http = env
    async with http.get(served.base + path, headers=headers, allow_redirects=False) as r:
        return r.status, await r.text(), r


def test_kb_files_carry_public_and_default_it_to_true() -> None:
    entry = KBEntry(id="internal_note", locale="en", question="Staff only?", answer="Yes.",
                    public=False)
    for fmt in ("yaml", "json", "jsonl", "csv"):
        assert loads(dumps([entry], fmt), fmt) == [entry], fmt
    old_csv = "id,locale,question,answer\nx,en,Q?,A.\n"
    assert loads(old_csv, "csv")[0].public is True


@pytest.mark.parametrize(("header", "expected"), [
    ("sv-SE,sv;q=0.9,en;q=0.5", "sv"), ("de-DE,lv;q=0.3,en;q=0.2", "lv"),
    ("en;q=0,sv;q=0.1", "sv"), ("de, fr", "en"), ("", "en"), ("*", "en"),
    ("sv;q=abc,lv", "lv"), ("\x00\ud800;q=1e999", "en"),
])
def test_the_language_comes_from_accept_language(header: str, expected: str) -> None:
    assert preferred(header, ("en", "lv", "sv"), "en") == expected


async def test_help_redirects_to_the_visitors_language(site: tuple[Served, aiohttp.ClientSession]
                                                       ) -> None:
    status, _, r = await get(site, "/help/", **{"Accept-Language": "lv-LV,lv;q=0.9"})
    assert (status, r.headers["Location"]) == (302, "/help/lv/")
    status, _, r = await get(site, "/help")
    assert (status, r.headers["Location"]) == (301, "/help/")
    assert (await get(site, "/help/de/"))[0] == 404
    assert (await get(site, "/help/sv"))[2].headers["Location"] == "/help/sv/"


async def test_home_lists_topics_with_language_alternates(
        site: tuple[Served, aiohttp.ClientSession]) -> None:
    status, html, _ = await get(site, "/help/sv/")
    assert status == 200
    assert '<html lang="sv">' in html
    assert f'<link rel="canonical" href="{PUBLIC}/help/sv/">' in html
    for loc in ("en", "sv", "lv"):
        assert f'hreflang="{loc}" href="{PUBLIC}/help/{loc}/"' in html
    assert "Hur kan vi hjälpa dig?" in html and "Example Shop Help" in html
    assert 'href="/help/sv/delivery-cost"' in html
    assert '<form class="search" role="search" action="/help/sv/search" method="get">' in html
    assert '<script src="/widget.js" data-lang="sv" defer>' in html


async def test_an_article_page_has_its_answer_schema_and_alternates(
        site: tuple[Served, aiohttp.ClientSession]) -> None:
    served, _ = site
    status, html, _ = await get(site, "/help/en/delivery-cost")
    assert status == 200
    entry = served.core.services.kb.entry("delivery_cost", "en")
    assert entry is not None
    assert f"<h1>{entry.question}</h1>" in html
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert data["@type"] == "FAQPage"
    assert data["mainEntity"][0]["acceptedAnswer"]["text"] == entry.answer
    assert f'<meta property="og:url" content="{PUBLIC}/help/en/delivery-cost">' in html
    assert f'hreflang="lv" href="{PUBLIC}/help/lv/delivery-cost"' in html
    assert "Was this helpful?" in html

    status, _, r = await get(site, "/help/en/delivery_cost")  # the entry id: same article
    assert (status, r.headers["Location"]) == (301, "/help/en/delivery-cost")
    status, html, _ = await get(site, "/help/en/no-such-article")
    assert status == 404 and "Page not found" in html


async def test_internal_entries_stay_out_and_edits_show_at_once(
        site: tuple[Served, aiohttp.ClientSession]) -> None:
    served, _ = site
    secret = KBEntry(id="staff_discount", locale="en", question="What is the staff discount?",
                     answer="Staff get 30 % off.", public=False)
    async with served.core.sessions.begin() as session:
        await kb.upsert(session, secret, "test")
        edited = served.core.services.kb.entry("delivery_cost", "en")
        assert edited is not None
        await kb.upsert(session, edited.model_copy(update={"answer": "Shipping is 3 EUR."}),
                        "test")

    async def shown() -> bool:
        return "Shipping is 3 EUR." in (await get(site, "/help/en/delivery-cost"))[1]

    await eventually(shown, timeout=2.5)  # the KB's 2-second budget, plus the request
    assert (await get(site, "/help/en/staff-discount"))[0] == 404
    assert "staff-discount" not in (await get(site, "/help/en/"))[1]
    assert "staff-discount" not in (await get(site, "/help/sitemap.xml"))[1]
    results = (await get(site, "/help/en/search?q=staff+discount"))[1]
    assert "staff-discount" not in results
    best = served.core.services.kb.match("What is the staff discount?", "en").best
    assert best is not None and best.entry_id == "staff_discount", "the bot still answers it"


async def test_search_uses_the_matcher_and_keeps_what_it_could_not_answer(
        site: tuple[Served, aiohttp.ClientSession]) -> None:
    served, _ = site
    status, html, r = await get(site, "/help/en/search?q=how+much+does+shipping+cost")
    assert status == 200 and r.headers["Cache-Control"] == "no-store"
    assert html.index('href="/help/en/delivery-cost"') < html.index("</ol>")
    assert "no article that answers this exactly" not in html
    status, html, _ = await get(site, "/help/en/search?q=zzqx+flurb+wobble")
    assert status == 200 and "We found nothing" in html and 'href="/feedback"' in html
    for hostile in ("%ED%A0%80%00", "x" * 5_000, "%3Cscript%3Ealert(1)%3C/script%3E"):
        status, html, _ = await get(site, f"/help/en/search?q={hostile}")
        assert status == 200
        assert "<script>alert(1)" not in html
    async with served.core.sessions() as s:
        queries = list((await s.scalars(select(HelpSearch.query))).all())
    assert "zzqx flurb wobble" in queries
    assert "how much does shipping cost" not in queries
    assert all(len(q) <= 500 for q in queries)
    status, _, r = await get(site, "/help/en/search?q=")
    assert (status, r.headers["Location"]) == (302, "/help/en/")


async def test_votes_and_views_are_counted(site: tuple[Served, aiohttp.ClientSession]) -> None:
    served, http = site
    for _ in range(3):
        assert (await get(site, "/help/en/returns"))[0] == 200
    form = "helpful=no&comment=Which+%ED%A0%80%00+address%3F"  # a lone surrogate and NUL
    async with http.post(served.base + "/help/en/returns/vote", allow_redirects=False,
                         data=form, headers={"Content-Type": FORM}) as r:
        assert (r.status, r.headers["Location"]) == (303, "/help/en/returns?voted=1#vote-title")
    async with http.post(served.base + "/help/en/returns/vote",
                         data={"helpful": "maybe"}) as r:
        assert r.status == 400
    assert "Thank you for your feedback!" in (await get(site, "/help/en/returns?voted=1"))[1]
    await served.app[HELP].views.flush()
    async with served.core.sessions() as s:
        stat = await s.get(HelpArticleStat, ("returns", "en"))
        vote = await s.scalar(select(HelpVote))
        n = await s.scalar(select(func.count()).select_from(HelpVote))
    assert stat is not None and (stat.views, stat.helpful, stat.unhelpful) == (4, 0, 1)
    assert vote is not None and vote.comment.startswith("Which ") and n == 1
    assert "\x00" not in vote.comment and vote.comment.endswith(" address?")
    assert 'href="/help/en/returns"' in (await get(site, "/help/en/"))[1].split("Topics")[0]


async def test_published_announcements_are_news_and_atom(
        site: tuple[Served, aiohttp.ClientSession]) -> None:
    served, _ = site
    when = utcnow() - timedelta(hours=1)
    async with served.core.sessions.begin() as s:
        for name, publish in (("Winter sale", True), ("Only for VIPs", False)):
            spec = BroadcastSpec(name=name, messages={"en": f"{name}: 20 % off", "sv": "Rea"},
                                 publish=publish)
            s.add(Broadcast(name=name, status="done", spec=spec.model_dump(mode="json"),
                            started_at=when))
    html = (await get(site, "/help/en/news"))[1]
    assert "Winter sale: 20 % off" in html and "VIPs" not in html
    assert "Rea" in (await get(site, "/help/sv/news"))[1]
    status, feed, r = await get(site, "/help/en/news.atom")
    assert status == 200 and r.content_type == "application/atom+xml"
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = ET.fromstring(feed).findall("a:entry", ns)
    assert [e.findtext("a:title", namespaces=ns) for e in entries] == ["Winter sale"]


async def test_the_sitemap_lists_every_public_article_with_alternates(
        site: tuple[Served, aiohttp.ClientSession]) -> None:
    status, xml, _ = await get(site, "/help/sitemap.xml")
    assert status == 200
    root = ET.fromstring(xml)
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9",
          "x": "http://www.w3.org/1999/xhtml"}
    urls = {u.findtext("s:loc", namespaces=ns): u for u in root.findall("s:url", ns)}
    article = urls[f"{PUBLIC}/help/sv/returns"]
    langs = {link.get("hreflang") for link in article.findall("x:link", ns)}
    assert langs == {"en", "sv", "lv"}
    assert f"{PUBLIC}/help/en/" in urls


async def test_reports_show_help_center_reading_and_its_gaps(
        site: tuple[Served, aiohttp.ClientSession]) -> None:
    from bot.hours import hours_for
    from handlers.reports.metrics import Options, build_report
    from handlers.reports.period import local_days

    served, http = site
    for _ in range(2):
        assert (await get(site, "/help/en/returns"))[0] == 200
        assert (await get(site, "/help/en/search?q=zzqx+flurb+wobble"))[0] == 200
    async with http.post(served.base + "/help/en/returns/vote", data={"helpful": "yes"},
                         allow_redirects=False) as r:
        assert r.status == 303
    await served.app[HELP].views.flush()
    now, team = utcnow(), hours_for(None).team("default")
    today = now.astimezone(team.tz).date()
    async with served.core.sessions() as session:
        report = await build_report(session, local_days(today, today, team.tz),
                                    Options(team=team), now)
    help_rows = report.table("help_center").as_dicts()
    assert help_rows[0] == {"entry_id": "returns", "locale": "en", "views": 2, "helpful": 1,
                            "not_helpful": 0, "helpful_share": 1.0}
    gaps = report.table("gaps").as_dicts()
    assert any(g["suggested_question"] == "zzqx flurb wobble" and g["questions"] == 2
               for g in gaps)


async def test_every_page_answers_in_every_language(
        site: tuple[Served, aiohttp.ClientSession]) -> None:
    served, _ = site
    titles = {"en": "How can we help?", "sv": "Hur kan vi hjälpa dig?", "lv": "Kā varam palīdzēt?"}
    for locale, title in titles.items():
        entry = served.core.services.kb.entry("returns", locale)
        assert entry is not None and entry.locale == locale
        for path, expect in ((f"/help/{locale}/", title),
                             (f"/help/{locale}/returns", entry.question),
                             (f"/help/{locale}/news", f'<html lang="{locale}">'),
                             (f"/help/{locale}/search?q={entry.question}", "/returns")):
            status, html, _ = await get(site, path)
            assert status == 200, path
            assert f'<html lang="{locale}">' in html and expect in html, path
        status, feed, _ = await get(site, f"/help/{locale}/news.atom")
        root = ET.fromstring(feed)
        assert status == 200 and root.tag == "{http://www.w3.org/2005/Atom}feed"
        assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == locale
        assert root.findtext("{http://www.w3.org/2005/Atom}updated")


async def test_the_site_the_home_page_and_the_sitemap_are_built_off_the_event_loop(
    site: tuple[Served, aiohttp.ClientSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 3,000 entries the site's build and the home page held every conversation ~0.1 s
    once per KB revision (and the home again every few minutes); the sitemap grows with the
    KB the same way."""
    from handlers.helpcenter import render as help_render
    from handlers.helpcenter import site as help_site
    from handlers.helpcenter import web as help_web

    log = ThreadLog()
    monkeypatch.setattr(help_site, "build", log.wrap("site", help_site.build))
    monkeypatch.setattr(help_render, "sitemap", log.wrap("sitemap", help_render.sitemap))
    monkeypatch.setattr(help_web.HelpCenter, "page", log.wrap("page", help_web.HelpCenter.page))
    for path in ("/help/en/", "/help/sitemap.xml"):
        status, body, _ = await get(site, path)
        assert status == 200 and body
    assert {"site", "page", "sitemap"} <= set(log.names), log.names
    assert not log.ran_on_this_thread(), "ran on the event loop"
