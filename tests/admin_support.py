"""Helpers for the admin API/UI tests: a running app on 127.0.0.1:0 and ready-made credentials."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from bot.app import build_app
from bot.config import Settings
from bot.core import Core
from bot.keys import CORE
from storage import admin as repo

BOOTSTRAP = "bootstrap-admin-token-0123456789"
PASSWORD = "correct horse battery"


@dataclass
class Running:
    url: str
    app: web.Application
    core: Core
    admin: str
    agent: str

    def h(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Running]:
    """Start the whole app; create an admin and an agent token and two web users."""
    app = build_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    core = app[CORE]
    try:
        async with core.sessions.begin() as session:
            _, admin = await repo.create_token(session, "test admin", "admin", "test")
            _, agent = await repo.create_token(session, "test agent", "agent", "test")
            await repo.create_user(session, "alice", "admin", PASSWORD, "test")
            await repo.create_user(session, "bob", "agent", PASSWORD, "test")
        port = runner.addresses[0][1]
        yield Running(f"http://127.0.0.1:{port}", app, core, admin, agent)
    finally:
        await runner.cleanup()


def browser_session(base: str) -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1 (aiohttp ignores IP cookies by default)."""
    return aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True))


def csrf_of(html: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]*)"', html)
    assert found, html[:500]
    return found.group(1)


async def login(http: aiohttp.ClientSession, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the page HTML after the redirect."""
    async with http.get("/admin/login") as resp:
        token = csrf_of(await resp.text())
    form = {"_csrf": token, "name": name, "password": password, "next": "/admin/kb"}
    async with http.post("/admin/login", data=form) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.url.path == "/admin/kb"
        return await resp.text()
