"""Abuse limits for the public endpoints (widget socket, feedback form, intake API).

Moving windows from the ``limits`` library, in memory or shared through Redis
(CRMBOT_REDIS_URL) so several processes enforce one budget. Callers get the seconds to wait,
which become ``Retry-After`` (HTTP 429) or a ``retry_after`` error frame on the socket.
"""

from __future__ import annotations

import ipaddress
import math
import time

from aiohttp import web
from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


class AbuseLimiter:
    """``await hit(rate, *keys)``: 0 when allowed, else whole seconds until it would be."""

    def __init__(self, redis_url: str | None = None) -> None:
        uri = f"async+{redis_url}" if redis_url else "async+memory://"
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri))
        self._items: dict[str, RateLimitItem] = {}

    def _item(self, rate: str) -> RateLimitItem:
        item = self._items.get(rate)
        if item is None:
            item = self._items[rate] = parse(rate)
        return item

    async def hit(self, rate: str, *keys: str) -> int:
        item = self._item(rate)
        if await self._limiter.hit(item, "crmbot-abuse", *keys):
            return 0
        stats = await self._limiter.get_window_stats(item, "crmbot-abuse", *keys)
        return max(1, math.ceil(stats.reset_time - time.time()))


def client_ip(request: web.Request) -> str:
    """The caller's address. X-Forwarded-For is believed only from a loopback peer (a reverse
    proxy on the same host); anything else could be forged by the client itself."""
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and _is_loopback(peer):
        candidate = forwarded.split(",")[-1].strip()
        if candidate:
            return candidate
    return peer


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def too_many(retry_after: int, what: str) -> web.Response:
    """429 with Retry-After and a JSON body saying what was limited."""
    return web.json_response(
        {"error": {"code": "rate_limited", "message": f"too many {what}; retry in {retry_after} s",
                   "retry_after": retry_after}},
        status=429,
        headers={"Retry-After": str(retry_after)},
    )
