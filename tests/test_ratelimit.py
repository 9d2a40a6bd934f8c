"""The send throttle: windows are tested before any token is taken, and sends under a global
limit are spaced evenly on the wire (the platform counts arrivals, not our tokens)."""

from __future__ import annotations

import asyncio
import time

from bot.channels.base import RateLimit
from bot.ratelimit import PACE_MIN, WIRE_CATCH_UP, SendThrottle

TELEGRAM = (RateLimit("global", 3, 1), RateLimit("chat", 1, 1))


async def test_a_full_global_window_does_not_use_up_the_chats_token() -> None:
    throttle = SendThrottle()
    for chat in ("a", "b", "c"):
        assert await throttle.take("telegram", chat, TELEGRAM, False) == 0.0
    wait = await throttle.take("telegram", "d", TELEGRAM, False)
    assert 0 < wait <= 1.0, "the global window is full"
    await asyncio.sleep(wait + 0.05)
    # Had the refused attempt taken d's per-chat token, d would now wait another second.
    assert await throttle.take("telegram", "d", TELEGRAM, False) == 0.0


async def test_pace_spaces_sends_evenly_and_leaves_slow_limits_alone() -> None:
    throttle = SendThrottle()
    rate = 50
    limits = (RateLimit("global", rate, 1),)
    times: list[float] = []

    async def send() -> None:
        await throttle.pace("telegram", limits, "wire", WIRE_CATCH_UP)
        times.append(time.monotonic())

    await asyncio.gather(*(send() for _ in range(11)))
    times.sort()
    # 10 gaps of at least 1/(rate * catch-up) each, whatever the machine's speed (a lower
    # bound: a slow machine only spreads them more).
    assert times[-1] - times[0] >= 10 / (rate * WIRE_CATCH_UP) * 0.95
    slow = (RateLimit("global", PACE_MIN - 1, 1),)
    started = time.monotonic()
    await asyncio.gather(*(throttle.pace("slack", slow, "wire") for _ in range(20)))
    # Paced, these 20 would take ~2 s; unpaced they take microseconds.
    assert time.monotonic() - started < 1.5, "limits below PACE_MIN are not paced"
