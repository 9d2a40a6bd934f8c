"""Facebook Messenger and Instagram Direct: ``GET|POST /messenger/webhook``, one Send API.

One webhook takes both the ``page`` object (Messenger) and the ``instagram`` object
(Instagram Direct of the page's connected account), verified like WhatsApp's
(bot/channels/meta/webhook.py). Customers appear on two channels, ``messenger`` and
``instagram``, each with its own adapter; both send through ``/me/messages`` with the page
token. See docs/channels/messenger.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.messenger import inbound
from bot.channels.messenger.adapter import MetaMessagingChannel
from bot.channels.meta.graph import GraphClient
from bot.channels.meta.webhook import MetaWebhook
from bot.channels.meta.window import last_seen
from bot.core import Core

PATH = "/messenger/webhook"
CORE = web.AppKey("messenger_core", Core)


def setup(app: web.Application, core: Core) -> None:
    settings = core.settings

    async def store(payload: dict[str, Any]) -> None:
        for message in inbound.messages(payload):  # parse all first: a bad item stores nothing
            await core.ingest(message)

    hook = MetaWebhook("messenger", settings.messenger_verify_token or "",
                       settings.messenger_app_secret or "", frozenset(inbound.CHANNELS), store)
    app.router.add_get(PATH, hook.handshake)
    app.router.add_post(PATH, hook.deliver)
    app[CORE] = core
    app.cleanup_ctx.append(_lifecycle)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    core = app[CORE]
    settings = core.settings
    async with aiohttp.ClientSession() as session:
        client = GraphClient(session, settings.messenger_api_url,
                             settings.messenger_page_token or "")
        for channel in inbound.CHANNELS.values():
            core.registry.add(MetaMessagingChannel(channel, client, last_seen(core, channel),
                                                   settings.messenger_human_agent))
        yield
