"""The one aiohttp server: health, metrics, and every configured channel's routes.

The core and every long-lived resource are owned by ``cleanup_ctx`` so that start-up failures
and shutdown are orderly; dependencies travel as typed ``web.AppKey``s, never globals.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from bot import heap
from bot.compose import build_core
from bot.config import Settings
from bot.core import Core
from bot.keys import CORE

__all__ = ["CORE", "build_app", "run", "serve"]

MAX_BODY = 1024 * 1024

log = logging.getLogger("crmbot.app")


async def _core_ctx(app: web.Application) -> AsyncIterator[None]:
    core = app[CORE]
    await core.prepare()
    async with core.background():
        yield
    await core.close()


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process serves HTTP."""
    return web.json_response({"status": "ok", "pid": os.getpid()})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers and a knowledge base is loaded."""
    core = request.app[CORE]
    try:
        async with core.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return web.json_response({"status": "unavailable", "database": str(exc)[:200]}, status=503)
    revision = core.services.kb.revision
    if revision < 0:
        return web.json_response({"status": "starting", "kb_revision": revision}, status=503)
    return web.json_response({"status": "ready", "kb_revision": revision})


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(settings: Settings, core: Core | None = None) -> web.Application:
    """The whole HTTP surface for these settings (channels only when configured)."""
    core = core or build_core(settings)
    from bot.web.edge import edge_middleware

    app = web.Application(client_max_size=MAX_BODY, middlewares=[edge_middleware])
    app[CORE] = core
    app.cleanup_ctx.append(_core_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    _setup_channels(app, core)
    _setup_admin(app, core)
    return app


def _setup_admin(app: web.Application, core: Core) -> None:
    """The admin REST API (/api/v1) and web UI (/admin/), behind deny-by-default auth."""
    from bot import api
    from bot.web import admin
    from handlers.reports import web as reports_web

    api.setup(app, core)
    admin.setup(app, core)
    reports_web.setup(app, core)  # /admin/reports, /api/v1/reports, weekly Slack post


def _setup_channels(app: web.Application, core: Core) -> None:
    from bot.channels import intake
    from bot.channels import web as web_channel
    from bot.web import demo
    from handlers.broadcast import web as broadcast_web
    from handlers.helpcenter import web as help_web

    demo.setup(app, core)
    help_web.setup(app, core)  # the public help center (/help/)
    web_channel.setup(app, core)  # the website widget is always on
    intake.setup(app, core)  # closed (403) until CRMBOT_INTAKE_TOKEN is set
    broadcast_web.setup(app, core)  # announcements: outbox guard, runner, /api/v1/broadcasts
    if core.settings.telegram_enabled:
        from bot.channels.telegram import setup as tg_setup

        tg_setup(app, core)
    if core.settings.email_enabled:
        from bot.channels.email import setup as email_setup

        email_setup(app, core)
    if core.settings.whatsapp_enabled:
        from bot.channels.whatsapp import setup as whatsapp_setup

        whatsapp_setup(app, core)
    if core.settings.messenger_enabled:
        from bot.channels.messenger import setup as messenger_setup

        messenger_setup(app, core)
    if core.settings.slack_enabled:
        from bot.channels.slack import setup as slack_setup

        slack_setup(app, core)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )


def serve(settings: Settings, *, reuse_port: bool = False) -> None:
    """Serve until SIGINT/SIGTERM in this process."""
    configure_logging(settings)
    app = build_app(settings)
    # Long-lived objects leave the collector's full passes (bot/heap.py): after start-up (the
    # KB, the language models) and after every KB swap.
    heap.serving()
    app.on_startup.append(_settle_heap)
    log.info("crmbot listening on http://%s:%s", settings.http_host, settings.http_port)
    from bot.web.edge import ACCESS_LOGGER

    web.run_app(
        app, host=settings.http_host, port=settings.http_port, print=None, reuse_port=reuse_port,
        access_log_class=ACCESS_LOGGER,
    )


async def _settle_heap(app: web.Application) -> None:
    """The last start-up step (after every cleanup context's start)."""
    heap.settle()


def run(settings: Settings, workers: int = 1) -> None:
    if workers <= 1:
        serve(settings)
        return
    from bot.workers import supervise

    configure_logging(settings)
    supervise(settings, workers)
