"""`crmbot run --workers N`: several processes share the port; a killed worker comes back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.helpers import free_port


def _pids(port: int, tries: int = 24) -> set[int]:
    seen: set[int] = set()
    for _ in range(tries):
        try:
            with httpx.Client(timeout=2) as client:  # new connection each time
                seen.add(int(client.get(f"http://127.0.0.1:{port}/healthz").json()["pid"]))
        except httpx.HTTPError:
            time.sleep(0.2)
    return seen


def _wait_for(port: int, count: int, deadline: float) -> set[int]:
    while time.monotonic() < deadline:
        pids = _pids(port)
        if len(pids) >= count:
            return pids
        time.sleep(0.5)
    return _pids(port)


def test_workers_share_port_and_are_restarted(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("--workers needs PostgreSQL")
    port = free_port()
    env = {**os.environ, "CRMBOT_DATABASE_URL": db_url, "CRMBOT_HTTP_PORT": str(port)}
    parent = subprocess.Popen([sys.executable, "bot.py", "run", "--workers", "2"], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = _wait_for(port, 2, time.monotonic() + 60)
        assert len(first) == 2, first
        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)
        again = _wait_for(port, 2, time.monotonic() + 60)
        assert victim not in again and len(again) == 2, again
    finally:
        parent.terminate()
        assert parent.wait(timeout=60) == 0


def test_workers_refused_on_sqlite(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CRMBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
    proc = subprocess.run([sys.executable, "bot.py", "run", "--workers", "2"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "needs PostgreSQL" in proc.stderr
