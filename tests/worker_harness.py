"""A crmbot worker for multi-process tests: processes the shared inbox, delivers to a file.

Usage: python -m tests.worker_harness DATABASE_URL OUT_FILE SECONDS
Replies are "echo:<text>" so the test can check order and exactly-once per conversation.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass

from bot.compose import build_core
from bot.config import Settings
from bot.context import Context
from bot.dispatcher import Dispatcher, Router
from bot.messages import OutboundMessage
from bot.ports import RateLimit, SendResult
from bot.processor import Processor


def echo_router() -> Router:
    router = Router("echo", priority=1)

    @router.handler
    async def echo(ctx: Context) -> bool:
        await asyncio.sleep(0.002)  # widen the window for races between processes
        ctx.reply(f"echo:{ctx.inbound.text}")
        return True

    return router


@dataclass
class FileChannel:
    path: str
    name: str = "test"

    @property
    def limits(self) -> tuple[RateLimit, ...]:
        return ()

    def is_group(self, chat_id: str) -> bool:
        return False

    async def send(self, message: OutboundMessage) -> SendResult:
        line = json.dumps({
            "chat": message.chat_id, "text": message.text, "pid": os.getpid(),
            "t": time.time_ns(),
        })
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(line + "\n")
        return SendResult.sent()


async def main(url: str, out: str, seconds: float) -> None:
    settings = Settings(_env_file=None, database_url=url, kb_seed=None)  # type: ignore[call-arg]
    core = build_core(settings, routers=[echo_router()])
    # Small batches: with the default (32 conversations per batch, 4 batches at a time) the
    # first process to poll would hold every conversation of these tests at once, and the
    # other would only wait; here each holds at most 4, so both race for the same ones.
    core.processor = Processor(
        core.sessions, core.services, Dispatcher([echo_router()]),
        workers=2, max_batch=2, on_commit=core.outbox.wake,
    )
    core.registry.add(FileChannel(out))
    await core.services.kb.refresh_from(core.sessions)
    async with core.background():
        print("ready", flush=True)
        await asyncio.sleep(seconds)
    await core.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
