"""The admin UI's broadcasts page over real HTTP: progress, actions by role, CSRF, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.broadcast import service
from handlers.broadcast.spec import parse
from tests.admin_support import BOOTSTRAP, Running, browser_session, csrf_of, login, running
from tests.broadcast_support import seed_customers
from tests.conftest import make_settings


@pytest.fixture
async def srv(db_url: str) -> Any:
    async with running(make_settings(db_url, admin_token=BOOTSTRAP)) as r:
        yield r


async def _draft(srv: Running, name: str) -> int:
    spec = parse({"name": name, "messages": {"en": "Sale: -20 % today"}})
    return int((await service.create(srv.core.sessions, spec, "test"))["id"])


async def test_admin_sees_progress_and_steers_a_broadcast(srv: Running) -> None:
    await seed_customers(srv.core.engine, 3)
    bid = await _draft(srv, "Spring sale")
    async with browser_session(srv.url) as http:
        page = await login(http, "alice")
        async with http.get("/admin/broadcasts") as resp:
            page = await resp.text()
        assert resp.status == 200 and "Spring sale" in page and "draft" in page
        assert 'http-equiv="refresh"' not in page, "nothing is sending: no refresh"
        assert f'action="/admin/broadcasts/{bid}/send"' in page
        assert f'action="/admin/broadcasts/{bid}/pause"' not in page, "only what the status allows"
        csrf = csrf_of(page)
        async with http.post(f"/admin/broadcasts/{bid}/send", data={"_csrf": csrf}) as resp:
            page = await resp.text()
        assert "send done" in page and f'action="/admin/broadcasts/{bid}/pause"' in page
        assert '<meta http-equiv="refresh" content="5;url=/admin/broadcasts">' in page
        assert (await service.status(srv.core.sessions, bid))["status"] == "running"
        async with http.post(f"/admin/broadcasts/{bid}/resume", data={"_csrf": csrf}) as resp:
            page = await resp.text()
        assert resp.status == 200 and "cannot resume" in page, "a clear message, nothing changed"
        async with http.post(f"/admin/broadcasts/{bid}/cancel", data={"_csrf": "forged"}) as resp:
            assert resp.status == 403
        async with http.post("/admin/broadcasts/999/cancel", data={"_csrf": csrf}) as resp:
            assert resp.status == 404
        async with http.post(f"/admin/broadcasts/{bid}/explode", data={"_csrf": csrf}) as resp:
            assert resp.status == 404
        async with http.post(f"/admin/broadcasts/{bid}/cancel", data={"_csrf": csrf}) as resp:
            assert "cancel done" in await resp.text()
    assert (await service.status(srv.core.sessions, bid))["status"] == "cancelled"


async def test_agents_watch_but_cannot_steer(srv: Running) -> None:
    bid = await _draft(srv, "Outage notice")
    async with browser_session(srv.url) as http:
        await login(http, "bob")
        async with http.get("/admin/broadcasts") as resp:
            page = await resp.text()
        assert resp.status == 200 and "Outage notice" in page
        assert "/admin/broadcasts/" + str(bid) + "/send" not in page
        async with http.post(f"/admin/broadcasts/{bid}/send",
                             data={"_csrf": csrf_of(page)}) as resp:
            assert resp.status == 403
    assert (await service.status(srv.core.sessions, bid))["status"] == "draft"
