"""A background task that lives exactly as long as a block (channels, features, the app).

Several parts run a loop beside the server (the Slack SLA watch, Telegram polling, the help
center's view counter, the weekly report check): each starts a task, and at the end cancels
it and waits for it, so nothing it does outlives the resources it uses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def running(coro: Coroutine[Any, Any, object], name: str) -> AsyncIterator[None]:
    """Run ``coro`` as a task for the duration of the block; cancel and await it at the end
    (an error the task raised other than its cancellation comes out here)."""
    task = asyncio.create_task(coro, name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
