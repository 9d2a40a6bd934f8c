"""The admin web UI over real HTTP on both databases: sign-in, cookies, CSRF, roles, editor.

The browser-level journey is in test_admin_browser.py; these tests pin the security properties
and the save-all-or-nothing editor without a browser.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from bot.messages import InboundMessage
from storage import kb as kb_repo
from storage import unanswered
from tests.admin_support import BOOTSTRAP, Running, browser_session, csrf_of, login, running
from tests.conftest import make_settings
from tests.helpers import eventually


@pytest.fixture
async def srv(db_url: str) -> Any:
    async with running(make_settings(db_url, admin_token=BOOTSTRAP)) as r:
        yield r


def _form(csrf: str, **fields: str) -> dict[str, str]:
    data = {"_csrf": csrf, "locales": "en,sv,lv"}
    for loc in ("en", "sv", "lv"):
        for name in ("question", "answer", "phrasings", "tags", "base"):
            data.setdefault(f"{loc}-{name}", "")
    data.update(fields)
    return data


async def test_anonymous_is_sent_to_login_and_gets_nothing(srv: Running) -> None:
    async with browser_session(srv.url) as http:
        for path in ("/admin/", "/admin/kb", "/admin/kb/e/delivery_time", "/admin/tickets",
                     "/admin/unanswered", "/admin/try.json?text=x", "/admin/audit",
                     "/admin/broadcasts"):
            async with http.get(path, allow_redirects=False) as resp:
                assert resp.status == 303 and resp.headers["Location"].startswith(
                    "/admin/login?next="), path
        async with http.post("/admin/kb/e/delivery_time", data={"en-answer": "x"}) as resp:
            assert resp.status == 401
        # bearer tokens do not open the UI (cookies only), and cookies do not open the API
        async with http.get("/admin/kb", headers=srv.h(BOOTSTRAP),
                            allow_redirects=False) as resp:
            assert resp.status == 303


async def test_login_cookie_flags_csrf_and_logout(srv: Running) -> None:
    async with browser_session(srv.url) as http:
        async with http.get("/admin/login") as resp:
            token = csrf_of(await resp.text())
        bad = {"_csrf": "forged", "name": "alice", "password": "correct horse battery"}
        async with http.post("/admin/login", data=bad) as resp:
            assert resp.status == 403
        form = {"_csrf": token, "name": "alice", "password": "wrong password!",
                "next": "/admin/kb"}
        async with http.post("/admin/login", data=form) as resp:
            assert resp.status == 401 and "Wrong user name" in await resp.text()
        form["password"] = "correct horse battery"
        form["next"] = "https://evil.example/"
        async with http.post("/admin/login", data=form, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/admin/kb"
            cookie = resp.cookies["crmbot_session"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
            assert cookie["path"] == "/admin" and not cookie["secure"]
        async with http.get("/admin/kb") as resp:
            page = await resp.text()
            assert resp.status == 200 and "user:alice" in page
            assert resp.headers["X-Frame-Options"] == "DENY"
        async with http.get("/api/v1/me") as resp:
            assert resp.status == 401  # the session cookie is not an API credential
        csrf = csrf_of(page)
        async with http.post("/admin/kb/e/delivery_time",
                             data=_form("wrong", **{"en-answer": "x"})) as resp:
            assert resp.status == 403
        async with http.post("/admin/logout", data={"_csrf": csrf}) as resp:
            assert resp.url.path == "/admin/login"
        async with http.get("/admin/kb", allow_redirects=False) as resp:
            assert resp.status == 303


async def test_secure_cookie_when_public_url_is_https(db_url: str) -> None:
    settings = make_settings(db_url, admin_token=BOOTSTRAP, public_url="https://bot.example")
    async with running(settings) as srv, browser_session(srv.url) as http:
        async with http.get("/admin/login") as resp:
            assert resp.cookies["crmbot_login"]["secure"]
            token = csrf_of(await resp.text())
        form = {"_csrf": token, "token": BOOTSTRAP, "next": "/admin/kb"}
        # a Secure cookie is not sent over plain http: hand it over as the browser would
        async with http.post("/admin/login", data=form, allow_redirects=False,
                             headers={"Cookie": f"crmbot_login={token}"}) as resp:
            assert resp.status == 303 and resp.cookies["crmbot_session"]["secure"]


async def test_agent_session_reads_but_cannot_edit(srv: Running) -> None:
    async with browser_session(srv.url) as http:
        page = await login(http, "bob")
        async with http.get("/admin/kb/e/delivery_time") as resp:
            html = await resp.text()
            assert resp.status == 200 and "<fieldset disabled>" in html
        form = _form(csrf_of(page), **{"en-question": "q", "en-answer": "changed by agent"})
        async with http.post("/admin/kb/e/delivery_time", data=form) as resp:
            assert resp.status == 403
        async with http.get("/admin/kb/new") as resp:
            assert resp.status == 403
    async with srv.core.sessions() as session:
        entry = await kb_repo.get(session, "delivery_time", "en")
        assert entry is not None and entry.answer != "changed by agent"


async def test_editor_saves_all_languages_or_nothing_and_escapes(srv: Running) -> None:
    async with browser_session(srv.url) as http:
        page = await login(http, "alice")
        csrf = csrf_of(page)
        bad = _form(csrf, id="ui_new", **{
            "en-question": "<script>alert(1)</script> question", "en-answer": "fine",
            "sv-question": "Svensk fråga", "sv-answer": ""})
        async with http.post("/admin/kb/new", data=bad) as resp:
            html = await resp.text()
            assert resp.status == 422 and "Nothing was saved" in html
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
        async with srv.core.sessions() as session:
            assert await kb_repo.get(session, "ui_new", "en") is None
        good = dict(bad, **{"sv-answer": "Svenskt svar", "sv-phrasings": "ett\ntvå"})
        async with http.post("/admin/kb/new", data=good) as resp:
            assert resp.status == 200 and resp.url.path == "/admin/kb/e/ui_new"
        async with srv.core.sessions() as session:
            sv = await kb_repo.get(session, "ui_new", "sv")
            assert sv is not None and sv.phrasings == ("ett", "två")
            revs = await kb_repo.history(session, "ui_new", "en")
            assert revs[0].actor == "user:alice"
        async with http.post("/admin/kb/new", data=good) as resp:
            assert resp.status == 409 and "already exists" in await resp.text()
        stale = dict(good, **{"en-base": "1", "sv-base": "1", "en-answer": "v2"})
        async with http.post("/admin/kb/e/ui_new", data=stale) as resp:
            assert resp.status == 200
        async with http.post("/admin/kb/e/ui_new", data=dict(stale, **{"en-answer": "v3"})) as r:
            assert r.status == 409 and "changed by someone else" in await r.text()


async def test_unanswered_questions_are_recorded_and_turned_into_entries(srv: Running) -> None:
    msg = InboundMessage(channel="test", event_id="u1", user_id="c9", chat_id="c9",
                         text="Do you ship to Antarctica by penguin?", kind="text")
    result = await srv.core.ingest(msg)
    await srv.core.processor.process_conversation(result.conversation_id)
    async def listed() -> list[unanswered.OpenQuestion]:
        async with srv.core.sessions() as session:
            return await unanswered.list_open(session)

    # the app's own processor may be the one that handles it
    assert await eventually(listed)
    groups = await listed()
    assert [g.text for g in groups] == ["Do you ship to Antarctica by penguin?"]
    async with browser_session(srv.url) as http:
        await login(http, "alice")
        async with http.get("/admin/unanswered") as resp:
            html = await resp.text()
            assert "Antarctica by penguin" in html and "Create entry from this" in html
        async with http.get(f"/admin/kb/new?question=Penguin+shipping&locale=en"
                            f"&from={groups[0].ids[0]}") as resp:
            form_html = await resp.text()
            assert 'value="Penguin shipping"' in form_html
        form = _form(csrf_of(form_html), id="penguins", **{
            "en-question": "Do you ship to Antarctica?", "en-answer": "Only by penguin.",
            "from": str(groups[0].ids[0])})
        async with http.post("/admin/kb/new", data=form) as resp:
            assert resp.status == 200
    async with srv.core.sessions() as session:
        assert await unanswered.list_open(session) == []


TAUGHT = "how many working days until the box is on my doorstep"


async def _open_question(srv: Running, text: str, best: str) -> list[int]:
    async with srv.core.sessions.begin() as session:
        unanswered.record(session, None, text, "en", "suggested", best, 0.31)
    async with srv.core.sessions() as session:
        return list((await unanswered.list_open(session))[0].ids)


async def test_an_unanswered_question_is_taught_to_its_entry(srv: Running) -> None:
    """The admin adds the customer's wording to the closest entry in one click: the question
    closes, the entry gets a new revision (audited), and the bot answers it alone at once."""
    assert not srv.core.services.kb.match(TAUGHT, "en").confident
    ids = await _open_question(srv, TAUGHT, "delivery_time")
    async with browser_session(srv.url) as http:
        await login(http, "alice")
        async with http.get("/admin/unanswered") as resp:
            html = await resp.text()
            assert 'action="/admin/unanswered/teach"' in html and 'value="delivery_time"' in html
        form = {"_csrf": csrf_of(html), "ids": ",".join(map(str, ids)), "text": TAUGHT,
                "locale": "en", "entry": "delivery_time"}
        async with http.post("/admin/unanswered/teach", data=form) as resp:
            assert resp.status == 200 and "as a phrasing" in await resp.text()
        async with http.post("/admin/unanswered/teach", data=form) as resp:
            assert "already has this wording" in await resp.text()
    async with srv.core.sessions() as session:
        entry = await kb_repo.get(session, "delivery_time", "en")
        assert entry is not None and entry.phrasings[-1] == TAUGHT
        assert await unanswered.list_open(session) == []
    result = srv.core.services.kb.match(TAUGHT, "en")
    assert result.confident and result.best is not None
    assert result.best.entry_id == "delivery_time"


async def test_teaching_hostile_text_stores_it_cleaned_or_refuses_it(srv: Running) -> None:
    ids = await _open_question(srv, TAUGHT, "delivery_time")
    async with browser_session(srv.url) as http:
        page = await login(http, "alice")
        form = {"_csrf": csrf_of(page), "ids": ",".join(map(str, ids)), "locale": "en",
                "entry": "delivery_time"}
        for text, said in [("x" * 4001, "Nothing changed"), ("  ", "Nothing changed"),
                           ("box\x00 on my \x1b doorstep", "as a phrasing")]:
            async with http.post("/admin/unanswered/teach", data=dict(form, text=text)) as resp:
                assert resp.status == 200 and said in await resp.text(), text
    async with srv.core.sessions() as session:
        entry = await kb_repo.get(session, "delivery_time", "en")
        assert entry is not None and entry.phrasings[-1] == "box\ufffd on my \x1b doorstep"


@pytest.mark.parametrize(("entry", "locale", "user"), [
    ("no_such_entry", "en", "alice"), ("delivery_time", "xx", "alice"),
    ("delivery_time", "en", "bob")])
async def test_teaching_a_wrong_entry_or_as_an_agent_changes_nothing(
    srv: Running, entry: str, locale: str, user: str
) -> None:
    ids = await _open_question(srv, TAUGHT, "delivery_time")
    async with browser_session(srv.url) as http:
        page = await login(http, user)
        form = {"_csrf": csrf_of(page), "ids": ",".join(map(str, ids)), "text": TAUGHT,
                "locale": locale, "entry": entry}
        async with http.post("/admin/unanswered/teach", data=form) as resp:
            if user == "bob":
                assert resp.status == 403
            else:
                assert resp.status == 200 and "Nothing changed" in await resp.text()
    async with srv.core.sessions() as session:
        assert [g.ids for g in await unanswered.list_open(session)] == [tuple(ids)]
        kept = await kb_repo.get(session, "delivery_time", "en")
        assert kept is not None and TAUGHT not in kept.phrasings


async def test_the_teach_form_is_filled_in_with_the_customers_pick(srv: Running) -> None:
    msg = InboundMessage(channel="test", event_id="p1", user_id="c8", chat_id="c8",
                         text="/start", kind="command")
    conversation_id = (await srv.core.ingest(msg)).conversation_id
    async with srv.core.sessions.begin() as session:
        unanswered.record(session, conversation_id, TAUGHT, "en", "suggested", "returns", 0.4)
    async with srv.core.sessions.begin() as session:
        await unanswered.note_pick(session, conversation_id, "delivery_time")
    async with browser_session(srv.url) as http:
        await login(http, "alice")
        async with http.get("/admin/unanswered") as resp:
            html = await resp.text()
    assert "customer picked" in html and 'value="delivery_time"' in html
    assert 'value="returns"' not in html


async def test_the_editor_stores_hostile_text_cleaned(srv: Running) -> None:
    """A NUL (refused by PostgreSQL text) or a control character typed or pasted into the
    editor is saved as U+FFFD / kept, never a server error."""
    async with browser_session(srv.url) as http:
        page = await login(http, "alice")
        form = _form(csrf_of(page), id="hostile_ui", **{
            "en-question": "Nul\x00 in a question?", "en-answer": "Answer \x00 with \x1b escape",
            "en-phrasings": "one\x00\ntwo"})
        async with http.post("/admin/kb/new", data=form) as resp:
            assert resp.status == 200, await resp.text()
    async with srv.core.sessions() as session:
        entry = await kb_repo.get(session, "hostile_ui", "en")
    assert entry is not None and entry.question == "Nul\ufffd in a question?"
    assert entry.answer == "Answer \ufffd with \x1b escape" and entry.phrasings[0] == "one\ufffd"


async def test_the_kb_list_pages_through_every_entry_once(
    srv: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list loaded and rendered the whole KB on every view (3,000 entries held the event
    loop ~0.2 s); it now shows a page and links the next. Hostile `after` values start at the
    top instead of failing."""
    from handlers.faq import web as faq_web

    monkeypatch.setattr(faq_web, "LIST_PAGE", 4)
    async with srv.core.sessions() as session:
        entries = await kb_repo.list_entries(session)
    expected = sorted({e.id for e in entries})
    found_sv = sorted({e.id for e in entries if e.locale == "sv" and "ä" in " ".join(
        (e.id, e.question, e.answer, *e.phrasings, *e.tags)).casefold()})
    assert len(expected) > 8 and len(found_sv) > 8

    async def walk(http: aiohttp.ClientSession, url: str | None) -> list[str]:
        seen: list[str] = []
        while url:
            async with http.get(url) as resp:
                html = await resp.text()
                assert resp.status == 200
            seen += re.findall(r'<td><a href="/admin/kb/e/([^"]+)">', html)
            found = re.search(r'<a href="([^"]+)" rel="next">', html)
            url = found.group(1).replace("&amp;", "&") if found else None
        return seen

    async with browser_session(srv.url) as http:
        await login(http, "bob")
        assert await walk(http, "/admin/kb") == expected
        assert f"{len(expected)} entries, 4 shown" in (await (await http.get("/admin/kb")).text())
        # a search pages the same way (the hits read as text and filtered in a worker thread)
        assert await walk(http, "/admin/kb?q=%C3%84&locale=sv") == found_sv
        async with http.get("/admin/kb", params={"q": "Ä", "locale": "sv"}) as resp:
            assert f"{len(found_sv)} entries, 4 shown" in await resp.text()
        for hostile in ("\ud800", "\x00", "z" * 5000):
            async with http.get("/admin/kb", params={"after": hostile}) as resp:
                assert resp.status == 200
