"""`crmbot run --workers N`: N server processes sharing one port (SO_REUSEPORT) and one
PostgreSQL. The parent only supervises: a worker that dies is started again; SIGTERM/SIGINT
stop them all. Correctness across workers comes from the database (see docs/operations.md).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from bot.config import ConfigError, Settings

log = logging.getLogger("crmbot.workers")
RESTART_BACKOFF = 1.0


def _worker(settings: Settings) -> None:
    from bot.app import serve

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    serve(settings, reuse_port=True)


def check_workers(settings: Settings, workers: int) -> None:
    if workers > 1 and settings.database_url.startswith("sqlite"):
        raise ConfigError(
            "--workers > 1 needs PostgreSQL (CRMBOT_DATABASE_URL=postgresql+asyncpg://…); "
            "SQLite is for a single process"
        )


def supervise(settings: Settings, workers: int) -> None:
    """Run ``workers`` processes until a signal; restart any that exits on its own."""
    check_workers(settings, workers)
    ctx = mp.get_context("spawn")
    procs: list[BaseProcess] = []
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    for _ in range(workers):
        procs.append(_start(ctx, settings))
    while not stopping:
        time.sleep(0.5)
        for i, proc in enumerate(procs):
            if not proc.is_alive() and not stopping:
                log.error("worker pid %s exited with %s; restarting", proc.pid, proc.exitcode)
                time.sleep(RESTART_BACKOFF)
                procs[i] = _start(ctx, settings)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(timeout=30)


def _start(ctx: mp.context.SpawnContext, settings: Settings) -> BaseProcess:
    proc = ctx.Process(target=_worker, args=(settings,), daemon=False)
    proc.start()
    log.info("worker pid %s started", proc.pid)
    return proc
