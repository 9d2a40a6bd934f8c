"""Serving the real app on 127.0.0.1 port 0 for widget, intake and browser tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.app import build_app
from bot.config import Settings
from bot.core import Core
from bot.keys import CORE


@dataclass
class Served:
    app: web.Application
    base: str

    @property
    def core(self) -> Core:
        return self.app[CORE]

    @property
    def ws_url(self) -> str:
        return self.base.replace("http", "ws", 1) + "/chat/ws"

    async def count(self, model: type, *where: Any) -> int:
        async with self.core.sessions() as s:
            stmt = select(func.count()).select_from(model).where(*where)
            return int(await s.scalar(stmt) or 0)


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Served]:
    """build_app + AppRunner on an ephemeral loopback port, background tasks running."""
    app = build_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Served(app, f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until ``check()`` is true (background processing is asynchronous)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
