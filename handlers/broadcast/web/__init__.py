"""Wiring the announcements feature into the server: outbox guard, runner, REST routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.core import Core


def attach(core: Core) -> object:
    """Install the guard on the outbox and return a runner for this core."""
    from handlers.broadcast.guard import GroupGuard
    from handlers.broadcast.runner import BroadcastRunner

    core.outbox.pre_send.append(GroupGuard(core.sessions))
    return BroadcastRunner(core.sessions, core.settings, core.registry,
                           core.services.translator, wake=core.outbox.wake)


def setup(app: web.Application, core: Core) -> None:
    from bot.api.base import register
    from handlers.broadcast.api import ROUTES
    from handlers.broadcast.runner import BroadcastRunner

    runner = attach(core)
    assert isinstance(runner, BroadcastRunner)

    async def _runner_ctx(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(runner.run(), name="crmbot-broadcasts")
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    app.cleanup_ctx.append(_runner_ctx)
    register(app, ROUTES)
