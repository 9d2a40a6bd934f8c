"""The announcement kill scenario, shared by tests/test_broadcast_e2e.py (correctness, small N)
and bench/broadcast_e2e.py (the issue's 10,000 recipients, rate and 429s measured).

`crmbot run` in a subprocess sends an announcement to ``n`` customers through the fake Telegram
Bot API, which answers 429 above the global rate the bot is configured with. After a third has
gone out the process is killed with SIGKILL and started again; meanwhile the last
``opt_outs`` customers send /stop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handlers.broadcast import service
from handlers.broadcast.spec import parse
from storage.db import create_engine, session_factory
from storage.migrate import upgrade
from tests.broadcast_support import seed_customers
from tests.fakes.telegram import FakeTelegram
from tests.helpers import stop_process

ROOT = Path(__file__).resolve().parent.parent
MARK = "Flash sale"


@dataclass
class Outcome:
    """What the fake saw and what the bot recorded, for assertions and the benchmark table."""

    n: int
    rate: int
    before_kill: int
    sends: list[tuple[int, float]]
    restarted_at: float
    rate_limited: int
    progress: dict[str, int]
    chats: list[int]
    late: list[int]
    per_chat: Counter[int] = field(init=False)

    def __post_init__(self) -> None:
        self.per_chat = Counter(chat for chat, _ in self.sends)

    @property
    def doubled(self) -> list[int]:
        return [c for c, k in self.per_chat.items() if k > 1]

    @property
    def missed(self) -> list[int]:
        late = set(self.late)
        return [c for c in self.chats if c not in self.per_chat and c not in late]

    @property
    def rate_after_restart(self) -> float:
        """From the restarted process's first send to the last. A send of the killed process
        can reach the fake after the kill (it was in a socket buffer): that is why the clock
        starts at the restart, not at the kill (the new process needs over a second to start,
        so none of its sends is left out)."""
        after = [t for _, t in self.sends if t > self.restarted_at]
        return (len(after) - 1) / (after[-1] - after[0]) if len(after) > 1 else 0.0

    def summary(self) -> str:
        return (f"{self.n} recipients at {self.rate}/s: sent before kill {self.before_kill}, "
                f"after {len(self.sends) - self.before_kill}; rate after restart "
                f"{self.rate_after_restart:.0f}/s; 429s {self.rate_limited}; doubled "
                f"{len(self.doubled)}; missed {len(self.missed)}; progress {self.progress}")


def _start(db_url: str, fake: FakeTelegram, rate: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBOT_")}
    env.update(
        CRMBOT_TELEGRAM_TOKEN=fake.token, CRMBOT_TELEGRAM_API_URL=fake.url,
        CRMBOT_DATABASE_URL=db_url, CRMBOT_HTTP_PORT="0", CRMBOT_LOG_LEVEL="WARNING",
        CRMBOT_TELEGRAM_GLOBAL_RATE=str(rate),
        # After the kill, PostgreSQL claims of the dead process are freed when their lease ends
        # (SQLite frees them at start-up): 20 s instead of the default keeps the run short and
        # is still twice the slowest send (a send starts only with half of its lease left).
        CRMBOT_OUTBOX_LEASE_SECONDS="20",
    )
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "bot.py", "run"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def _broadcast_sends(fake: FakeTelegram) -> list[tuple[int, float]]:
    return [(m["chat"]["id"], t) for m, t in zip(fake.sent(), fake.sent_times, strict=True)
            if m["text"].startswith(MARK)]


async def _wait_for(cond: Callable[[], Awaitable[bool]], timeout: float, what: str,
                    log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not await cond():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"timed out waiting for {what}; log:\n{tail}")
        await asyncio.sleep(0.5)  # polling the database harder would compete with the bot


async def _create_broadcast(sessions: Any) -> int:
    spec = parse({"name": "flash", "messages": {"en": f"{MARK}: -30 % today",
                                                "sv": f"{MARK}: -30 % idag",
                                                "lv": f"{MARK}: -30 % šodien"}})
    bid = int((await service.create(sessions, spec, "test"))["id"])
    await service.act(sessions, bid, "send")
    return bid


async def run_kill_scenario(db_url: str, n: int, rate: int, workdir: Path,
                            opt_outs: int = 25) -> Outcome:
    """Run the scenario on a fresh database; ``finish_timeout`` scales with ``n / rate``."""
    engine = create_engine(db_url)
    await upgrade(engine)
    chats = await seed_customers(engine, n)
    sessions = session_factory(engine)
    bid = await _create_broadcast(sessions)
    fake = FakeTelegram(global_rate=rate, rate_grace=0.05)
    await fake.start()
    log = workdir / "crmbot.log"
    late = chats[-opt_outs:]  # their turn comes last: the opt-out arrives long before it

    async def third_sent() -> bool:
        return len(fake.bot_messages) >= n // 3  # cheap: this loop also serves the fake API

    async def finished() -> bool:
        return bool((await service.status(sessions, bid))["status"] == "done")

    proc = _start(db_url, fake, rate, log)
    try:
        await _wait_for(third_sent, 90 + n / rate, "a third sent", log)
        await asyncio.sleep(0.137)  # not in step with anything
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        before = len(_broadcast_sends(fake))
        proc = _start(db_url, fake, rate, log)
        restarted_at = time.time()
        for chat in late:
            fake.push_message(chat, "/stop")
        await _wait_for(finished, 120 + 3 * n / rate, "the broadcast to finish", log)
        await asyncio.sleep(1.0)  # anything sent twice would show now
    finally:
        stop_process(proc)
        await fake.close()
    progress = (await service.status(sessions, bid))["progress"]
    await engine.dispose()
    return Outcome(n=n, rate=rate, before_kill=before, sends=_broadcast_sends(fake),
                   restarted_at=restarted_at, rate_limited=fake.rate_limited,
                   progress=progress,
                   chats=chats, late=late)
