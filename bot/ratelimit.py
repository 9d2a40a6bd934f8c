"""Send throttling per channel and per chat, shared across processes when Redis is configured.

Moving windows come from the ``limits`` library (memory by default, Redis via
CRMBOT_REDIS_URL). A platform's ``retry_after`` pauses only the scope it names.
"""

from __future__ import annotations

import asyncio
import time

from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from bot.channels.base import RateLimit


class SendThrottle:
    """Decides how long a send must wait; never sleeps itself, so callers can choose."""

    def __init__(self, redis_url: str | None = None) -> None:
        uri = f"async+{redis_url}" if redis_url else "async+memory://"
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri))
        self._paused_until: dict[str, float] = {}

    def pause(self, key: str, seconds: float) -> None:
        until = time.monotonic() + seconds
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)

    def paused_for(self, *keys: str) -> float:
        now = time.monotonic()
        return max((self._paused_until.get(k, 0.0) - now for k in keys), default=0.0)

    async def take(
        self, channel: str, chat_id: str, limits: tuple[RateLimit, ...], is_group: bool
    ) -> float:
        """Take one send token in every applicable window; 0.0, or seconds to wait first."""
        wait = self.paused_for(scope_key(channel, "global"), scope_key(channel, "chat", chat_id))
        if wait > 0:
            return wait
        ordered = sorted(limits, key=lambda lim: lim.scope != "chat")
        for lim in ordered:
            if lim.groups_only and not is_group:
                continue
            item = RateLimitItemPerSecond(lim.amount, lim.seconds)
            ids = (channel, lim.scope, str(lim.amount), chat_id if lim.scope == "chat" else "*")
            if not await self._limiter.hit(item, *ids):
                stats = await self._limiter.get_window_stats(item, *ids)
                return max(0.01, stats.reset_time - time.time())
        return 0.0

    async def wait_turn(
        self, channel: str, chat_id: str, limits: tuple[RateLimit, ...], is_group: bool
    ) -> None:
        """Sleep until a token is taken (for callers that may block, e.g. tests and tools)."""
        while (wait := await self.take(channel, chat_id, limits, is_group)) > 0:
            await asyncio.sleep(wait)


def scope_key(channel: str, scope: str, chat_id: str = "*") -> str:
    return f"{channel}:{scope}:{chat_id if scope == 'chat' else '*'}"
