"""Run as a subprocess by test_crash.py: store, process or enqueue, then die by SIGKILL.

Usage: python -m tests.crash_harness DATABASE_URL MODE
MODE: after-ingest | mid-processing | after-processing
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from bot.compose import build_core
from bot.config import Settings
from bot.context import Context
from bot.dispatcher import Router
from handlers import default_routers
from tests.helpers import inbound


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _killer_router() -> Router:
    """Writes a reply inside the processing transaction, then dies before the commit."""
    router = Router("killer", priority=1)

    @router.handler
    async def reply_then_die(ctx: Context) -> bool:
        ctx.reply("THIS REPLY MUST NEVER BE SENT")
        await ctx.session.flush()
        _die()
        return True

    return router


async def main(url: str, mode: str) -> None:
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    routers = default_routers()
    if mode == "mid-processing":
        routers.append(_killer_router())
    core = build_core(settings, routers=routers)
    await core.prepare()
    result = await core.ingest(inbound("where is my order?", "crash-1"))
    print("stored", result.conversation_id, flush=True)
    if mode == "after-ingest":
        _die()
    await core.processor.process_conversation(result.conversation_id)
    _die()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
