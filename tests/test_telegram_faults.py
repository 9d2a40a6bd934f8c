"""A stream of Telegram customers while the Bot API misbehaves: 502s, 429s and calls that hang
past the client's timeout. Every question is still answered exactly once, in order per chat.

The real PTB client (on our aiohttp request backend) talks to the fake Bot API; the fault plan
is seeded, so a failure reproduces. A hung call is dropped by the fake once the client has given
up (it never reached "Telegram"), so any reply seen twice would be crmbot's own doubling.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from tests.test_telegram_e2e import Harness, _harness, wait_for

CHATS = [5001 + n for n in range(5)]
QUESTIONS = [
    ("where is my order?", "https://shop.example/orders"),
    ("how long does delivery take?", "business days within the EU"),
    ("what are your opening hours?", "9:00"),
]
ROUNDS = 2  # each chat asks the three questions twice: 6 answers in a known order

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def tg(db_url: str) -> AsyncIterator[Harness]:
    async for h in _harness(db_url, telegram_timeout=1.0):
        yield h


def _plan(seed: int) -> object:
    rng = random.Random(seed)

    def chaos(method: str) -> str | None:
        if method != "sendMessage":
            return None
        roll = rng.random()
        return "5xx" if roll < 0.15 else "429" if roll < 0.25 else "hang" if roll < 0.32 else None
    return chaos


def _answers(tg: Harness, chat: int) -> list[str]:
    needles = [n for _, n in QUESTIONS]
    return [next((n for n in needles if n in t), t) for t in tg.fake.texts(chat)]


async def test_faulty_bot_api_loses_doubles_and_reorders_nothing(tg: Harness) -> None:
    tg.fake.chaos = _plan(seed=20261123)
    tg.fake.hang_seconds = 30.0  # the client gives up after 1 s; the fake holds calls till then
    for _ in range(ROUNDS):
        for question, _ in QUESTIONS:
            for chat in CHATS:
                tg.fake.push_message(chat, question)
            await asyncio.sleep(0.05)
    total = len(CHATS) * len(QUESTIONS) * ROUNDS
    await wait_for(lambda: sum(len(tg.fake.texts(c)) for c in CHATS) >= total, timeout=120,
                   what=f"{total} answers through the faults")
    await asyncio.sleep(2.5)  # a doubled reply (e.g. a late retry of a hung call) shows now
    expected = [n for _, n in QUESTIONS] * ROUNDS
    for chat in CHATS:
        assert _answers(tg, chat) == expected, f"chat {chat}: {tg.fake.texts(chat)}"
    assert tg.fake.faults["5xx"] and tg.fake.faults["429"] and tg.fake.faults["dropped"], \
        f"the plan must actually inject every kind of fault: {tg.fake.faults}"
    assert not tg.fake.faults["late"], "every hung call's client gave up: none may be served"
    assert len(await tg.events()) == total
