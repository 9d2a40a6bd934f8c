"""Greetings and thanks get a friendly answer, in the customer's language, and are not
knowledge gaps."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.core import Core
from handlers.smalltalk.router import classify
from storage.models import Customer
from storage.models_admin import UnansweredQuestion
from tests.identity_support import Person, channels


@pytest.mark.parametrize(("text", "expected"), [
    ("Hi!", ("greeting", "en")),
    ("hello there 👋", ("greeting", "en")),
    ("Hejsan!!", ("greeting", "sv")),
    ("Labdien", ("greeting", "lv")),
    ("Hallo", ("greeting", None)),
    ("Thanks so much :)", ("thanks", "en")),
    ("tack så mycket!", ("thanks", "sv")),
    ("Liels paldies", ("thanks", "lv")),
    ("hi, where is my order?", None),
    ("Hello, I have a question", ("greeting", "en")),
    ("Hej! Jag har en fråga.", ("greeting", "sv")),
    ("Sveiki, man ir jautājums", ("greeting", "lv")),
    ("Hallo, kan ni hjälpa mig?", ("greeting", "sv")),
    ("I need help", ("greeting", "en")),
    ("I have a question about my order", None),
    ("thanks but the parcel never came", None),
    ("hi " * 30, None),
    ("", None),
])
def test_classify(text: str, expected: tuple[str, str | None] | None) -> None:
    assert classify(text) == expected


async def test_greeting_and_thanks_in_a_conversation(core: Core) -> None:
    (ch,) = channels(core, "test")
    anna = Person(core, ch, "small-1", name="Anna")
    assert (await anna.say("Hej!"))[0].startswith("Hej, Anna! Jag är butikens")
    assert "Du kan följa" in (await anna.say("var är min beställning"))[0]
    assert (await anna.say("Tack!")) == ["Varsågod! Finns det något mer jag kan hjälpa dig med?"]
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(UnansweredQuestion)) == 0
        assert await s.scalar(select(Customer.locale)) == "sv"


async def test_a_chosen_language_is_kept(core: Core) -> None:
    (ch,) = channels(core, "test")
    bo = Person(core, ch, "small-2")
    await bo.say("/lang en")
    assert (await bo.say("hejsan"))[0].startswith("Hi! I'm the shop's support assistant")


async def test_an_opener_gets_the_welcome_not_the_fallback(core: Core) -> None:
    (ch,) = channels(core, "test")
    ben = Person(core, ch, "small-2", name="Ben")
    assert (await ben.say("hello, I have a question"))[0].startswith("Hi, Ben!")
    async with core.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(UnansweredQuestion)) == 0
