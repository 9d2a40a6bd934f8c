"""Kill -9 at each stage boundary: after restart every message is answered exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from bot.compose import build_core
from tests.conftest import ROOT, make_settings
from tests.helpers import RecordingChannel

ANSWER = "shop.example/orders"


def _run_harness(db_url: str, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.crash_harness", db_url, mode],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("mode", ["after-ingest", "mid-processing", "after-processing"])
async def test_killed_process_replies_exactly_once_after_restart(db_url: str, mode: str) -> None:
    proc = _run_harness(db_url, mode)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "stored" in proc.stdout

    core = build_core(make_settings(db_url))
    channel = RecordingChannel()
    core.registry.add(channel)
    try:
        await core.prepare()
        await core.processor.process_pending()
        await core.outbox.drain()
        # a second restart finds nothing left to do
        assert await core.processor.process_pending() == 0
        await core.outbox.drain()
    finally:
        await core.close()
    texts = channel.texts()
    assert sum(ANSWER in t for t in texts) == 1, texts
    assert not any("MUST NEVER" in t for t in texts)
