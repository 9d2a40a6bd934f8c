"""The send throttle: windows are tested before any token is taken, and sends under a global
limit are spaced evenly on the wire (the platform counts arrivals, not our tokens)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math

import pytest

from bot.ports import RateLimit
from bot.ratelimit import PACE_MIN, WIRE_HEADROOM, SendThrottle

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


class FakeClock:
    """Monotonic time that only moves when the throttle sleeps: the checks below are exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_pace_spaces_sends_evenly_and_leaves_slow_limits_alone(clock: FakeClock) -> None:
    throttle = SendThrottle(clock=clock.monotonic, sleep=clock.sleep)
    limits = (RateLimit("global", 50, 1),)
    times = []
    for _ in range(11):
        await throttle.pace("telegram", limits)
        times.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([1 / 50] * 10)
    slow = (RateLimit("global", PACE_MIN - 1, 1),)
    before = clock.now
    for _ in range(20):
        await throttle.pace("slack", slow)
    assert clock.now == before, "limits below PACE_MIN are not paced"


async def test_pace_wait_tells_the_wait_without_taking_a_slot(clock: FakeClock) -> None:
    """The outbox asks before pacing whether a send would leave in time for its lease."""
    throttle = SendThrottle(clock=clock.monotonic, sleep=clock.sleep)
    limits = (RateLimit("global", 10, 1),)
    assert throttle.pace_wait("telegram", limits) == 0.0
    for _ in range(3):
        await throttle.pace("telegram", limits)
    assert clock.now == pytest.approx(100.2)
    assert throttle.pace_wait("telegram", limits) == pytest.approx(0.1)
    assert throttle.pace_wait("telegram", limits) == pytest.approx(0.1), "asking takes nothing"
    await throttle.pace("telegram", limits)
    assert clock.now == pytest.approx(100.3)
    assert throttle.pace_wait("slack", (RateLimit("global", PACE_MIN - 1, 1),)) == 0.0


async def test_wire_holds_a_send_only_when_the_real_window_is_full(clock: FakeClock) -> None:
    throttle = SendThrottle(clock=clock.monotonic, sleep=clock.sleep)
    limits = (RateLimit("global", 20, 1),)
    allowed = math.ceil(20 * WIRE_HEADROOM)
    for _ in range(allowed):
        async with throttle.wire("telegram", limits):
            pass
    assert clock.now == 100.0, "a burst within the headroom leaves at once"
    async with throttle.wire("telegram", limits):
        assert clock.now == pytest.approx(101.0), "the next waits until the oldest is 1 s old"
    clock.now += 1.0
    async with throttle.wire("telegram", limits):
        assert clock.now == pytest.approx(102.0), "an empty window holds nothing"


async def test_wire_counts_sends_in_flight_and_stamps_them_when_answered(
    clock: FakeClock,
) -> None:
    """The platform counts arrivals: a send not yet answered may still arrive in the window,
    and one answered late arrived late."""
    throttle = SendThrottle(clock=clock.monotonic, sleep=clock.sleep)
    limits = (RateLimit("global", 20, 1),)
    allowed = math.ceil(20 * WIRE_HEADROOM)
    async with contextlib.AsyncExitStack() as flying:
        for _ in range(allowed - 1):
            await flying.enter_async_context(throttle.wire("telegram", limits))
        assert clock.now == 100.0
        clock.now = 100.5  # their answers come half a second later
    async with throttle.wire("telegram", limits):  # one slot left
        assert clock.now == 100.5
    async with throttle.wire("telegram", limits):
        assert clock.now == pytest.approx(101.5), "answered at 100.5: in the window until 101.5"
