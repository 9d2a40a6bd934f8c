"""WhatsApp channel (Cloud API): ``GET|POST /whatsapp/webhook`` and delivery through Graph.

``setup(app, core)`` adds the webhook routes (handshake and signed deliveries, see
bot/channels/meta/webhook.py) and a lifecycle that owns one aiohttp ``ClientSession`` for
Graph calls and registers the outbox adapter. Customer messages enter through
``Core.ingest`` (acknowledged only after the commit; de-duplicated by ``wamid``); delivery
receipts update the outbox item that sent the message. See docs/channels/whatsapp.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.meta.graph import GraphClient
from bot.channels.meta.webhook import MetaWebhook
from bot.channels.meta.window import last_seen
from bot.channels.whatsapp import inbound
from bot.channels.whatsapp.adapter import WhatsAppChannel
from bot.config import whatsapp_templates
from bot.core import Core
from storage import receipts
from storage.models import utcnow

PATH = "/whatsapp/webhook"
CORE = web.AppKey("whatsapp_core", Core)


def setup(app: web.Application, core: Core) -> None:
    settings = core.settings

    async def store(payload: dict[str, Any]) -> None:
        await store_delivery(core, payload)

    hook = MetaWebhook("whatsapp", settings.whatsapp_verify_token or "",
                       settings.whatsapp_app_secret or "", frozenset({inbound.OBJECT}), store)
    app.router.add_get(PATH, hook.handshake)
    app.router.add_post(PATH, hook.deliver)
    app[CORE] = core
    app.cleanup_ctx.append(_lifecycle)


async def store_delivery(core: Core, payload: dict[str, Any]) -> None:
    """Every message of the delivery into the inbox, then its receipts; raises when anything
    could not be stored (the webhook then answers 500 and WhatsApp delivers again)."""
    found = inbound.messages(payload)  # parse everything first: a bad item stores nothing
    statuses = inbound.receipts(payload)
    for message in found:
        await core.ingest(message)
    if statuses:
        async with core.sessions.begin() as session:
            for item in statuses:
                await receipts.record(session, inbound.CHANNEL, item.external_id, item.status,
                                      item.error, utcnow())


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    core = app[CORE]
    settings = core.settings

    async with aiohttp.ClientSession() as session:
        client = GraphClient(session, settings.whatsapp_api_url, settings.whatsapp_token or "")
        core.registry.add(WhatsAppChannel(
            client, settings.whatsapp_phone_number_id or "", last_seen(core, inbound.CHANNEL),
            whatsapp_templates(settings.whatsapp_templates),
            lambda locale: core.services.translator.t("whatsapp_list_button", locale),
            settings.whatsapp_rate,
        ))
        yield
