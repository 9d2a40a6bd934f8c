"""Several crmbot processes on one PostgreSQL: every message answered once, in order per chat."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.compose import build_core
from bot.config import Settings
from tests.conftest import ROOT
from tests.helpers import inbound

CHATS = 8
PER_CHAT = 25


async def _feed(url: str) -> None:
    """Messages arrive interleaved across chats while the workers are already running."""
    core = build_core(Settings(_env_file=None, database_url=url, kb_seed=None))  # type: ignore[call-arg]
    try:
        for n in range(PER_CHAT):
            await asyncio.gather(*(
                core.ingest(inbound(f"{c}-{n:03d}", f"ev-{c}-{n}", chat=f"chat{c}"))
                for c in range(CHATS)
            ))
            await asyncio.sleep(0.01)
    finally:
        await core.close()


def _spawn(url: str, out: Path, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.worker_harness", url, str(out), str(seconds)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )


async def test_two_processes_keep_order_and_exactly_once(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes share one database only on PostgreSQL")
    outs = [tmp_path / "w1.jsonl", tmp_path / "w2.jsonl"]
    workers = [_spawn(db_url, out, 12.0) for out in outs]
    for w in workers:
        assert w.stdout is not None and w.stdout.readline().strip() == "ready"
    await _feed(db_url)
    for w in workers:
        assert w.wait(timeout=60) == 0
        assert w.stdout is not None
        w.stdout.close()
    lines = [json.loads(line) for out in outs for line in out.read_text().splitlines()]
    lines.sort(key=lambda item: item["t"])
    by_chat: dict[str, list[str]] = {}
    for item in lines:
        by_chat.setdefault(item["chat"], []).append(item["text"])
    assert len(lines) == CHATS * PER_CHAT, "each message answered exactly once"
    for c in range(CHATS):
        assert by_chat[f"chat{c}"] == [f"echo:{c}-{n:03d}" for n in range(PER_CHAT)]
    assert len({item["pid"] for item in lines}) == 2, "both workers took part"
