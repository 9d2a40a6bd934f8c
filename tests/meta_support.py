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


    async def handshake(self, token: str, challenge: str = "1158201444",
                        mode: str = "subscribe") -> tuple[int, str]:
        """Meta's "Verify and save": GET with hub.mode, hub.verify_token, hub.challenge."""
        query = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}
        async with self.http.get(self.served.base + self.path, params=query) as r:
            return r.status, await r.text()


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


def mutations(valid: dict[str, Any], seed: int = 7, n: int = 60) -> list[bytes]:
    """``valid`` with one value (at a random depth) replaced by something hostile, n times."""
    import copy
    import random

    rnd = random.Random(seed)
    hostile: list[Any] = [None, 2 ** 70, -1, True, [], {}, [[[]]], "x" * 5000, "\ud800",
                          "\x00", {"a": {"b": {"c": None}}}, 1.5e308, ""]
    bodies = []
    for _ in range(n):
        payload = copy.deepcopy(valid)
        node: Any = payload
        path: list[Any] = []
        while isinstance(node, dict | list) and node and rnd.random() < 0.85:
            key = rnd.choice(list(node)) if isinstance(node, dict) else rnd.randrange(len(node))
            path.append(key)
            node = node[key]
        target: Any = payload
        for key in path[:-1]:
            target = target[key]
        if path:
            target[path[-1]] = rnd.choice(hostile)
        bodies.append(json.dumps(payload).encode())
    return bodies
