"""A call the fake platform holds past the client's timeout."""

from __future__ import annotations

import asyncio

from aiohttp import web

POLL_SECONDS = 0.02


async def client_gone(request: web.Request, within: float) -> bool:
    """Whether the client closes the connection within ``within`` seconds.

    Polled rather than slept through: a fixed sleep judged a client that had timed out as
    still waiting whenever the event loop it shares with the bot ran late (a CI run served a
    hung Telegram call late, and the test saw the retry's reply twice).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while request.transport is not None and not request.transport.is_closing():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True
