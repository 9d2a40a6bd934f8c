"""Admin API for a person's data: export, merge and undo, erase (and nothing for agents)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, text

from storage.models import Customer
from tests.admin_support import BOOTSTRAP, Running, running
from tests.conftest import make_settings
from tests.helpers import inbound


@pytest.fixture
async def srv(db_url: str) -> Any:
    async with running(make_settings(db_url, admin_token=BOOTSTRAP)) as r:
        yield r


async def _two_customers(srv: Running) -> tuple[int, int]:
    await srv.core.ingest(inbound("Hello, I am Mallory Privacy", "p1", chat="web-1",
                                  display_name="Mallory Privacy"))
    await srv.core.ingest(inbound("Me again on another channel", "p2", chat="tg-2",
                                  display_name="M. P."))
    async with srv.core.sessions() as s:
        ids = sorted((await s.scalars(select(Customer.id))).all())
    return ids[0], ids[1]


async def test_export_merge_undo_and_erase(srv: Running) -> None:
    first, second = await _two_customers(srv)
    async with aiohttp.ClientSession(srv.url) as http:
        async with http.get(f"/api/v1/customers/{first}/export", headers=srv.h(srv.agent)) as r:
            assert r.status == 403, "agents cannot export people"
        async with http.get(f"/api/v1/customers/{first}/export", headers=srv.h(srv.admin)) as r:
            assert r.status == 200
            assert "Mallory Privacy" in await r.text()
        async with http.post(f"/api/v1/customers/{first}/merge", json={"merge": "x"},
                             headers=srv.h(srv.admin)) as r:
            assert r.status == 422 and (await r.json())["error"]["field"] == "merge"
        async with http.post(f"/api/v1/customers/{first}/merge", json={"merge": second},
                             headers=srv.h(srv.admin)) as r:
            assert r.status == 201
            merge = await r.json()
            assert merge["kept"] == first and merge["merged"] == second
        async with http.post(f"/api/v1/merges/{merge['id']}/undo",
                             headers=srv.h(srv.admin)) as r:
            assert r.status == 200
        async with http.post(f"/api/v1/merges/{merge['id']}/undo",
                             headers=srv.h(srv.admin)) as r:
            assert r.status == 409, "an undone merge cannot be undone twice"
        async with http.post(f"/api/v1/customers/{first}/erase", headers=srv.h(srv.admin)) as r:
            assert r.status == 200
        async with http.post("/api/v1/customers/999999/erase", headers=srv.h(srv.admin)) as r:
            assert r.status == 404
    async with srv.core.sessions() as s:
        rows = (await s.execute(text("SELECT text FROM messages"))).scalars().all()
        names = (await s.execute(text("SELECT display_name FROM customers"))).scalars().all()
    assert not any("Mallory" in (t or "") for t in rows)
    assert "Mallory Privacy" not in names and "M. P." in names, "only the erased person"
