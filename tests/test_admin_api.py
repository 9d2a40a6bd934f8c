"""The admin REST API over real HTTP on both databases: authz, KB, pagination, errors, OpenAPI."""

from __future__ import annotations

import re
import threading
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate
from yarl import URL

from bot.api.base import registry
from knowledge.entries import KBEntry
from knowledge.formats import FORMATS, loads
from knowledge.matcher import MatchResult
from storage import kb as kb_repo
from storage.models import Customer, Ticket
from tests.admin_support import BOOTSTRAP, Running, browser_session, login, running
from tests.conftest import make_settings
from tests.helpers import ThreadLog, eventually

ENTRY = {"id": "api_test", "locale": "en", "question": "Can I pay with a llama?",
         "phrasings": ["llama payment"], "answer": "No llamas, sorry.", "tags": ["payments"]}


@pytest.fixture
async def srv(db_url: str) -> Any:
    async with running(make_settings(db_url, admin_token=BOOTSTRAP)) as r:
        yield r


def _fill(path: str) -> str:
    values = {"entry_id": "delivery_time", "locale": "en", "revision": "1", "ticket_id": "1",
              "customer_id": "1", "token_id": "999", "merge_id": "1"}
    return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), "1"), path)


async def test_every_route_denies_anonymous_and_agent_cannot_write(srv: Running) -> None:
    routes = registry(srv.app).routes.values()
    assert len(routes) >= 18
    async with aiohttp.ClientSession(srv.url) as http:
        for route in routes:
            path = _fill(route.path)
            async with http.request(route.method, path) as resp:
                expected = 200 if route.role == "public" else 401
                assert resp.status == expected, (route.method, path, resp.status)
                if expected == 401:
                    body = await resp.json()
                    assert body["error"]["code"] == "unauthorized"
                    assert "items" not in body
            if route.role == "admin":
                async with http.request(route.method, path, headers=srv.h(srv.agent),
                                        json={}) as resp:
                    assert resp.status == 403, (route.method, path)
                    assert (await resp.json())["error"]["code"] == "forbidden"
        # a wrong or revoked-looking token is as good as none
        async with http.get("/api/v1/kb/entries", headers=srv.h("crm_guess")) as resp:
            assert resp.status == 401
        # an unknown path under /api/v1 leaks nothing to strangers
        async with http.get("/api/v1/secret-stuff") as resp:
            assert resp.status == 401


async def test_agent_reads_but_cannot_change_the_kb(srv: Running) -> None:
    async with aiohttp.ClientSession(srv.url, headers=srv.h(srv.agent)) as http:
        async with http.get("/api/v1/kb/entries/delivery_time/en") as resp:
            assert resp.status == 200
        async with http.put("/api/v1/kb/entries/delivery_time/en",
                            json={"answer": "hacked"}) as resp:
            assert resp.status == 403
        async with http.post("/api/v1/kb/entries", json=ENTRY) as resp:
            assert resp.status == 403
        async with http.delete("/api/v1/kb/entries/delivery_time/en") as resp:
            assert resp.status == 403
        async with http.get("/api/v1/me") as resp:
            assert (await resp.json())["role"] == "agent"
    async with srv.core.sessions() as session:
        entry = await kb_repo.get(session, "delivery_time", "en")
        assert entry is not None and entry.answer != "hacked"
        assert await kb_repo.get(session, "api_test", "en") is None


async def test_without_admin_token_and_tokens_everything_is_closed(db_url: str) -> None:
    async with running(make_settings(db_url)) as srv:
        async with srv.core.sessions.begin() as session:
            from sqlalchemy import delete

            from storage.models_admin import ApiToken
            await session.execute(delete(ApiToken))
        async with aiohttp.ClientSession(srv.url) as http:
            for token in (None, "", "None", BOOTSTRAP, srv.admin):
                async with http.get("/api/v1/kb/entries", headers=srv.h(token)) as resp:
                    assert resp.status == 401, token


async def test_kb_crud_history_restore_and_live_matching(srv: Running) -> None:
    async with aiohttp.ClientSession(srv.url, headers=srv.h(srv.admin)) as http:
        async with http.get("/api/v1/kb/match", params={"text": "pay with a llama"}) as resp:
            assert (await resp.json())["outcome"] != "answer"
        async with http.post("/api/v1/kb/entries", json=ENTRY) as resp:
            assert resp.status == 201, await resp.text()
            assert (await resp.json())["revision"] == 1
        async with http.post("/api/v1/kb/entries", json=ENTRY) as resp:
            assert resp.status == 409
        async with http.get("/api/v1/kb/match", params={"text": "pay with a llama"}) as resp:
            result = await resp.json()
            assert result["outcome"] == "answer", result
            assert result["candidates"][0]["entry_id"] == "api_test"
        changed = {**ENTRY, "answer": "Llamas accepted on Tuesdays.", "base_revision": 1}
        async with http.put("/api/v1/kb/entries/api_test/en", json=changed) as resp:
            assert resp.status == 200 and (await resp.json())["revision"] == 2
        async with http.put("/api/v1/kb/entries/api_test/en", json=changed) as resp:
            body = await resp.json()
            assert resp.status == 409 and body["error"]["field"] == "base_revision"
        async with http.get("/api/v1/kb/entries/api_test/en/revisions") as resp:
            revs = (await resp.json())["items"]
            assert [r["revision"] for r in revs] == [1, 2]
            assert revs[1]["actor"].startswith("token:test admin#")
        async with http.post("/api/v1/kb/entries/api_test/en/revisions/1/restore") as resp:
            body = await resp.json()
            assert resp.status == 200 and body["revision"] == 3
            assert body["answer"] == "No llamas, sorry."
        async with http.post("/api/v1/kb/entries/api_test/en/revisions/99/restore") as resp:
            assert resp.status == 404
        async with http.delete("/api/v1/kb/entries/api_test/en") as resp:
            assert resp.status == 204
        async with http.get("/api/v1/kb/entries/api_test/en") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "not_found"
        async with http.post("/api/v1/kb/entries/api_test/en/revisions/4/restore") as resp:
            assert resp.status == 422  # revision 4 is the deletion itself
        async with http.post("/api/v1/kb/entries/api_test/en/revisions/2/restore") as resp:
            assert resp.status == 200 and (await resp.json())["revision"] == 5
        async with http.get("/api/v1/audit") as resp:
            actions = [a["action"] for a in (await resp.json())["items"]]
            assert actions.count("kb.restore") == 2


BAD_BODIES = [
    ({**ENTRY, "answer": ""}, "answer"),
    ({**ENTRY, "id": "has space"}, "id"),
    ({**ENTRY, "locale": "english"}, "locale"),
    ({**ENTRY, "colour": "red"}, "colour"),
    ({**ENTRY, "base_revision": "one"}, "base_revision"),
]


async def test_validation_errors_name_the_field(srv: Running) -> None:
    async with aiohttp.ClientSession(srv.url, headers=srv.h(srv.admin)) as http:
        for body, field in BAD_BODIES:
            async with http.post("/api/v1/kb/entries", json=body) as resp:
                err = (await resp.json())["error"]
                assert resp.status == 422 and err["code"] == "validation_error"
                assert err["field"] == field, err
        async with http.post("/api/v1/kb/entries", data="{not json",
                             headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"
        async with http.post("/api/v1/kb/entries", data="x") as resp:
            assert resp.status == 415
        async with http.put("/api/v1/kb/entries/delivery_time/en",
                            json={**ENTRY, "id": "other"}) as resp:
            assert resp.status == 422 and (await resp.json())["error"]["field"] == "id"
    async with srv.core.sessions() as session:
        assert await kb_repo.get(session, "api_test", "en") is None


async def test_kb_pagination_filters_and_search(srv: Running) -> None:
    async with aiohttp.ClientSession(srv.url, headers=srv.h(srv.agent)) as http:
        seen: list[tuple[str, str]] = []
        cursor = None
        while True:
            params = {"limit": "5", **({"cursor": cursor} if cursor else {})}
            async with http.get("/api/v1/kb/entries", params=params) as resp:
                page = await resp.json()
            assert len(page["items"]) <= 5
            seen += [(e["id"], e["locale"]) for e in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        async with srv.core.sessions() as session:
            assert len(seen) == await kb_repo.count(session)
        assert seen == sorted(seen) and len(set(seen)) == len(seen)
        async with http.get("/api/v1/kb/entries", params={"locale": "sv", "limit": "200"}) as r:
            items = (await r.json())["items"]
            assert items and {e["locale"] for e in items} == {"sv"}
        async with http.get("/api/v1/kb/entries", params={"q": "DELIVERY_TIME"}) as resp:
            assert {e["id"] for e in (await resp.json())["items"]} == {"delivery_time"}
        tag = items[0]["tags"][0]
        async with http.get("/api/v1/kb/entries", params={"tag": tag}) as resp:
            assert all(tag in e["tags"] for e in (await resp.json())["items"])
        for bad in ({"limit": "0"}, {"limit": "x"}, {"limit": "201"}, {"cursor": "!!"}):
            async with http.get("/api/v1/kb/entries", params=bad) as resp:
                err = (await resp.json())["error"]
                assert resp.status == 400 and err["field"] in bad, err


async def test_kb_search_pages_folds_case_and_filters_off_the_event_loop(
    srv: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search reads plain text columns and filters them in a worker thread, then loads only
    the page (it loaded and converted every entry on the event loop): same rule as before,
    non-ASCII text in phrasings and tags included, every hit once across pages."""
    from handlers.faq import api as faq_api

    latvian = KBEntry(id="zz_parcel", locale="lv", question="Kur ir paka?",
                      phrasings=("Kur ir mans ZEBRAS SŪTĪJUMS?",), answer="Skatiet saiti.",
                      tags=("Zebru-piegāde",))
    async with srv.core.sessions.begin() as session:
        await kb_repo.upsert(session, latvian, "test")
    threads: list[int] = []
    real = faq_api._filter_rows

    def recorded(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(faq_api, "_filter_rows", recorded)
    async with aiohttp.ClientSession(srv.url, headers=srv.h(srv.agent)) as http:
        for params in ({"q": "zebras sūtījums"}, {"q": "ZEBRU-PIEGĀDE"},
                       {"tag": "Zebru-piegāde"},
                       {"q": "paka", "tag": "Zebru-piegāde", "locale": "lv"}):
            async with http.get("/api/v1/kb/entries", params=params) as resp:
                ids = [e["id"] for e in (await resp.json())["items"]]
                assert ids == ["zz_parcel"], (params, ids)
        async with http.get("/api/v1/kb/entries", params={"tag": "zebru-piegāde"}) as resp:
            assert (await resp.json())["items"] == [], "tags match exactly"
        # hostile search text (a lone surrogate's bytes, a NUL, control characters) finds
        # nothing and fails nothing: it is only compared in Python, never sent to the database
        for raw in ("q=%ED%A0%80", "q=%00", "tag=%ED%A0%80", "q=%01%1B&tag=%00", "q=" + "a" * 5000):
            async with http.get(URL(f"/api/v1/kb/entries?{raw}", encoded=True)) as resp:
                assert resp.status == 200 and (await resp.json())["items"] == [], raw
        async with srv.core.sessions() as session:
            every = await kb_repo.list_entries(session)
        expected = sorted(e.key for e in every if "e" in " ".join(
            (e.id, e.question, e.answer, *e.phrasings, *e.tags)).casefold())
        seen: list[tuple[str, str]] = []
        cursor = None
        while True:
            params = {"q": "E", "limit": "7", **({"cursor": cursor} if cursor else {})}
            async with http.get("/api/v1/kb/entries", params=params) as resp:
                page = await resp.json()
            seen += [(e["id"], e["locale"]) for e in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert len(expected) > 20 and seen == expected
    assert threads and threading.get_ident() not in threads, "filtered on the event loop"


async def test_import_export_all_formats_and_all_or_nothing(srv: Running) -> None:
    async with aiohttp.ClientSession(srv.url, headers=srv.h(srv.admin)) as http:
        for fmt in FORMATS:
            async with http.get("/api/v1/kb/export", params={"format": fmt}) as resp:
                text = await resp.text()
                assert resp.status == 200 and len(loads(text, fmt)) >= 30
            async with http.post("/api/v1/kb/import", params={"format": fmt},
                                 data=text.encode()) as resp:
                stats = await resp.json()
                assert resp.status == 200 and stats["unchanged"] >= 30, stats
        async with srv.core.sessions() as session:
            every = await kb_repo.list_entries(session)
        async with http.get("/api/v1/kb/export", params={"format": "json"}) as resp:
            assert loads(await resp.text(), "json") == every  # flags, tags, phrasings: all
        tag = next(t for e in every if e.locale == "sv" for t in e.tags)
        async with http.get("/api/v1/kb/export",
                            params={"format": "jsonl", "tag": tag, "locale": "sv"}) as resp:
            picked = [e for e in every if e.locale == "sv" and tag in e.tags]
            assert picked and loads(await resp.text(), "jsonl") == picked
        bad = ('{"id": "new_one", "locale": "en", "question": "new?", "answer": "fine"}\n'
               '{"id": "bad", "locale": "en", "answer": ""}\n')
        async with http.post("/api/v1/kb/import", params={"format": "jsonl"},
                             data=bad) as resp:
            err = (await resp.json())["error"]
            assert resp.status == 422 and err["code"] == "invalid_kb_file"
            assert "line 2" in err["message"] and "answer" in err["message"]
        good = '{"id": "new_one", "locale": "en", "question": "new?", "answer": "fine"}\n'
        async with http.post("/api/v1/kb/import", params={"format": "jsonl",
                                                          "dry_run": "true"}, data=good) as r:
            assert (await r.json()) == {"created": 1, "updated": 0, "unchanged": 0,
                                        "dry_run": True}
        async with http.post("/api/v1/kb/import", params={"format": "xml"}, data=good) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["field"] == "format"
    async with srv.core.sessions() as session:
        assert await kb_repo.get(session, "new_one", "en") is None


async def test_tickets_and_customers_pages_and_details(srv: Running) -> None:
    async with srv.core.sessions.begin() as session:
        customers = [Customer(display_name=f"c{i}") for i in range(3)]
        session.add_all(customers)
        await session.flush()
        for i in range(5):
            session.add(Ticket(customer_id=customers[i % 3].id, channel="test",
                               status="resolved" if i % 2 else "open", reason="r",
                               subject=f"s{i}"))
    async with aiohttp.ClientSession(srv.url, headers=srv.h(srv.agent)) as http:
        ids: list[int] = []
        cursor = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            async with http.get("/api/v1/tickets", params=params) as resp:
                page = await resp.json()
            ids += [t["id"] for t in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert ids == sorted(ids, reverse=True) and len(ids) == 5
        async with http.get("/api/v1/tickets", params={"status": "open"}) as resp:
            assert {t["status"] for t in (await resp.json())["items"]} == {"open"}
        async with http.get("/api/v1/tickets", params={"status": "lost"}) as resp:
            assert resp.status == 400
        async with http.get(f"/api/v1/tickets/{ids[0]}") as resp:
            body = await resp.json()
            assert body["transcript"] == [] and body["customer"]["display_name"]
        async with http.get("/api/v1/tickets/999999") as resp:
            assert resp.status == 404
        async with http.get("/api/v1/tickets/abc") as resp:
            assert resp.status == 400
        async with http.get("/api/v1/customers", params={"limit": "2"}) as resp:
            page = await resp.json()
            assert len(page["items"]) == 2 and page["next_cursor"]
        async with http.get("/api/v1/customers", params={"cursor": page["next_cursor"]}) as r:
            assert len((await r.json())["items"]) == 1
        async with http.get(f"/api/v1/customers/{customers[0].id}") as resp:
            assert len((await resp.json())["tickets"]) == 2


async def test_tokens_created_shown_once_revoked_and_audited(srv: Running) -> None:
    async with aiohttp.ClientSession(srv.url, headers=srv.h(BOOTSTRAP)) as http:
        async with http.post("/api/v1/tokens", json={"name": "ci", "role": "agent"}) as resp:
            created = await resp.json()
            assert resp.status == 201 and created["token"].startswith("crm_")
        async with http.post("/api/v1/tokens", json={"name": "x", "role": "root"}) as resp:
            assert resp.status == 422 and (await resp.json())["error"]["field"] == "role"
        async with http.get("/api/v1/tokens") as resp:
            listed = (await resp.json())["items"]
            assert all("token" not in t for t in listed) and created["token"] not in str(listed)
        async with http.get("/api/v1/me", headers=srv.h(created["token"])) as resp:
            assert (await resp.json())["actor"] == f"token:ci#{created['id']}"
        async with http.delete(f"/api/v1/tokens/{created['id']}") as resp:
            assert resp.status == 204
        async with http.get("/api/v1/me", headers=srv.h(created["token"])) as resp:
            assert resp.status == 401
        async with http.get("/api/v1/audit") as resp:
            rows = (await resp.json())["items"]
            mine = [(r["actor"], r["action"]) for r in rows if r["target"] ==
                    f"token:{created['id']}"]
            assert mine == [("admin-token", "token.revoke"), ("admin-token", "token.create")]


async def test_openapi_matches_the_router(srv: Running) -> None:
    async with aiohttp.ClientSession(srv.url) as http, http.get("/api/v1/openapi.json") as resp:
        doc = await resp.json()
    validate(doc)
    routed = {(r.method.lower(), r.resource.canonical) for r in srv.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/v1/")
              and r.method not in ("HEAD", "OPTIONS")}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert routed == documented
    mine = {(m.lower(), p) for (m, p) in registry(srv.app).routes}
    undocumented = {k for k in documented if doc["paths"][k[1]][k[0]].get(
        "x-crmbot-undocumented")}
    assert mine <= documented and not (mine & undocumented)
    for path, ops in doc["paths"].items():
        for op in ops.values():
            if op.get("x-crmbot-role") == "public":
                continue
            for name in re.findall(r"{(\w+)}", path):
                assert name in {p["name"] for p in op.get("parameters", [])}, path


async def test_teach_adds_the_wording_closes_the_questions_and_is_idempotent(
    srv: Running,
) -> None:
    from storage import unanswered

    text = "how many working days until the box is on my doorstep"
    async with srv.core.sessions.begin() as session:
        unanswered.record(session, None, text, "en", "suggested", "delivery_time", 0.3)
    async with aiohttp.ClientSession(srv.url, headers=srv.h(BOOTSTRAP)) as http:
        async with http.get("/api/v1/unanswered") as resp:
            [item] = (await resp.json())["items"]
        body = {"entry_id": "delivery_time", "locale": "en", "text": text, "ids": item["ids"]}
        async with http.post("/api/v1/unanswered/teach", json=body) as resp:
            first = await resp.json()
            assert resp.status == 200 and first["added"] and first["closed"] == 1, first
        async with http.post("/api/v1/unanswered/teach", json=body) as resp:
            assert await resp.json() == {"added": False, "closed": 0, "revision": None}
        async with http.get("/api/v1/kb/match", params={"text": text, "locale": "en"}) as resp:
            match = await resp.json()
            assert match["outcome"] == "answer"
            assert match["candidates"][0]["entry_id"] == "delivery_time"
        for wrong, status, code in [
            ({**body, "entry_id": "nope"}, 404, "not_found"),
            ({**body, "text": "x" * 4001}, 422, None),
            ({**body, "ids": [2**63]}, 422, None),
            ({**body, "extra": 1}, 422, None),
        ]:
            async with http.post("/api/v1/unanswered/teach", json=wrong) as resp:
                error = (await resp.json())["error"]
                assert resp.status == status and (code is None or error["code"] == code)
        async with http.post("/api/v1/unanswered/teach", data=b"[" * 100_000,
                             headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400
        lone = b'{"entry_id": "delivery_time", "locale": "en", "text": "box \\ud800 gone"}'
        async with http.post("/api/v1/unanswered/teach", data=lone,
                             headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 200 and (await resp.json())["added"]
        async with http.post("/api/v1/unanswered/teach", json=body,
                             headers={"Authorization": "Bearer"}) as resp:
            assert resp.status == 401
    async with srv.core.sessions() as session:
        entry = await kb_repo.get(session, "delivery_time", "en")
        assert entry is not None and entry.phrasings.count(text) == 1
        assert entry.phrasings[-1] == "box \ufffd gone"


async def test_trying_a_question_matches_off_the_event_loop(srv: Running) -> None:
    """The admin's "try a question" (API, page and its JSON) matched on the event loop: with the
    shipped tier an unsure question held every conversation while the encoder ran (10-25 ms, a
    4,000-character one ~0.4 s, the first one also the encoder's load)."""
    kb = srv.core.services.kb
    assert await eventually(lambda: getattr(kb._matcher, "embeds", False)), "the shipped tier"
    threads: list[int] = []
    real = kb.match

    def recording(text: str, locale: str, limit: int = 3) -> MatchResult:
        threads.append(threading.get_ident())
        return real(text, locale, limit)

    kb.match = recording  # type: ignore[method-assign]
    question = {"text": "vai par piegādi uz mājām ir papildu maksa", "locale": "lv"}
    async with (aiohttp.ClientSession(srv.url, headers=srv.h(srv.admin)) as http,
                http.get("/api/v1/kb/match", params=question) as resp):
        assert resp.status == 200 and (await resp.json())["candidates"]
    async with browser_session(srv.url) as http:
        await login(http, "bob")
        for path in ("/admin/try", "/admin/try.json"):
            async with http.get(path, params=question) as resp:
                assert resp.status == 200, path
    assert len(threads) == 3
    assert threading.get_ident() not in threads, "matched on the event loop's thread"


async def test_kb_files_are_read_and_written_off_the_event_loop(
    srv: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """YAML of 10,000 entries takes ~4 s to write and 770 KB ~2 s to read: the import and
    export parsed and wrote on the event loop, holding every conversation meanwhile. Deep
    nesting is still refused with 422 from the worker thread."""
    from handlers.faq import api as faq_api

    log = ThreadLog()
    monkeypatch.setattr(faq_api, "loads", log.wrap("loads", faq_api.loads))
    monkeypatch.setattr(faq_api, "dumps", log.wrap("dumps", faq_api.dumps))
    async with aiohttp.ClientSession(srv.url, headers=srv.h(srv.admin)) as http:
        async with http.get("/api/v1/kb/export", params={"format": "yaml"}) as resp:
            text = await resp.text()
            assert resp.status == 200
        async with http.post("/api/v1/kb/import", params={"format": "yaml", "dry_run": "1"},
                             data=text.encode()) as resp:
            assert resp.status == 200, await resp.text()
        for fmt in FORMATS:
            async with http.post("/api/v1/kb/import", params={"format": fmt},
                                 data=b"[" * 100_000 + b"]" * 100_000) as resp:
                error = (await resp.json())["error"]
                assert resp.status == 422 and error["code"] == "invalid_kb_file", (fmt, error)
    assert log.names == ["dumps", "loads", *(["loads"] * len(FORMATS))]
    assert not log.ran_on_this_thread(), "ran on the event loop"


async def test_a_page_of_entries_reads_only_that_page(
    srv: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page of GET /api/v1/kb/entries loaded and converted every entry of the KB on the
    event loop (~0.15 s a page at 3,000 entries); plain paging now reads one page in SQL. A
    forged cursor is a 400, a lone surrogate in it included (PostgreSQL cannot take one)."""
    import base64
    import json

    from storage import kb as storage_kb

    converted: list[str] = []
    real = storage_kb.row_to_entry

    def counting(row: Any) -> Any:
        converted.append(row.entry_id)
        return real(row)

    monkeypatch.setattr(storage_kb, "row_to_entry", counting)
    async with aiohttp.ClientSession(srv.url, headers=srv.h(srv.agent)) as http:
        async with http.get("/api/v1/kb/entries", params={"limit": "3"}) as resp:
            first = await resp.json()
        async with http.get("/api/v1/kb/entries",
                            params={"limit": "3", "cursor": first["next_cursor"]}) as resp:
            second = await resp.json()
        assert len(converted) <= 8, "two pages of three (+1 to know there is more)"
        keys = [(e["id"], e["locale"]) for e in first["items"] + second["items"]]
        assert len(set(keys)) == 6
        for forged in (["\ud800", "en"], ["a", "b", "c"], [1, 2], ["a\x00", "en"], {"a": 1}):
            raw = json.dumps(forged).encode()
            cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            async with http.get("/api/v1/kb/entries", params={"cursor": cursor}) as resp:
                error = (await resp.json())["error"]
                assert resp.status == 400 and error["field"] == "cursor", (forged, error)
