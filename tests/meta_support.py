"""Serving the real app with WhatsApp / Messenger on, against the fake Graph API, and
posting signed webhook deliveries the way Meta sends them."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.channels.meta.webhook import sign
from tests.conftest import make_settings
from tests.fakes.graph import FakeGraph
from tests.webapp import Served, serve

TOKEN = "EAAG-test-token"
APP_SECRET = "meta-app-secret-0123456789"
VERIFY = "verify-me-please"


@dataclass
class MetaEnv:
    served: Served
    graph: FakeGraph
    http: aiohttp.ClientSession
    path: str

    async def post(self, payload: Any, *, secret: str = APP_SECRET,
                   raw: bytes | None = None, headers: dict[str, str] | None = None,
                   ) -> aiohttp.ClientResponse:
        body = raw if raw is not None else json.dumps(payload).encode()
        sent = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)}
        sent.update(headers or {})
        async with self.http.post(self.served.base + self.path, data=body,
                                  headers=sent) as response:
            await response.read()
            return response


@contextlib.asynccontextmanager
async def meta_env(db_url: str, path: str, **overrides: Any) -> AsyncIterator[MetaEnv]:
    graph = FakeGraph(TOKEN)
    base = await graph.start()
    if path.startswith("/whatsapp"):
        values: dict[str, Any] = {
            "whatsapp_token": TOKEN, "whatsapp_phone_number_id": "1055",
            "whatsapp_app_secret": APP_SECRET, "whatsapp_verify_token": VERIFY,
            "whatsapp_api_url": base}
    else:
        values = {"messenger_page_token": TOKEN, "messenger_app_secret": APP_SECRET,
                  "messenger_verify_token": VERIFY, "messenger_api_url": base}
    values.update(overrides)
    try:
        async with serve(make_settings(db_url, **values)) as served, \
                aiohttp.ClientSession() as http:
            yield MetaEnv(served, graph, http, path)
    finally:
        await graph.close()
