"""Kill -9 workers repeatedly under a steady stream: every message stored once, answered once
(but for the documented send-then-crash window), in order per conversation."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.compose import build_core
from bot.config import Settings
from storage.models import InboundEvent, OutboxItem
from tests.conftest import ROOT
from tests.helpers import inbound

CHATS = 6
PER_CHAT = 30
KILLS = 3


def _spawn(url: str, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CRMBOT_OUTBOX_LEASE_SECONDS": "2"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.worker_harness", url, str(out), "120"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )


async def _feed(core_ingest: object, url: str) -> None:
    core = build_core(Settings(_env_file=None, database_url=url, kb_seed=None))  # type: ignore[call-arg]
    try:
        for n in range(PER_CHAT):
            for c in range(CHATS):
                await core.ingest(inbound(f"{c}-{n:03d}", f"s-{c}-{n}", chat=f"chat{c}"))
            await asyncio.sleep(0.05)
    finally:
        await core.close()


async def _settled(url: str, timeout: float) -> bool:
    core = build_core(Settings(_env_file=None, database_url=url, kb_seed=None))  # type: ignore[call-arg]
    try:
        for _ in range(int(timeout * 4)):
            async with core.sessions() as s:
                pending = await s.scalar(
                    select(func.count())
                    .select_from(InboundEvent)
                    .where(InboundEvent.processed_at.is_(None))
                )
                unsent = await s.scalar(
                    select(func.count()).select_from(OutboxItem).where(OutboxItem.status != "sent")
                )
            if pending == 0 and unsent == 0:
                return True
            await asyncio.sleep(0.25)
        return False
    finally:
        await core.close()


async def test_repeated_kill_9_under_load(db_url: str, engine: AsyncEngine, tmp_path: Path) -> None:
    workers_n = 2 if db_url.startswith("postgresql") else 1
    outs = (tmp_path / f"w{i}.jsonl" for i in itertools.count())
    workers = [_spawn(db_url, next(outs)) for _ in range(workers_n)]
    feeder = asyncio.create_task(_feed(None, db_url))
    try:
        for _ in range(KILLS):
            await asyncio.sleep(1.5)
            victim = workers.pop(0)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            workers.append(_spawn(db_url, next(outs)))
        await feeder
        assert await _settled(db_url, 90), "everything processed and delivered after the kills"
    finally:
        feeder.cancel()
        for w in workers:
            w.terminate()
            w.wait()
    lines = [
        json.loads(x) for f in sorted(tmp_path.glob("w*.jsonl")) for x in f.read_text().splitlines()
    ]
    lines.sort(key=lambda item: item["t"])
    for c in range(CHATS):
        texts = [i["text"] for i in lines if i["chat"] == f"chat{c}"]
        collapsed = [t for k, t in enumerate(texts) if k == 0 or texts[k - 1] != t]
        assert collapsed == [f"echo:{c}-{n:03d}" for n in range(PER_CHAT)], f"chat{c}"
        # Only the send window (sent, not yet marked) repeats, and a conversation has at most
        # one item in it at a time: at most one repeat per kill in each conversation. The
        # conversations send concurrently, so one kill may repeat one item in each of them.
        repeats = len(texts) - len(collapsed)
        assert repeats <= KILLS, f"chat{c}: {repeats} repeats for {KILLS} kills"
