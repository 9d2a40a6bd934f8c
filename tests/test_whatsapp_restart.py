"""SIGKILL `crmbot run` in the middle of a burst of WhatsApp webhook deliveries. Meta delivers
again whatever was not answered 200; after the restart every message is stored once and
answered once, in order per chat (only replies in flight at the kill may repeat). The real CLI
in a subprocess, the fake Graph API served by this test, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.channels.meta.webhook import sign
from storage.db import create_engine
from storage.models import InboundEvent
from tests.fakes.graph import FakeGraph
from tests.helpers import free_port, stop_process
from tests.meta_support import APP_SECRET, TOKEN, VERIFY

ROOT = Path(__file__).resolve().parent.parent
CHATS = [f"4670000{n:04d}" for n in range(10)]
QUESTIONS = [
    ("where is my order?", "https://shop.example/orders"),
    ("how long does delivery take?", "business days within the EU"),
    ("what are your opening hours?", "9:00"),
]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _start(db_url: str, graph: FakeGraph, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBOT_")}
    env.update(
        CRMBOT_WHATSAPP_TOKEN=TOKEN, CRMBOT_WHATSAPP_PHONE_NUMBER_ID="1055",
        CRMBOT_WHATSAPP_APP_SECRET=APP_SECRET, CRMBOT_WHATSAPP_VERIFY_TOKEN=VERIFY,
        CRMBOT_WHATSAPP_API_URL=graph.base, CRMBOT_DATABASE_URL=db_url,
        CRMBOT_HTTP_PORT=str(port), CRMBOT_LOG_LEVEL="INFO", CRMBOT_OUTBOX_LEASE_SECONDS="3",
    )
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "bot.py", "run"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def _delivery(chat: str, n: int, question: str) -> bytes:
    message = {"from": chat, "id": f"wamid.{chat}.{n}", "timestamp": "1765000000",
               "type": "text", "text": {"body": question}}
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1055"},
             "contacts": [{"profile": {"name": "K"}, "wa_id": chat}], "messages": [message]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [
        {"id": "WABA", "changes": [{"field": "messages", "value": value}]}]}).encode()


async def _post(http: aiohttp.ClientSession, url: str, body: bytes) -> bool:
    """One delivery as Meta makes it; True when answered 200 (else Meta tries again)."""
    try:
        async with http.post(url, data=body, timeout=aiohttp.ClientTimeout(total=5), headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": sign(body, APP_SECRET)}) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def _deliver_all(url: str, pending: dict[str, bytes], until: float) -> None:
    """Meta's redelivery: keep sending whatever was not acknowledged, chat by chat in order."""
    async with aiohttp.ClientSession() as http:
        while pending and time.monotonic() < until:
            behind: set[str] = set()  # chats with an unacknowledged earlier message
            for key in sorted(pending):
                chat = key.split(":", 1)[1]
                if chat in behind:
                    continue  # never overtake it (the bot restarting between the two posts)
                if await _post(http, url, pending[key]):
                    del pending[key]
                else:
                    behind.add(chat)
            if pending:
                await asyncio.sleep(0.3)


def _text(body: dict[str, Any]) -> str:
    if body.get("type") == "interactive":
        return str(body["interactive"]["body"]["text"])
    return str(body.get("text", {}).get("body", ""))


async def test_sigkill_mid_burst_loses_and_doubles_nothing(db_url: str, tmp_path: Path) -> None:
    graph = FakeGraph(TOKEN)
    await graph.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}/whatsapp/webhook"
    log = tmp_path / "crmbot.log"
    pending = {f"{n}:{chat}": _delivery(chat, n, q)
               for n, (q, _) in enumerate(QUESTIONS) for chat in CHATS}
    total = len(pending)
    proc = _start(db_url, graph, port, log)
    try:
        burst = asyncio.create_task(_deliver_all(url, pending, time.monotonic() + 150))
        deadline = time.monotonic() + 60
        while len(graph.bodies("/messages")) < 5:  # the burst is under way
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.25)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        sent_before = len(graph.bodies("/messages"))
        assert sent_before < total, "the kill must land mid-burst"
        proc = _start(db_url, graph, port, log)
        await burst
        assert not pending, "every delivery was acknowledged after the restart"
        deadline = time.monotonic() + 90
        while len(graph.bodies("/messages")) < total:
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # anything doubled would show up now
    finally:
        stop_process(proc)
        await graph.close()
    engine = create_engine(db_url)
    async with engine.connect() as conn:
        stored = await conn.scalar(select(func.count()).select_from(InboundEvent).where(
            InboundEvent.channel == "whatsapp"))
    await engine.dispose()
    assert stored == total, "each message stored exactly once"
    doubled = 0
    for chat in CHATS:
        texts = [_text(b) for b in graph.bodies("/messages") if b["to"] == chat]
        unique = [t for i, t in enumerate(texts) if i == 0 or t != texts[i - 1]]
        doubled += len(texts) - len(unique)
        assert len(unique) == len(QUESTIONS), (chat, texts)
        for (_, needle), text in zip(QUESTIONS, unique, strict=True):
            assert needle in text, (chat, texts)
    print(f"sent before kill: {sent_before}/{total}; duplicates: {doubled}")
    assert doubled <= 8, "only replies in flight at the kill may repeat"
