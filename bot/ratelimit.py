"""Send throttling per channel and per chat, shared across processes when Redis is configured.

Moving windows come from the ``limits`` library (memory by default, Redis via
CRMBOT_REDIS_URL). A platform's ``retry_after`` pauses only the scope it names.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from limits import RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from bot.ports import RateLimit

#: Sends under a global limit of at least this many per window are also spaced evenly
#: (:meth:`SendThrottle.pace`). A moving window alone lets a whole second's worth go out in one
#: burst; the platform, which counts requests as they arrive (after network and event-loop
#: jitter), then sees two bursts inside its own window and answers 429 (measured: 66 of 3,000
#: announcements at 150/s; 0 with the spacing). A paced send may leave up to PACE_BURST early.
PACE_MIN = 10
PACE_BURST = 0.002
#: :meth:`SendThrottle.wire` lets the sends answered in any window plus those in flight reach
#: the paced rate times this factor. Arrivals in any window can only be sends answered in it or
#: still in flight, so this bounds what the platform counts; channel limits are 95 % of the
#: platform's, so 1.05 lets the wire use the platform's own limit and no more. The paced
#: stream runs at 95 %: the difference absorbs the 5-80 ms a group-committed guard takes, and
#: a send is rarely held here (each hold widens the window a crash leaves "uncertain").
WIRE_HEADROOM = 1.05


class SendThrottle:
    """Decides how long a send must wait (:meth:`take` never sleeps, so callers can choose);
    :meth:`pace` and :meth:`wait_turn` do the waiting for callers that may block."""

    def __init__(
        self, redis_url: str | None = None, *, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock, self._sleep = clock, sleep  # replaceable so tests can run on fake time
        uri = f"async+{redis_url}" if redis_url else "async+memory://"
        self._limiter = MovingWindowRateLimiter(storage_from_string(uri))
        self._paused_until: dict[str, float] = {}
        self._slots: dict[str, float] = {}  # "channel:limit" -> next free send slot
        self._left: dict[str, collections.deque[float]] = {}  # "channel:limit" -> answer times
        self._flying: dict[str, int] = {}  # "channel:limit" -> sends awaiting their answer

    def pause(self, key: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)

    def paused_for(self, *keys: str) -> float:
        now = self._clock()
        return max((self._paused_until.get(k, 0.0) - now for k in keys), default=0.0)

    async def take(
        self, channel: str, chat_id: str, limits: tuple[RateLimit, ...], is_group: bool
    ) -> float:
        """Take one send token in every applicable window; 0.0, or seconds to wait first."""
        wait = self.paused_for(scope_key(channel, "global"), scope_key(channel, "chat", chat_id))
        if wait > 0:
            return wait
        windows = [
            (RateLimitItemPerSecond(lim.amount, lim.seconds),
             (channel, lim.scope, str(lim.amount), chat_id if lim.scope == "chat" else "*"))
            for lim in limits if is_group or not lim.groups_only
        ]
        # Test every window before taking from any: taking the chat's token and then finding
        # the global window full would leave the chat blocked for a whole second on the retry
        # (measured: announcements then ran at 2/3 of the allowed rate, in bursts and gaps).
        for item, ids in windows:
            if not await self._limiter.test(item, *ids):
                return await self._reset_in(item, ids)
        for item, ids in windows:
            if not await self._limiter.hit(item, *ids):  # another process was faster
                return await self._reset_in(item, ids)
        return 0.0

    def pace_wait(self, channel: str, limits: tuple[RateLimit, ...]) -> float:
        """Seconds :meth:`pace` would wait now, without taking a slot (0.0 if none)."""
        now = self._clock()
        slots = [self._slots.get(_pace_key(channel, lim), 0.0) for lim in _paced(limits)]
        return max([slot - now for slot in slots] + [0.0])

    async def pace(self, channel: str, limits: tuple[RateLimit, ...]) -> None:
        """Wait for this send's slot: sends that took their tokens together still leave one
        by one, at the limit's rate."""
        for lim in _paced(limits):
            key = _pace_key(channel, lim)
            now = self._clock()
            slot = max(self._slots.get(key, 0.0), now)
            self._slots[key] = slot + lim.seconds / lim.amount
            if slot - now > PACE_BURST:
                await self._sleep(slot - now)

    @contextlib.asynccontextmanager
    async def wire(self, channel: str, limits: tuple[RateLimit, ...]) -> AsyncIterator[None]:
        """Around the platform call: hold the send only while the sends that finished in the
        last window plus those still in flight already fill the limit (times
        :data:`WIRE_HEADROOM`).

        A send counts from when it is answered, and as in flight until then, because the
        platform counts arrivals: a send stamped when it *started* but held up by a busy
        event loop reached the platform later, inside the next window (measured: 155-159
        arrivals in one second where the start stamps allowed 146; 0-22 answers 429).

        Why not pace here instead: everything between the last check and the platform call
        is what a crash leaves "uncertain" (handlers/broadcast/guard.py). Pacing here kept a queue
        of ~10 checked sends (measured); this check holds a send only after an unusually
        slow check released a bunch at once, and normally not at all."""
        keys = [(_pace_key(channel, lim), lim) for lim in _paced(limits)]
        for key, lim in keys:
            await self._wire_turn(key, lim)
            self._flying[key] = self._flying.get(key, 0) + 1
        try:
            yield
        finally:
            for key, _ in keys:
                self._flying[key] -= 1
                self._left[key].append(self._clock())

    async def _wire_turn(self, key: str, lim: RateLimit) -> None:
        left = self._left.setdefault(key, collections.deque())
        while True:
            now = self._clock()
            while left and left[0] <= now - lim.seconds:
                left.popleft()
            if len(left) + self._flying.get(key, 0) < lim.amount * WIRE_HEADROOM:
                return
            # the oldest answered send leaves the window, or (all in flight) one answer comes
            await self._sleep(left[0] + lim.seconds - now if left else lim.seconds / lim.amount)

    async def _reset_in(self, item: RateLimitItemPerSecond, ids: tuple[str, ...]) -> float:
        stats = await self._limiter.get_window_stats(item, *ids)
        return max(0.01, stats.reset_time - time.time())

    async def wait_turn(
        self, channel: str, chat_id: str, limits: tuple[RateLimit, ...], is_group: bool
    ) -> None:
        """Sleep until a token is taken (for callers that may block, e.g. tests and tools)."""
        while (wait := await self.take(channel, chat_id, limits, is_group)) > 0:
            await self._sleep(wait)


def _paced(limits: tuple[RateLimit, ...]) -> list[RateLimit]:
    return [lim for lim in limits if lim.scope == "global" and lim.amount >= PACE_MIN]


def _pace_key(channel: str, lim: RateLimit) -> str:
    return f"{channel}:{lim.amount}/{lim.seconds}"


def scope_key(channel: str, scope: str, chat_id: str = "*") -> str:
    return f"{channel}:{scope}:{chat_id if scope == 'chat' else '*'}"
