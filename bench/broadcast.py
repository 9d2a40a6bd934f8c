"""Broadcast throughput and memory: N recipients through the real runner, guard and outbox.

In-process, against a channel adapter that accepts every message instantly but declares a
global rate limit (like Telegram's), so what is measured is crmbot's own pipeline: how fast
recipients are listed and enqueued, whether delivery keeps up with the configured rate, and
the process's peak RSS. Usage::

    .venv/bin/python bench/broadcast.py --recipients 100000 --rate 1000 [--db URL]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.compose import build_core
from bot.config import Settings
from bot.messages import OutboundMessage
from bot.ports import RateLimit, SendResult
from handlers.broadcast import service
from handlers.broadcast.runner import BroadcastRunner
from handlers.broadcast.spec import parse
from handlers.broadcast.web import attach
from tests.broadcast_support import seed_customers


class CountingChannel:
    """Accepts everything at once; enforces nothing, declares ``rate`` per second."""

    name = "telegram"

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.sent = 0
        self.first = 0.0
        self.last = 0.0

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return (RateLimit("global", self.rate, 1),) if self.rate else ()

    def is_group(self, chat_id: str) -> bool:
        return False

    async def send(self, message: OutboundMessage) -> SendResult:
        now = time.monotonic()
        self.first = self.first or now
        self.last = now
        self.sent += 1
        return SendResult.sent(str(self.sent))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench(n: int, rate: int, db_url: str) -> dict[str, float]:
    settings = Settings(_env_file=None, database_url=db_url, http_port=0,  # type: ignore[call-arg]
                        kb_seed=None)
    core = build_core(settings)
    await core.prepare()
    t0 = time.monotonic()
    await seed_customers(core.engine, n)
    seeded = time.monotonic() - t0
    channel = CountingChannel(rate)
    core.registry.add(channel)
    runner = attach(core)
    assert isinstance(runner, BroadcastRunner)
    spec = parse({"name": "bench", "messages": {"en": "Hello", "sv": "Hej", "lv": "Sveiki"}})
    bid = (await service.create(core.sessions, spec, "bench"))["id"]
    rss_before = rss_mb()
    await service.act(core.sessions, bid, "send")
    start = time.monotonic()
    async with core.background():
        task = asyncio.create_task(runner.run())
        while (await service.status(core.sessions, bid))["status"] != "done":
            await asyncio.sleep(1.0)
        task.cancel()
    total = time.monotonic() - start
    progress = (await service.status(core.sessions, bid))["progress"]
    await core.close()
    delivery = (channel.sent - 1) / (channel.last - channel.first)
    return {"recipients": n, "seed_s": round(seeded, 1), "total_s": round(total, 1),
            "sent": progress["sent"], "delivery_per_s": round(delivery),
            "configured_rate": rate, "of_rate_pct": round(100 * delivery / rate, 1) if rate else 0,
            "rss_before_mb": round(rss_before), "peak_rss_mb": round(rss_mb())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=1000, help="declared global rate (0 = none)")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite+aiosqlite:///{tmp}/bench.db"
        print(asyncio.run(bench(args.recipients, args.rate, url)))


if __name__ == "__main__":
    main()
