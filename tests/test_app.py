"""The HTTP server on a real socket: health, readiness, metrics, and a clean start from nothing."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from bot.app import build_app
from tests.conftest import make_settings


async def test_health_ready_and_metrics(db_url: str) -> None:
    app = build_app(make_settings(db_url))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/healthz") as resp:
                assert resp.status == 200 and (await resp.json())["status"] == "ok"
            async with http.get("/readyz") as resp:
                body = await resp.json()
                assert resp.status == 200 and body["kb_revision"] > 0, body
            async with http.get("/metrics") as resp:
                text = await resp.text()
                assert resp.status == 200 and "crmbot_outbox_sent_total" in text
            async with http.get("/") as resp:
                assert resp.status == 200 and "<html" in (await resp.text()).lower()
    finally:
        await runner.cleanup()


async def test_fresh_sqlite_file_is_created_and_seeded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "deep" / "dir" / "crmbot.db"
    app = build_app(make_settings(f"sqlite+aiosqlite:///{db}"))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert db.exists()
    finally:
        await runner.cleanup()
